"""The template library's JSON API (Blueprint under /api): search, read, edit, preview, offers, outcomes."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib.api.staff import json_body, staff_route
from chalicelib.auth import Role, Staff
from chalicelib.console.access import queue_access

templates_api = Blueprint(__name__)
_JSON = ["application/json"]


def _agent(staff: Staff) -> dict[str, str]:
    # Who previews, saves or records comes from the verified token, never from the body.
    return {"username": staff.username, "name": staff.display_name}


def _rt() -> Any:
    from chalicelib.runtime import get_runtime

    return get_runtime()  # also binds the models to this stage's tables


def _repo() -> Any:
    from chalicelib.library.repository import repository

    _rt()
    return repository()


def _query() -> dict[str, str | None]:
    return dict(templates_api.current_request.query_params or {})


@staff_route(templates_api, "/templates")
def list_templates(staff: Staff) -> list[dict[str, Any]]:
    from chalicelib.library import service

    return service.list_templates(_repo(), _query())


@staff_route(templates_api, "/templates", methods=["POST"], role=Role.ADMIN, content_types=_JSON)
def create_template(staff: Staff) -> dict[str, Any]:
    from chalicelib.library import service

    return service.save_template(_repo(), json_body(templates_api), author=staff.username, rt=_rt())


@staff_route(templates_api, "/templates/{template_id}")
def get_template(staff: Staff, template_id: str) -> dict[str, Any]:
    from chalicelib.library import service

    return service.get_template(_repo(), template_id, _query().get("version"))


@staff_route(templates_api, "/templates/{template_id}", methods=["PUT"], role=Role.ADMIN, content_types=_JSON)
def save_template(staff: Staff, template_id: str) -> dict[str, Any]:
    from chalicelib.library import service

    body = json_body(templates_api)
    return service.save_template(_repo(), body, author=staff.username, rt=_rt(), template_id=template_id)


@staff_route(templates_api, "/templates/{template_id}/history")
def template_history(staff: Staff, template_id: str) -> list[dict[str, Any]]:
    from chalicelib.library import service

    return service.template_history(_repo(), template_id)


@staff_route(templates_api, "/templates/{template_id}/retire", methods=["POST"], role=Role.ADMIN)
def retire_template(staff: Staff, template_id: str) -> dict[str, Any]:
    from chalicelib.library import service

    body = templates_api.current_request.json_body if templates_api.current_request.raw_body else None
    retired = not (isinstance(body, dict) and body.get("retired") is False)
    return service.retire_template(_repo(), template_id, retired=retired)


@staff_route(templates_api, "/templates/{template_id}/check", methods=["POST"], role=Role.ADMIN, content_types=_JSON)
def check_template(staff: Staff, template_id: str) -> dict[str, Any]:
    """The editor's preview: the unsaved template rendered on the sample context (or a conversation); saves nothing."""
    from chalicelib.library import service

    body = {**json_body(templates_api), "id": template_id}
    return service.check_template(body, rt=_rt(), agent=_agent(staff))


@staff_route(templates_api, "/conversations/{conversation_id}/preview", methods=["POST"], content_types=_JSON)
def preview(staff: Staff, conversation_id: str) -> dict[str, Any]:
    from chalicelib.library import service

    rt = _rt()
    queue_access(staff).check_id(conversation_id)
    return service.preview(conversation_id, json_body(templates_api), rt=rt, agent=_agent(staff))


@staff_route(templates_api, "/conversations/{conversation_id}/offers")
def offers(staff: Staff, conversation_id: str) -> list[dict[str, Any]]:
    from chalicelib.library import service

    rt = _rt()
    queue_access(staff).check_id(conversation_id)
    return service.conversation_offers(conversation_id, _query(), rt=rt)


@staff_route(templates_api, "/conversations/{conversation_id}/retention", methods=["POST"], content_types=_JSON)
def retention(staff: Staff, conversation_id: str) -> dict[str, Any]:
    from chalicelib.library import service

    rt = _rt()
    queue_access(staff).check_id(conversation_id)
    return service.record_retention(conversation_id, json_body(templates_api), rt=rt, agent=_agent(staff))
