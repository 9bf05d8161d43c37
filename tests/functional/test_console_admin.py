"""Supervisor and admin actions: merging two customers (audited), inviting staff, roles, disabling."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.models import CustomerModel, IdentityModel
from tests import staffauth
from tests.functional.test_console_read import make_conversation

pytestmark = pytest.mark.functional
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def tokens(stack: Any) -> dict[str, dict[str, str]]:
    from chalicelib.runtime import get_runtime

    get_runtime()
    return {role: staffauth.bearer(staffauth.id_token(stack, role)) for role in ("agent", "supervisor", "admin")}


def customer(**fields: Any) -> str:
    cid = f"cus_{uuid.uuid4().hex[:10]}"
    CustomerModel(customer_id=cid, **fields).save()
    for identity in fields.get("identities", ()):
        IdentityModel(identity=identity, customer_id=cid).save()
    return cid


def test_merge_moves_identities_and_history_keeps_opt_outs_and_is_audited(
    stack: Any, tokens: dict[str, dict[str, str]]
) -> None:
    # GIVEN the same person as two customers: an email one and an SMS one who opted out of marketing
    email, phone = f"email#m-{uuid.uuid4().hex[:6]}@customer.test", f"phone#+4670{uuid.uuid4().int % 10**7:07d}"
    keep = customer(name="Maja", identities={email}, channels={"email"}, marketing_opt_out=False)
    gone = customer(name="", identities={phone}, channels={"sms"}, tags={"vip"}, marketing_opt_out=True)
    earlier = make_conversation(customer_id=gone, status="resolved", due_in=timedelta(hours=-2))
    body = json.dumps({"keep": keep, "merge": gone})
    with Client(stack.app_module.app) as client:
        # WHEN an agent tries, it is refused; a supervisor merges (twice, as a retry would)
        assert client.http.post("/api/customers/merge", headers=tokens["agent"], body=body).status_code == 403
        first = client.http.post("/api/customers/merge", headers=tokens["supervisor"], body=body)
        again = client.http.post("/api/customers/merge", headers=tokens["supervisor"], body=body)
    # THEN the kept customer holds both identities, the earlier conversation, the tag and the opt-out
    assert first.status_code == 200, first.body
    view = first.json_body
    assert {i["value"] for i in view["identities"]} == {email.split("#", 1)[1], phone.split("#", 1)[1]}
    assert earlier.conversation_id in {c["conversation_id"] for c in view["conversations"]}
    assert view["tags"] == ["vip"] and view["marketing_opt_out"] is True
    assert again.status_code == 200 and again.json_body["conversations"] == view["conversations"]
    # AND the phone now leads to the kept customer; the merged one points there
    assert IdentityModel.get(phone).customer_id == keep
    assert CustomerModel.get(gone).merged_into == keep
    # AND the merge is in the audit table, by the supervisor, without personal details
    items = stack.client("dynamodb").query(
        TableName="replydesk-demo-dev-audit",
        KeyConditionExpression="subject = :s",
        ExpressionAttributeValues={":s": {"S": f"customer#{keep}"}},
    )["Items"]
    assert [i["actor"]["S"] for i in items] == ["supervisor", "supervisor"]
    assert phone.split("#", 1)[1] not in json.dumps(items)
    assert json.loads(items[0]["detail"]["S"])["conversations_moved"] == 1


def test_merge_refuses_nonsense(stack: Any, tokens: dict[str, dict[str, str]]) -> None:
    one = customer(name="A")
    with Client(stack.app_module.app) as client:
        same = client.http.post(
            "/api/customers/merge", headers=tokens["supervisor"], body=json.dumps({"keep": one, "merge": one})
        )
        missing = client.http.post(
            "/api/customers/merge", headers=tokens["supervisor"], body=json.dumps({"keep": one, "merge": "cus_nobody"})
        )
    assert same.status_code == 400 and missing.status_code == 404


def test_admin_invites_sets_role_and_disables_staff(stack: Any, tokens: dict[str, dict[str, str]]) -> None:
    username = f"new{uuid.uuid4().hex[:6]}"
    with Client(stack.app_module.app) as client:
        # WHEN an admin invites a new agent by email
        invited = client.http.post(
            "/api/staff",
            headers=tokens["admin"],
            body=json.dumps({"email": f"{username}@staff.replydesk.test", "name": "New Person", "role": "agent"}),
        )
        assert invited.status_code == 200, invited.body
        assert invited.json_body["username"] == username
        # THEN they are listed as an invited agent
        listed = {u["username"]: u for u in client.http.get("/api/staff", headers=tokens["admin"]).json_body}
        assert listed[username]["role"] == "agent" and listed[username]["status"] == "FORCE_CHANGE_PASSWORD"
        # WHEN promoted to supervisor, they hold that one role
        promoted = client.http.request(
            "PATCH", f"/api/staff/{username}", headers=tokens["admin"], body=json.dumps({"role": "supervisor"})
        )
        assert promoted.status_code == 200 and promoted.json_body["role"] == "supervisor"
        groups = stack.client("cognito-idp").admin_list_groups_for_user(
            UserPoolId=stack.env["COGNITO_USER_POOL_ID"], Username=username
        )["Groups"]
        assert [g["GroupName"] for g in groups] == ["supervisor"]
        # WHEN disabled, they are listed so
        disabled = client.http.request(
            "PATCH", f"/api/staff/{username}", headers=tokens["admin"], body=json.dumps({"enabled": False})
        )
        assert disabled.status_code == 200 and disabled.json_body["enabled"] is False
        # AND an admin cannot lock themselves out, a duplicate invite is a 409, a bad role a 400
        own = client.http.request(
            "PATCH", "/api/staff/admin", headers=tokens["admin"], body=json.dumps({"enabled": False})
        )
        assert own.status_code == 403
        dup = client.http.post(
            "/api/staff",
            headers=tokens["admin"],
            body=json.dumps({"email": f"{username}@staff.replydesk.test", "role": "agent"}),
        )
        assert dup.status_code == 409
        bad = client.http.post(
            "/api/staff", headers=tokens["admin"], body=json.dumps({"email": "x@staff.replydesk.test", "role": "boss"})
        )
        assert bad.status_code == 400 and "'role' must be one of" in bad.json_body["Message"]
    # AND each change is in the audit table, by the admin
    items = stack.client("dynamodb").query(
        TableName="replydesk-demo-dev-audit",
        KeyConditionExpression="subject = :s",
        ExpressionAttributeValues={":s": {"S": f"staff#{username}"}},
    )["Items"]
    assert [(i["event"]["S"], i["actor"]["S"]) for i in items] == [
        ("invite", "admin"),
        ("staff_change", "admin"),
        ("staff_change", "admin"),
    ]


def test_a_disabled_staff_member_cannot_sign_in(stack: Any, tokens: dict[str, dict[str, str]]) -> None:
    idp = stack.client("cognito-idp")
    pool = stack.env["COGNITO_USER_POOL_ID"]
    username = f"gone{uuid.uuid4().hex[:6]}"
    idp.admin_create_user(UserPoolId=pool, Username=username, MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool, Username=username, Password="Leaving-pass-1", Permanent=True)
    with Client(stack.app_module.app) as client:
        client.http.request(
            "PATCH", f"/api/staff/{username}", headers=tokens["admin"], body=json.dumps({"enabled": False})
        )
        resp = client.http.post(
            "/api/auth/login", headers=JSON, body=json.dumps({"username": username, "password": "Leaving-pass-1"})
        )
    assert resp.status_code == 401
