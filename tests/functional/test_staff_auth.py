"""Every staff route verifies the Cognito ID token in our code: 401 for bad tokens, 403 without the role."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.api.staff import ROLE_ATTRIBUTE
from chalicelib.auth import Role
from tests import staffauth

pytestmark = pytest.mark.functional

PUBLIC_API = "/api/auth/"


def staff_routes(app: Any) -> list[tuple[str, str, Any]]:
    """(method, concrete path, view) for every route under /api/ that is not a sign-in route."""
    out = []
    for path, methods in app.routes.items():
        if not path.startswith("/api/") or path.startswith(PUBLIC_API):
            continue
        concrete = re.sub(r"\{[^}]+\}", "RD-NOSUCH", path)
        for method, entry in methods.items():
            out.append((method, concrete, entry.view_function))
    return out


def call(client: Client, method: str, path: str, headers: dict[str, str]) -> Any:
    body = json.dumps({}) if method in ("POST", "PUT", "PATCH") else None
    return client.http.request(method, path, headers={"Content-Type": "application/json", **headers}, body=body)


@pytest.fixture(scope="module")
def bad_tokens(stack: Any) -> dict[str, dict[str, str]]:
    agent = staffauth.login(stack, "agent", staffauth.demo("agent").password)
    return {
        "no token": {},
        "not bearer": {"Authorization": "Basic YWdlbnQ6cGFzcw=="},
        "not a jwt": {"Authorization": "Bearer not-a-jwt"},
        "forged signature": staffauth.bearer(
            staffauth.forged(staffauth.claims_for(stack, **{"cognito:groups": ["admin"]}))
        ),
        "expired": staffauth.bearer(staffauth.expired(stack)),
        "other pool": staffauth.bearer(staffauth.other_pool(stack)),
        "other app client": staffauth.bearer(staffauth.other_client(stack)),
        "access token": staffauth.bearer(agent["AccessToken"]),
    }


def test_every_staff_route_passes_the_gate(stack: Any) -> None:
    # GIVEN the app's routes (blueprints registered), a new route included automatically
    routes = staff_routes(stack.app_module.app)
    assert len(routes) >= 3
    # THEN each staff route is registered through staff_route, with the role it needs
    for method, path, view in routes:
        assert isinstance(getattr(view, ROLE_ATTRIBUTE, None), Role), f"{method} {path} is not behind staff_route"


@pytest.mark.parametrize(
    "kind",
    [
        "no token",
        "not bearer",
        "not a jwt",
        "forged signature",
        "expired",
        "other pool",
        "other app client",
        "access token",
    ],
)
def test_every_staff_route_refuses_a_bad_token_with_401(
    stack: Any, bad_tokens: dict[str, dict[str, str]], kind: str
) -> None:
    # GIVEN a request with a token that must not get in
    headers = bad_tokens[kind]
    with Client(stack.app_module.app) as client:
        for method, path, _ in staff_routes(stack.app_module.app):
            # WHEN it calls a staff route
            resp = call(client, method, path, headers)
            # THEN it is a 401 with Chalice's JSON error and a message that says what is wrong
            assert resp.status_code == 401, (kind, method, path, resp.status_code, resp.body)
            assert resp.json_body["Code"] == "UnauthorizedError"
            assert resp.json_body["Message"], (kind, method, path)


def test_messages_name_the_problem(stack: Any, bad_tokens: dict[str, dict[str, str]]) -> None:
    expected = {
        "no token": "sign in first",
        "forged signature": "signature",
        "expired": "expired",
        "other pool": "another user pool",
        "other app client": "another app client",
        "access token": "ID token",
    }
    with Client(stack.app_module.app) as client:
        for kind, words in expected.items():
            resp = client.http.get("/api/me", headers=bad_tokens[kind])
            assert words in resp.json_body["Message"], (kind, resp.json_body)


def test_an_agent_is_refused_supervisor_and_admin_routes_with_403(stack: Any) -> None:
    # GIVEN a valid agent token and the routes that need more than an agent
    agent = staffauth.bearer(staffauth.id_token(stack, "agent"))
    supervisor = staffauth.bearer(staffauth.id_token(stack, "supervisor"))
    higher = [
        (m, p, getattr(v, ROLE_ATTRIBUTE))
        for m, p, v in staff_routes(stack.app_module.app)
        if getattr(v, ROLE_ATTRIBUTE) != Role.AGENT
    ]
    assert any(role == Role.ADMIN for _, _, role in higher)
    with Client(stack.app_module.app) as client:
        for method, path, role in higher:
            # WHEN the agent calls one
            resp = call(client, method, path, agent)
            # THEN it is 403 naming the role
            assert resp.status_code == 403, (method, path, resp.body)
            assert resp.json_body["Code"] == "ForbiddenError"
            assert role.value in resp.json_body["Message"]
            if role == Role.ADMIN:
                # AND a supervisor is refused admin routes too
                assert call(client, method, path, supervisor).status_code == 403


def test_a_valid_token_names_the_staff_member_and_an_admin_gets_in(stack: Any) -> None:
    with Client(stack.app_module.app) as client:
        # GIVEN a valid agent token: /api/me answers from the token itself
        me = client.http.get("/api/me", headers=staffauth.bearer(staffauth.id_token(stack, "agent")))
        assert me.status_code == 200
        assert me.json_body["username"] == "agent" and me.json_body["role"] == "agent"
        assert me.json_body["name"] == "Alex Agent"
        # AND an admin may list the staff, each with their role
        staff = client.http.get("/api/staff", headers=staffauth.bearer(staffauth.id_token(stack, "admin")))
        assert staff.status_code == 200
        roles = {u["username"]: u["role"] for u in staff.json_body}
        assert roles["agent"] == "agent" and roles["supervisor"] == "supervisor" and roles["admin"] == "admin"


def test_an_unknown_conversation_is_404_behind_a_valid_token(stack: Any) -> None:
    with Client(stack.app_module.app) as client:
        resp = client.http.get(
            "/api/conversations/RD-NOSUCH", headers=staffauth.bearer(staffauth.id_token(stack, "agent"))
        )
    assert resp.status_code == 404 and resp.json_body["Code"] == "NotFoundError"
