"""Sign-in through our API: login, the invited user's new password, refresh, sign-out, config."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from chalice.test import Client

from tests import staffauth

pytestmark = pytest.mark.functional
JSON = {"Content-Type": "application/json"}


def post(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.http.post(path, headers=JSON, body=json.dumps(body))


def test_login_returns_tokens_that_open_the_staff_api(stack: Any) -> None:
    user = staffauth.demo("agent")
    with Client(stack.app_module.app) as client:
        # WHEN the demo agent signs in through the API
        resp = post(client, "/api/auth/login", {"username": user.username, "password": user.password})
        # THEN they get ID, access and refresh tokens and who they are
        assert resp.status_code == 200, resp.body
        tokens = resp.json_body
        assert tokens["id_token"] and tokens["access_token"] and tokens["refresh_token"]
        assert tokens["staff"]["username"] == "agent" and tokens["staff"]["role"] == "agent"
        # AND the ID token opens the staff API
        me = client.http.get("/api/me", headers=staffauth.bearer(tokens["id_token"]))
        assert me.status_code == 200 and me.json_body["email"] == user.email


@pytest.mark.parametrize(
    ("username", "password"),
    [("agent", "wrong-password-1"), ("nobody-here", "Whatever-pass1")],
)
def test_wrong_credentials_are_one_clear_401(stack: Any, username: str, password: str) -> None:
    with Client(stack.app_module.app) as client:
        resp = post(client, "/api/auth/login", {"username": username, "password": password})
    # THEN the same answer whether or not the user exists
    assert resp.status_code == 401
    assert resp.json_body == {"Code": "UnauthorizedError", "Message": "wrong username or password"}


def test_login_without_fields_is_400_naming_the_field(stack: Any) -> None:
    with Client(stack.app_module.app) as client:
        resp = post(client, "/api/auth/login", {"username": "agent"})
    assert resp.status_code == 400 and "'password' is required" in resp.json_body["Message"]


def test_an_invited_user_sets_a_password_on_first_sign_in(stack: Any) -> None:
    # GIVEN a staff member invited with a temporary password
    idp = stack.client("cognito-idp")
    username = f"invited-{uuid.uuid4().hex[:6]}"
    idp.admin_create_user(
        UserPoolId=stack.env["COGNITO_USER_POOL_ID"],
        Username=username,
        TemporaryPassword="Temporary-pass1",
        UserAttributes=[{"Name": "email", "Value": f"{username}@staff.replydesk.test"}],
        MessageAction="SUPPRESS",
    )
    idp.admin_add_user_to_group(UserPoolId=stack.env["COGNITO_USER_POOL_ID"], Username=username, GroupName="agent")
    with Client(stack.app_module.app) as client:
        # WHEN they sign in, they are asked for a new password
        first = post(client, "/api/auth/login", {"username": username, "password": "Temporary-pass1"})
        assert first.status_code == 200 and first.json_body["challenge"] == "NEW_PASSWORD_REQUIRED"
        # AND setting it signs them in
        done = post(
            client,
            "/api/auth/password",
            {"username": username, "session": first.json_body["session"], "new_password": "Chosen-password-1"},
        )
        assert done.status_code == 200, done.body
        assert done.json_body["staff"]["username"] == username and done.json_body["staff"]["role"] == "agent"
        # AND the new password works from then on
        again = post(client, "/api/auth/login", {"username": username, "password": "Chosen-password-1"})
        assert again.status_code == 200 and again.json_body["id_token"]


def test_refresh_then_sign_out_ends_the_session(stack: Any) -> None:
    user = staffauth.demo("supervisor")
    with Client(stack.app_module.app) as client:
        # GIVEN a signed-in supervisor
        tokens = post(client, "/api/auth/login", {"username": user.username, "password": user.password}).json_body
        # WHEN the page refreshes its tokens
        fresh = post(client, "/api/auth/refresh", {"refresh_token": tokens["refresh_token"]})
        # THEN a new ID token comes back, the refresh token is kept
        assert fresh.status_code == 200, fresh.body
        assert fresh.json_body["id_token"] and fresh.json_body["refresh_token"] == tokens["refresh_token"]
        assert client.http.get("/api/me", headers=staffauth.bearer(fresh.json_body["id_token"])).status_code == 200
        # WHEN they sign out
        out = post(client, "/api/auth/logout", {"access_token": tokens["access_token"]})
        assert out.status_code == 200 and out.json_body == {"signed_out": True}
        # THEN the refresh token no longer gives tokens
        after = post(client, "/api/auth/refresh", {"refresh_token": tokens["refresh_token"]})
        assert after.status_code == 401 and "sign in again" in after.json_body["Message"]


def test_config_names_the_pool_and_client_but_no_secret(stack: Any) -> None:
    with Client(stack.app_module.app) as client:
        resp = client.http.get("/api/auth/config")
    assert resp.status_code == 200
    assert resp.json_body["user_pool_id"] == stack.env["COGNITO_USER_POOL_ID"]
    assert resp.json_body["client_id"] == stack.env["COGNITO_CLIENT_ID"]
    assert resp.json_body["issuer"].endswith("/" + stack.env["COGNITO_USER_POOL_ID"])
    assert "secret" not in json.dumps(resp.json_body).lower()


def test_sign_out_with_only_the_refresh_token(stack: Any) -> None:
    user = staffauth.demo("agent")
    with Client(stack.app_module.app) as client:
        tokens = post(client, "/api/auth/login", {"username": user.username, "password": user.password}).json_body
        out = post(client, "/api/auth/logout", {"refresh_token": tokens["refresh_token"]})
        assert out.status_code == 200 and out.json_body == {"signed_out": True}
        after = post(client, "/api/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert after.status_code == 401
