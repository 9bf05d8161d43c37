"""Console writes: version-conditional changes (409), assignment rules, status driving the SLA clock,
notes with mentions, call-back requests, topic relabels kept for training; and the reply with its key."""

from __future__ import annotations

import json
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import store
from chalicelib.workflow import execution_name
from local.outbox import sent_emails
from tests import staffauth
from tests.conftest import wait_for
from tests.functional.test_console_read import make_conversation

pytestmark = pytest.mark.functional


@pytest.fixture(scope="module")
def tokens(stack: Any) -> dict[str, dict[str, str]]:
    from chalicelib.runtime import get_runtime

    get_runtime()
    return {role: staffauth.bearer(staffauth.id_token(stack, role)) for role in ("agent", "supervisor")} | {
        "agent2": staffauth.bearer(str(staffauth.login(stack, "agent2", "Demo-agent2-pass1")["IdToken"]))
    }


def patch(client: Client, headers: dict[str, str], ref: str, body: dict[str, Any]) -> Any:
    return client.http.request("PATCH", f"/api/conversations/{ref}", headers=headers, body=json.dumps(body))


def submitted(stack: Any, email: str) -> str:
    """A real conversation through the web form and the pipeline, with its SLA clock running."""
    body = json.dumps({"name": "Maja", "email": email, "message": "Where is my order?", "consent": True}).encode()
    req = urllib.request.Request(
        f"{stack.api_url}/contact", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        ref = str(json.loads(resp.read())["reference"])
    stack.pump.drain()
    return ref


def execution_status(stack: Any, ref: str, version: int) -> str:
    arn = (
        stack.env["SLA_STATE_MACHINE_ARN"].replace(":stateMachine:", ":execution:")
        + ":"
        + execution_name(ref, version, "sla")
    )
    return str(stack.client("stepfunctions").describe_execution(executionArn=arn)["status"])


def test_two_agents_change_the_status_from_the_same_version_and_one_gets_409(
    stack: Any, tokens: dict[str, dict[str, str]]
) -> None:
    # GIVEN a conversation both agents opened at version 0
    conv = make_conversation(queue="general")
    with Client(stack.app_module.app) as client:
        seen = client.http.get(f"/api/conversations/{conv.conversation_id}", headers=tokens["agent"]).json_body
        # WHEN both change its status from that version
        first = patch(client, tokens["agent"], conv.conversation_id, {"version": seen["version"], "status": "resolved"})
        second = patch(client, tokens["agent2"], conv.conversation_id, {"version": seen["version"], "status": "closed"})
        # THEN the first wins, the second gets a 409 that says what to do
        assert first.status_code == 200 and first.json_body["status"] == "resolved"
        assert first.json_body["version"] > seen["version"]
        assert second.status_code == 409 and second.json_body["Code"] == "ConflictError"
        assert "changed by someone else" in second.json_body["Message"]
        # AND the stored conversation is the first agent's, with the change in its timeline
        after = client.http.get(f"/api/conversations/{conv.conversation_id}", headers=tokens["agent"]).json_body
    assert after["status"] == "resolved" and after["resolved_at"]
    changed = [e for e in after["timeline"] if e["kind"] == "status_changed"]
    assert len(changed) == 1 and "open -> resolved by agent" in changed[0]["detail"]


def test_take_assign_and_the_supervisor_rule(stack: Any, tokens: dict[str, dict[str, str]]) -> None:
    conv = make_conversation(queue="general")
    with Client(stack.app_module.app) as client:
        # GIVEN an agent who takes it
        took = patch(client, tokens["agent"], conv.conversation_id, {"version": 0, "take": True})
        assert took.status_code == 200 and took.json_body["assignee"] == "agent"
        # WHEN another agent tries to hand it to someone else, it is refused
        refused = patch(
            client,
            tokens["agent2"],
            conv.conversation_id,
            {"version": took.json_body["version"], "assignee": "agent2x"},
        )
        assert refused.status_code == 403 and "supervisor" in refused.json_body["Message"]
        # AND a supervisor may reassign it
        moved = patch(
            client,
            tokens["supervisor"],
            conv.conversation_id,
            {"version": took.json_body["version"], "assignee": "agent2"},
        )
        assert moved.status_code == 200 and moved.json_body["assignee"] == "agent2"
        # AND it shows in agent2's Mine view
        mine = client.http.get("/api/conversations?view=mine&limit=100", headers=tokens["agent2"]).json_body
        assert conv.conversation_id in {r["conversation_id"] for r in mine["items"]}
        # AND bad values are 400s naming the field
        for body, words in (
            ({"version": 1, "queue": "nowhere"}, "unknown queue"),
            ({"version": 1, "urgency": "extreme"}, "'urgency' must be one of"),
            ({"version": 1, "status": "new"}, "'status' must be one of"),
            ({"status": "open"}, "'version' is required"),
            ({"version": 1}, "nothing to change"),
        ):
            resp = patch(client, tokens["supervisor"], conv.conversation_id, body)
            assert resp.status_code == 400 and words in resp.json_body["Message"], (body, resp.body)


def emitted(text: str, metric: str) -> list[dict[str, Any]]:
    """The EMF documents in captured stdout that carry `metric` (what CloudWatch would ingest)."""
    docs = []
    for line in text.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "_aws" in doc and metric in doc:
            docs.append(doc)
    return docs


def test_resolving_stops_the_clock_and_reopening_resumes_it(
    stack: Any, tokens: dict[str, dict[str, str]], unique_email: Any, capsys: Any
) -> None:
    # GIVEN a real conversation whose SLA clock (version 1) runs
    ref = submitted(stack, unique_email("resolve"))
    assert execution_status(stack, ref, 1) == "RUNNING"
    with Client(stack.app_module.app) as client:
        seen = client.http.get(f"/api/conversations/{ref}", headers=tokens["agent"]).json_body
        # WHEN the agent resolves it
        capsys.readouterr()
        resolved = patch(client, tokens["agent"], ref, {"version": seen["version"], "status": "resolved"})
        assert resolved.status_code == 200, resolved.body
        # THEN the time to resolution is measured once, for the conversation's queue
        docs = emitted(capsys.readouterr().out, "ResolutionTime")
        assert len(docs) == 1 and docs[0]["queue"] == seen["queue"], docs
        # THEN the clock stops, as a reply waiting on the customer stops it
        wait_for(lambda: execution_status(stack, ref, 1) == "ABORTED", describe=lambda: "SLA v1 still running")
        view = client.http.get(f"/api/conversations/{ref}", headers=tokens["agent"]).json_body
        assert view["sla"]["state"] == "none"
        assert "clock_paused" in [e["kind"] for e in view["timeline"]]
        # WHEN it is reopened
        reopened = patch(client, tokens["agent"], ref, {"version": view["version"], "status": "open"})
        assert reopened.status_code == 200, reopened.body
    # THEN the clock runs again as version 3 (paused as 2), with the resolved time credited
    assert execution_status(stack, ref, 3) == "RUNNING"


def test_an_urgency_change_reprioritises_the_clock(
    stack: Any, tokens: dict[str, dict[str, str]], unique_email: Any
) -> None:
    ref = submitted(stack, unique_email("urgent"))
    with Client(stack.app_module.app) as client:
        seen = client.http.get(f"/api/conversations/{ref}", headers=tokens["agent"]).json_body
        resp = patch(client, tokens["agent"], ref, {"version": seen["version"], "urgency": "urgent"})
        assert resp.status_code == 200, resp.body
        view = client.http.get(f"/api/conversations/{ref}", headers=tokens["agent"]).json_body
    assert view["urgency"] == "urgent" and "reprioritised" in [e["kind"] for e in view["timeline"]]
    assert view["first_response_due"] < seen["first_response_due"]
    assert execution_status(stack, ref, 2) == "RUNNING"


def test_a_topic_change_is_kept_as_a_labelled_example(stack: Any, tokens: dict[str, dict[str, str]]) -> None:
    conv = make_conversation(queue="general")
    with Client(stack.app_module.app) as client:
        resp = patch(client, tokens["agent"], conv.conversation_id, {"version": 0, "topic": "billing"})
    assert resp.status_code == 200 and resp.json_body["topic"] == "billing"
    obj = stack.client("s3").get_object(Bucket=stack.env["RAW_BUCKET"], Key=f"labels/topic/{conv.conversation_id}.json")
    label = json.loads(obj["Body"].read())
    assert label == {**label, "topic": "billing", "previous": "unknown", "by": "agent"}
    # AND the training rows for `replydesk topics train --campaign demo` include it, with the customer's text
    from chalicelib.console.relabels import staff_relabels
    from chalicelib.models import MessageModel

    now = store.iso(datetime.now(UTC))
    MessageModel(
        conversation_id=conv.conversation_id,
        sort=store.message_sort(now, "msg_relabel"),
        message_id="msg_relabel",
        direction="in",
        channel="email",
        source_id=f"src-{uuid.uuid4().hex}",
        text="I was charged twice for one order",
        created_at=now,
    ).save()
    texts, labels = staff_relabels(s3=stack.client("s3"), bucket=stack.env["RAW_BUCKET"], topics={"billing"})
    assert ("I was charged twice for one order", "billing") in set(zip(texts, labels, strict=True))


def test_notes_are_internal_once_per_key_with_mentions(stack: Any, tokens: dict[str, dict[str, str]]) -> None:
    conv = make_conversation(queue="general")
    key = uuid.uuid4().hex
    body = json.dumps({"text": "@supervisor can you approve a refund? cc @agent2.", "idempotency_key": key})
    with Client(stack.app_module.app) as client:
        first = client.http.post(f"/api/conversations/{conv.conversation_id}/notes", headers=tokens["agent"], body=body)
        again = client.http.post(f"/api/conversations/{conv.conversation_id}/notes", headers=tokens["agent"], body=body)
        view = client.http.get(f"/api/conversations/{conv.conversation_id}", headers=tokens["agent"]).json_body
    assert first.status_code == 200 and first.json_body["mentions"] == ["supervisor", "agent2"]
    assert first.json_body["author"] == "agent" and first.json_body["duplicate"] is False
    assert again.json_body["duplicate"] is True and again.json_body["message_id"] == first.json_body["message_id"]
    notes = [e for e in view["timeline"] if e["kind"] == "note"]
    assert len(notes) == 1 and notes[0]["sent_by"] == "Alex Agent"
    # AND nothing was sent to anyone
    assert not [m for m in sent_emails(stack.moto_data()) if "approve a refund" in m["text"]]
    # AND the supervisor finds the conversation under Mentions; the author does not
    with Client(stack.app_module.app) as client:
        theirs = client.http.get("/api/mentions", headers=tokens["supervisor"]).json_body["conversations"]
        own = client.http.get("/api/mentions", headers=tokens["agent"]).json_body["conversations"]
    assert conv.conversation_id in [c["conversation_id"] for c in theirs]
    assert conv.conversation_id not in [c["conversation_id"] for c in own]
    # AND the row says when it was mentioned (what the console counts as unread)
    mine = next(c for c in theirs if c["conversation_id"] == conv.conversation_id)
    assert mine["mentioned_at"] and datetime.fromisoformat(mine["mentioned_at"]).tzinfo is not None
    assert mine["customer"]["customer_id"] == conv.customer_id


def test_a_mention_mails_the_colleague_once_with_a_link_and_no_customer_text(
    stack: Any, tokens: dict[str, dict[str, str]]
) -> None:
    # GIVEN a conversation, and a note by agent that @mentions agent2, itself and someone unknown
    conv = make_conversation(queue="general")
    secret_words = f"refund-{uuid.uuid4().hex[:8]}"
    body = json.dumps(
        {
            "text": f"@agent2 can you check {secret_words}? @agent @nobody-here",
            "idempotency_key": uuid.uuid4().hex,
        }
    )
    url = f"/api/conversations/{conv.conversation_id}/notes"
    with Client(stack.app_module.app) as client:
        # WHEN the note is posted, and posted again with the same key (a retry)
        first = client.http.post(url, headers=tokens["agent"], body=body)
        again = client.http.post(url, headers=tokens["agent"], body=body)
    # THEN agent2 was mailed once; the author is not mailed; the unknown name is reported, not mailed
    assert first.status_code == 200, first.body
    notified = {n["username"]: n for n in first.json_body["notified"]}
    assert notified["agent2"]["sent"] is True and notified["agent2"]["duplicate"] is False
    assert "agent" not in notified
    assert notified["nobody-here"] == {
        "username": "nobody-here",
        "sent": False,
        "reason": "no such staff member",
        "duplicate": False,
    }
    assert {n["username"]: n["duplicate"] for n in again.json_body["notified"]}["agent2"] is True
    mails = [m for m in sent_emails(stack.moto_data()) if "agent2@staff.replydesk.test" in m["to"]]
    mails = [m for m in mails if conv.conversation_id in m["subject"]]
    assert len(mails) == 1, [m["subject"] for m in mails]
    (mail,) = mails
    # AND the mail names who and where, links to the console, and carries neither the note nor the customer
    assert "Alex Agent mentioned you on" in mail["subject"]
    assert f"{stack.api_url}/console/#/c/{conv.conversation_id}" in mail["text"]
    assert secret_words not in mail["text"] and secret_words not in mail["subject"]
    assert conv.subject and conv.subject not in mail["text"]
    assert mail["auto_submitted"] == "auto-generated"


def test_a_colleague_outside_the_conversations_queue_is_not_mailed_and_the_author_is_told(
    stack: Any, tokens: dict[str, dict[str, str]]
) -> None:
    # GIVEN an escalated conversation, which agent2 (not in the supervisors queue) cannot open
    conv = make_conversation(queue="supervisors")
    body = json.dumps({"text": "@agent2 @supervisor have a look", "idempotency_key": uuid.uuid4().hex})
    with Client(stack.app_module.app) as client:
        # WHEN the agent mentions agent2 and the supervisor
        resp = client.http.post(f"/api/conversations/{conv.conversation_id}/notes", headers=tokens["agent"], body=body)
    # THEN the supervisor is mailed; agent2 is not (the link would not open for them), and the note says why
    assert resp.status_code == 200, resp.body
    notified = {n["username"]: n for n in resp.json_body["notified"]}
    assert notified["supervisor"]["sent"] is True
    assert notified["agent2"] == {
        "username": "agent2",
        "sent": False,
        "reason": "does not work the supervisors queue",
        "duplicate": False,
    }
    mailed = [m["to"] for m in sent_emails(stack.moto_data()) if conv.conversation_id in m["subject"]]
    assert len(mailed) == 1 and "supervisor@staff.replydesk.test" in mailed[0]


def test_every_staff_member_may_list_colleagues_but_only_an_admin_sees_their_details(
    stack: Any, tokens: dict[str, dict[str, str]]
) -> None:
    from tests import staffauth

    admin = staffauth.bearer(staffauth.id_token(stack, "admin"))
    with Client(stack.app_module.app) as client:
        # WHEN an agent lists the staff
        seen = client.http.get("/api/staff", headers=tokens["agent"])
        full = client.http.get("/api/staff", headers=admin)
    # THEN they get each enabled colleague's username and name, nothing else
    assert seen.status_code == 200
    by_name = {u["username"]: u for u in seen.json_body}
    assert by_name["agent2"] == {"username": "agent2", "name": "Blair Agent"}
    assert all(set(u) == {"username", "name"} for u in seen.json_body)
    # AND an admin still gets emails, roles and status
    assert {u["username"]: u["email"] for u in full.json_body}["agent2"] == "agent2@staff.replydesk.test"


def test_callback_request_is_recorded_once(stack: Any, tokens: dict[str, dict[str, str]]) -> None:
    conv = make_conversation(queue="general")
    with Client(stack.app_module.app) as client:
        first = client.http.post(
            f"/api/conversations/{conv.conversation_id}/callback", headers=tokens["agent"], body="{}"
        )
        again = client.http.post(
            f"/api/conversations/{conv.conversation_id}/callback", headers=tokens["agent"], body="{}"
        )
        view = client.http.get(f"/api/conversations/{conv.conversation_id}", headers=tokens["agent"]).json_body
    assert first.status_code == 200 and first.json_body["duplicate"] is False and again.json_body["duplicate"] is True
    assert view["callback_requested_at"]
    assert [e["kind"] for e in view["timeline"]].count("callback_requested") == 1


def test_a_reply_with_the_same_key_is_sent_once(
    stack: Any, tokens: dict[str, dict[str, str]], unique_email: Any
) -> None:
    email = unique_email("reply")
    ref = submitted(stack, email)
    key = uuid.uuid4().hex
    body = json.dumps({"text": "Your parcel is on its way.", "idempotency_key": key})
    with Client(stack.app_module.app) as client:
        first = client.http.post(f"/api/conversations/{ref}/reply", headers=tokens["agent"], body=body)
        again = client.http.post(f"/api/conversations/{ref}/reply", headers=tokens["agent"], body=body)
        missing = client.http.post(
            f"/api/conversations/{ref}/reply", headers=tokens["agent"], body=json.dumps({"text": "x"})
        )
    assert first.status_code == 200 and first.json_body["sent"] is True and first.json_body["duplicate"] is False
    assert again.json_body["duplicate"] is True
    assert missing.status_code == 400 and "idempotency_key" in missing.json_body["Message"]
    replies = [m for m in sent_emails(stack.moto_data()) if email in m["to"] and "on its way" in m["text"]]
    assert len(replies) == 1
    # AND the queue index follows the new status: the answered conversation is no longer listed as new
    conv = store.get_conversation(ref)
    assert conv is not None and conv.status == first.json_body["status"] != "new"
    assert conv.status_due == store.status_due(conv.status, conv.resolution_due)
    from chalicelib.models import ConversationModel

    still_new = ConversationModel.by_queue.query(conv.queue, ConversationModel.status_due.startswith("new#"))
    assert ref not in {c.conversation_id for c in still_new}
