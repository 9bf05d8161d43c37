"""The one gate every staff route passes: the bearer token verified, the role checked, domain errors translated."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from chalice.app import Blueprint

from chalicelib.api.errors import http_errors
from chalicelib.auth import Role, Staff, authenticate

View = TypeVar("View", bound=Callable[..., Any])

# The attribute the auth tests read off each registered view to know which role it needs.
ROLE_ATTRIBUTE = "staff_role"


def staff_route(
    bp: Blueprint, path: str, *, methods: Sequence[str] = ("GET",), role: Role = Role.AGENT, **options: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `view(staff, **path_params)` on the Blueprint behind token verification and `role`."""

    def register(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def guarded(**params: Any) -> Any:
            with http_errors():
                staff: Staff = authenticate(bp.current_request, role=role)
                return view(staff, **params)

        setattr(guarded, ROLE_ATTRIBUTE, role)
        bp.route(path, methods=list(methods), **options)(guarded)
        return guarded

    return register


def json_body(bp: Blueprint) -> dict[str, Any]:
    """The request's JSON object, or {} (Chalice has already refused a body that is not JSON)."""
    body = bp.current_request.json_body
    return body if isinstance(body, dict) else {}
