"""Issue 15 items 9 and 12 on the local stack: SMS keywords are not repeated contact, every urgency change
keeps its reason, and a customer's answer to a resolved conversation reopens it visibly."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

import pytest
from chalice.test import Client

from local.phone import send_sms
from tests import staffauth
from tests.integration.test_sms_channel import fresh_phone, inbound, sms_conversation

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def agent(stack: Any) -> dict[str, str]:
    return staffauth.agent_headers(stack)


view = staffauth.conversation


def classification(source_id: str) -> dict[str, Any]:
    stored = inbound(source_id).classification
    return dict(stored.as_dict()) if stored is not None else {}


def test_keywords_are_not_repeated_contact_and_a_raise_keeps_its_reason(stack: Any, drain: Any) -> None:
    # GIVEN a customer who wrote twice on one SMS conversation (the next message would be repeated contact)
    phone = fresh_phone()
    send_sms(stack, phone, "Hello, I ordered a tent last week.")
    drain()
    send_sms(stack, phone, "Could you tell me when it ships?")
    drain()
    before = sms_conversation(phone)
    assert int(before.inbound_count) == 2 and before.urgency == "normal"
    # WHEN they send the keywords HELP, STOP and START on it
    keyword_ids = []
    for word in ("HELP", "STOP", "START", "HELP"):
        keyword_ids.append(send_sms(stack, phone, word))
        drain()
    # THEN the keyword messages join no count and raise nothing: urgency, topic and reasons are as before
    after = sms_conversation(phone)
    assert after.conversation_id == before.conversation_id
    assert int(after.inbound_count) == 2
    assert (after.urgency, after.topic, list(after.reasons)) == (before.urgency, before.topic, list(before.reasons))
    # AND no keyword message is classified as repeated contact
    for source_id in keyword_ids:
        assert inbound(source_id).conversation_id == before.conversation_id
        cls = classification(source_id)
        assert cls["urgency"] == "normal", cls
        assert not any("repeated contact" in r for r in cls["reasons"]), cls

    # WHEN the customer writes a third real message
    third = send_sms(stack, phone, "Is anyone reading this? Where is my tent?")
    drain()
    # THEN that is repeated contact: urgency rises, and the conversation's reasons say from what, to what and why
    raised = sms_conversation(phone)
    assert "repeated contact: 2 messages recently" in classification(third)["reasons"]
    assert raised.urgency == "high"
    assert "urgency normal -> high: repeated contact: 2 messages recently" in list(raised.reasons)
    # AND the clock's reprioritised entry names the reason too
    entries = [e.as_dict() if hasattr(e, "as_dict") else dict(e) for e in raised.timeline]
    assert [e["detail"] for e in entries if e["kind"] == "reprioritised"] == [
        "high in general (urgency normal -> high: repeated contact: 2 messages recently)"
    ]


def test_staff_urgency_change_is_stored_with_who_set_it(stack: Any, drain: Any, agent: dict[str, str]) -> None:
    # GIVEN an open SMS conversation at normal urgency
    phone = fresh_phone()
    send_sms(stack, phone, "Hi, which size of boots fits a 43?")
    drain()
    ref = sms_conversation(phone).conversation_id
    with Client(stack.app_module.app) as client:
        seen = view(client, agent, ref)
        # WHEN an agent sets it urgent
        resp = client.http.request(
            "PATCH",
            f"/api/conversations/{ref}",
            headers=agent,
            body=json.dumps({"version": seen["version"], "urgency": "urgent"}),
        )
        assert resp.status_code == 200, resp.body
        # THEN the reasons staff see say who raised it, from what to what
        shown = view(client, agent, ref)
    assert shown["urgency"] == "urgent"
    assert shown["reasons"][-1] == f"urgency {seen['urgency']} -> urgent: set by agent"
    assert shown["classification"]["reasons"] == shown["reasons"]


def test_a_customer_answer_reopens_a_resolved_conversation_in_its_timeline(
    stack: Any, drain: Any, agent: dict[str, str]
) -> None:
    # GIVEN an SMS conversation an agent answered and resolved
    phone = fresh_phone()
    send_sms(stack, phone, "Hi, can I change the delivery address of my order?")
    drain()
    ref = sms_conversation(phone).conversation_id
    with Client(stack.app_module.app) as client:
        sent = client.http.post(
            f"/api/conversations/{ref}/reply",
            headers=agent,
            body=json.dumps({"text": "Yes, done: it goes to the new address.", "idempotency_key": uuid.uuid4().hex}),
        )
        assert sent.status_code == 200 and sent.json_body["sent"], sent.body
        seen = view(client, agent, ref)
        resolved = client.http.request(
            "PATCH",
            f"/api/conversations/{ref}",
            headers=agent,
            body=json.dumps({"version": seen["version"], "status": "resolved"}),
        )
        assert resolved.status_code == 200, resolved.body
        done = view(client, agent, ref)
        assert done["resolved_at"]
        assert [e["detail"] for e in done["timeline"] if e["kind"] == "resolution_due"] == ["met"]
        # WHEN the customer writes again (within the reopen window)
        send_sms(stack, phone, "Sorry, one more thing: can it come on Friday?")
        drain()
        reopened = view(client, agent, ref)
    # THEN it is open again, with one "reopened" entry after the resolution
    assert reopened["status"] == "open"
    kinds = [e["kind"] for e in reopened["timeline"]]
    assert kinds.count("reopened") == 1
    assert kinds.index("reopened") > kinds.index("status_changed")
    # AND the resolution is no longer "met": no resolved_at, the deadline pending again, no stale "resolved"
    assert reopened["resolved_at"] is None
    assert [e["detail"] for e in reopened["timeline"] if e["kind"] == "resolution_due"] == ["pending"]
    assert "resolved" not in kinds
    # AND every deadline, and the first response, is listed once
    counts = Counter(kinds)
    assert counts["first_response_due"] == 1 and counts["resolution_due"] == 1 and counts["first_response"] == 1
    # AND the earlier resolution stays in the history as the agent's status change
    changes = [e["detail"] for e in reopened["timeline"] if e["kind"] == "status_changed"]
    assert changes == ["pending_customer -> resolved by agent"]
