"""Per-queue access: an agent lists, opens and answers only the queues of their `queue-<id>` groups; another
queue's conversation is a 403 that says why; supervisors see every queue; an admin assigns queues."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from chalice.test import Client

from tests import staffauth
from tests.functional.test_console_read import make_conversation

pytestmark = pytest.mark.functional


def restricted_agent(stack: Any, *queues: str) -> tuple[str, dict[str, str]]:
    """A staff user of the role agent who works only `queues`, and their bearer header."""
    idp = stack.client("cognito-idp")
    pool = stack.env["COGNITO_USER_POOL_ID"]
    username = f"qa-{uuid.uuid4().hex[:8]}"
    password = f"Qa-{uuid.uuid4().hex[:10]}-pass1"
    idp.admin_create_user(
        UserPoolId=pool,
        Username=username,
        UserAttributes=[
            {"Name": "email", "Value": f"{username}@staff.replydesk.test"},
            {"Name": "name", "Value": "Q A"},
        ],
        MessageAction="SUPPRESS",
    )
    idp.admin_set_user_password(UserPoolId=pool, Username=username, Password=password, Permanent=True)
    for group in ("agent", *(f"queue-{q}" for q in queues)):
        idp.admin_add_user_to_group(UserPoolId=pool, Username=username, GroupName=group)
    return username, login(stack, username, password)


def login(stack: Any, username: str, password: str) -> dict[str, str]:
    return staffauth.bearer(str(staffauth.login(stack, username, password)["IdToken"]))


def password_of(stack: Any, username: str) -> str:
    password = f"Qa-{uuid.uuid4().hex[:10]}-pass1"
    stack.client("cognito-idp").admin_set_user_password(
        UserPoolId=stack.env["COGNITO_USER_POOL_ID"], Username=username, Password=password, Permanent=True
    )
    return password


@pytest.fixture(scope="module")
def ready(stack: Any) -> None:
    from chalicelib.runtime import get_runtime

    get_runtime()


def test_an_agent_works_only_their_queues(stack: Any, ready: None) -> None:
    # GIVEN an agent in the refunds queue only, and conversations in refunds and in general
    _, agent = restricted_agent(stack, "refunds")
    theirs = make_conversation(queue="refunds")
    other = make_conversation(queue="general")
    with Client(stack.app_module.app) as client:
        # WHEN they look at their queues and views
        me = client.http.get("/api/me", headers=agent).json_body
        counted = client.http.get("/api/queues", headers=agent).json_body
        unassigned = client.http.get("/api/conversations?view=unassigned&limit=100", headers=agent).json_body
        listed = client.http.get("/api/conversations?view=queue&queue=refunds&limit=100", headers=agent)
        barred = client.http.get("/api/conversations?view=queue&queue=general", headers=agent)
        # THEN only refunds is theirs: in /api/me, in the counts and in the cross-queue views
        assert me["queues"] == ["refunds"]
        assert [q["queue"] for q in counted] == ["refunds"]
        assert {r["queue"] for r in unassigned["items"]} <= {"refunds"}
        assert listed.status_code == 200
        assert theirs.conversation_id in {r["conversation_id"] for r in listed.json_body["items"]}
        # AND another queue's list is a 403 that names it
        assert (
            barred.status_code == 403
            and "the general queue is not one of yours (refunds)" in barred.json_body["Message"]
        )
        # WHEN they open, answer or change the other queue's conversation
        ref = other.conversation_id
        attempts = {
            "open": client.http.get(f"/api/conversations/{ref}", headers=agent),
            "reply": client.http.post(
                f"/api/conversations/{ref}/reply",
                headers=agent,
                body=json.dumps({"text": "Hello", "idempotency_key": uuid.uuid4().hex}),
            ),
            "patch": client.http.request(
                "PATCH", f"/api/conversations/{ref}", headers=agent, body=json.dumps({"version": 0, "take": True})
            ),
            "note": client.http.post(
                f"/api/conversations/{ref}/notes",
                headers=agent,
                body=json.dumps({"text": "mine?", "idempotency_key": uuid.uuid4().hex}),
            ),
            "presence": client.http.post(
                f"/api/conversations/{ref}/presence", headers=agent, body=json.dumps({"state": "viewing"})
            ),
            "callback": client.http.post(f"/api/conversations/{ref}/callback", headers=agent, body="{}"),
            "preview": client.http.post(
                f"/api/conversations/{ref}/preview", headers=agent, body=json.dumps({"template_id": "reply.email"})
            ),
            "offers": client.http.get(f"/api/conversations/{ref}/offers", headers=agent),
        }
        # THEN each is a 403 saying where the conversation is and what to do, and nothing changed
        for what, resp in attempts.items():
            assert resp.status_code == 403, (what, resp.body)
            assert f"{ref} is in the general queue, which is not one of yours (refunds)" in resp.json_body["Message"]
            assert "supervisor" in resp.json_body["Message"]
        from chalicelib import store

        after = store.get_conversation(ref)
        assert after is not None and after.assignee is None and int(after.version or 0) == 0
        # AND search does not list it, while their own conversation opens
        found = client.http.get(f"/api/search?q={ref}", headers=agent).json_body
        assert found["conversations"] == []
        assert client.http.get(f"/api/conversations/{theirs.conversation_id}", headers=agent).status_code == 200
        # AND an unknown conversation is still a 404, not a 403
        assert client.http.get("/api/conversations/RD-NOSUCH", headers=agent).status_code == 404


def test_supervisors_see_every_queue_and_the_demo_agents_split_them(stack: Any, ready: None) -> None:
    other = make_conversation(queue="general")
    escalated = make_conversation(queue="supervisors")
    supervisor = staffauth.bearer(staffauth.id_token(stack, "supervisor"))
    agent2 = staffauth.bearer(str(staffauth.login(stack, "agent2", "Demo-agent2-pass1")["IdToken"]))
    agent = staffauth.bearer(staffauth.id_token(stack, "agent"))
    with Client(stack.app_module.app) as client:
        # GIVEN a supervisor (no queue groups): every queue
        assert len(client.http.get("/api/queues", headers=supervisor).json_body) == len(stack.campaign.queues)
        assert client.http.get(f"/api/conversations/{other.conversation_id}", headers=supervisor).status_code == 200
        # AND the demo agent works every queue, agent2 every queue but the supervisors' escalation queue
        assert client.http.get("/api/me", headers=agent).json_body["queues"] == list(stack.campaign.queues)
        assert "supervisors" not in client.http.get("/api/me", headers=agent2).json_body["queues"]
        assert client.http.get(f"/api/conversations/{escalated.conversation_id}", headers=agent2).status_code == 403
        assert client.http.get(f"/api/conversations/{escalated.conversation_id}", headers=agent).status_code == 200


def test_an_admin_assigns_queues_and_they_count_from_the_next_sign_in(stack: Any, ready: None) -> None:
    # GIVEN an agent in refunds only, and an admin
    username, _ = restricted_agent(stack, "refunds")
    admin = staffauth.bearer(staffauth.id_token(stack, "admin"))
    general = make_conversation(queue="general")
    with Client(stack.app_module.app) as client:
        listed = {u["username"]: u for u in client.http.get("/api/staff", headers=admin).json_body}
        assert listed[username]["queues"] == ["refunds"]
        # WHEN the admin gives them general and retention instead (the console's Staff page does this)
        moved = client.http.request(
            "PATCH", f"/api/staff/{username}", headers=admin, body=json.dumps({"queues": ["retention", "general"]})
        )
        bad = client.http.request("PATCH", f"/api/staff/{username}", headers=admin, body=json.dumps({"queues": ["x"]}))
        # THEN the member's queues are those, in the campaign's order; an unknown queue is a 400 naming it
        assert moved.status_code == 200, moved.body
        assert moved.json_body["queues"] == ["general", "retention"]
        assert bad.status_code == 400 and "unknown queue 'x'" in bad.json_body["Message"]
        # AND after signing in again they open general, and refunds is no longer theirs
        fresh = login(stack, username, password_of(stack, username))
        assert client.http.get(f"/api/conversations/{general.conversation_id}", headers=fresh).status_code == 200
        assert client.http.get("/api/me", headers=fresh).json_body["queues"] == ["general", "retention"]
        assert client.http.get("/api/conversations?view=queue&queue=refunds", headers=fresh).status_code == 403
        # AND no queues at all means every queue again
        client.http.request("PATCH", f"/api/staff/{username}", headers=admin, body=json.dumps({"queues": []}))
        again = login(stack, username, password_of(stack, username))
        assert client.http.get("/api/me", headers=again).json_body["queues"] == list(stack.campaign.queues)
