"""The campaign brief route on the local stack: new staff are told to read it, the read is kept per staff member."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from tests.staffauth import bearer, login

pytestmark = pytest.mark.integration


def new_staff(stack: Any) -> str:
    """A staff member who has never signed in before; returns their ID token."""
    idp = stack.client("cognito-idp")
    pool = stack.env["COGNITO_USER_POOL_ID"]
    username = f"new-{uuid.uuid4().hex[:8]}"
    idp.admin_create_user(
        UserPoolId=pool,
        Username=username,
        UserAttributes=[{"Name": "email", "Value": f"{username}@staff.replydesk.test"}],
        MessageAction="SUPPRESS",
    )
    idp.admin_set_user_password(UserPoolId=pool, Username=username, Password="New-staff-pass1", Permanent=True)
    idp.admin_add_user_to_group(UserPoolId=pool, Username=username, GroupName="agent")
    return str(login(stack, username, "New-staff-pass1")["IdToken"])


def call(stack: Any, method: str, path: str, token: str | None) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        f"{stack.api_url}/api/{path}",
        method=method,
        data=b"{}" if method == "POST" else None,
        headers=bearer(token) if token else {"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_new_staff_get_the_brief_until_they_have_read_it_once(stack: Any) -> None:
    # GIVEN a staff member signing in for the first time
    token = new_staff(stack)
    # WHEN the console asks for the brief THEN it is the campaign's, sanitised, to be shown as a first time
    status, brief = call(stack, "GET", "campaign/brief", token)
    assert status == 200, brief
    assert brief["campaign"] == "demo" and "<h2>What staff may offer</h2>" in brief["html"]
    assert brief["show"] is True and brief["first_time"] is True
    # WHEN they mark it read, twice
    assert call(stack, "POST", "campaign/brief/read", token)[0] == 200
    assert call(stack, "POST", "campaign/brief/read", token)[1]["read"] is True
    # THEN it no longer opens by itself, and the audit table holds one read
    status, again = call(stack, "GET", "campaign/brief", token)
    assert again["show"] is False and again["read"] is True
    username = call(stack, "GET", "me", token)[1]["username"]
    items = stack.client("dynamodb").query(
        TableName=f"replydesk-demo-{stack.stage}-audit",
        KeyConditionExpression="subject = :s",
        ExpressionAttributeValues={":s": {"S": f"staff#{username}#brief"}},
    )["Items"]
    assert len(items) == 1 and items[0]["event"]["S"] == "brief_read"
    # AND another new staff member still gets it as a first time
    assert call(stack, "GET", "campaign/brief", new_staff(stack))[1]["first_time"] is True


def test_the_brief_needs_a_staff_token(stack: Any) -> None:
    # GIVEN no token WHEN the brief is asked for or marked read THEN both are refused with 401
    assert call(stack, "GET", "campaign/brief", None)[0] == 401
    assert call(stack, "POST", "campaign/brief/read", None)[0] == 401
