"""The SLA clock and follow-up wired into the stack: started per conversation, paused by a staff reply,
resumed by the customer, and the events the state machines send handled exactly once."""

from __future__ import annotations

import json
import smtplib
import urllib.request
import uuid
from email.message import EmailMessage
from typing import Any

import pytest

from chalicelib.workflow import execution_name
from local.outbox import sent_emails
from tests import staffauth
from tests.conftest import post_contact

pytestmark = pytest.mark.integration


def submit(stack: Any, email: str, message: str = "Where is my order? It has not arrived.") -> str:
    return str(post_contact(stack, {"name": "Maja", "email": email, "message": message, "consent": True})["reference"])


def api(stack: Any, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The staff API as the console calls it: under /api, with the demo agent's ID token."""
    req = urllib.request.Request(
        f"{stack.api_url}/api{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers=staffauth.bearer(staffauth.id_token(stack, "agent")),
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        data: dict[str, Any] = json.loads(resp.read())
    return data


def execution(stack: Any, machine: str, name: str) -> dict[str, Any]:
    arn = stack.env[machine].replace(":stateMachine:", ":execution:") + ":" + name
    desc: dict[str, Any] = stack.client("stepfunctions").describe_execution(executionArn=arn)
    return desc


def test_conversation_gets_an_sla_clock_that_a_staff_reply_pauses_and_the_customer_resumes(
    stack: Any, drain: Any, unique_email: Any
) -> None:
    # GIVEN a new conversation from the web form
    email = unique_email("sla")
    ref = submit(stack, email)
    drain()
    # THEN its deadlines are stored and its SLA execution (version 1) runs with them
    view = api(stack, "GET", f"/conversations/{ref}")
    assert view["first_response_due"] and view["resolution_due"]
    sla = execution(stack, "SLA_STATE_MACHINE_ARN", execution_name(ref, 1, "sla"))
    assert sla["status"] == "RUNNING"
    clock = json.loads(sla["input"])
    timers = [clock["timer"], *clock["rest"]]  # this step's timer, then the ones the next steps time
    assert {t["kind"] for t in timers} == {"first_response", "resolution"}
    # WHEN staff answer through the API
    result = api(
        stack,
        "POST",
        f"/conversations/{ref}/reply",
        {"text": "Your parcel left our warehouse today.", "idempotency_key": f"sla-{ref}"},
    )
    assert result["sent"] is True
    # THEN the customer gets a threaded, human (not auto-submitted) email with the answer
    replies = [m for m in sent_emails(stack.moto_data()) if email in m["to"] and "warehouse" in m["text"]]
    assert len(replies) == 1
    reply = replies[0]
    assert reply["auto_submitted"] is None and ref in reply["subject"]
    # AND the first response is met, the conversation waits on the customer, the clock is paused
    view = api(stack, "GET", f"/conversations/{ref}")
    assert view["first_response_at"] and view["status"] == "pending_customer"
    # AND the reply is signed by the staff member the token names, not by anything in the body
    assert [m["sent_by"] for m in view["messages"] if m["direction"] == "out" and not m["ack"]] == ["Alex Agent"]
    assert "clock_paused" in [e["kind"] for e in view["timeline"]]
    from tests.conftest import wait_for

    wait_for(
        lambda: execution(stack, "SLA_STATE_MACHINE_ARN", execution_name(ref, 1, "sla"))["status"] == "ABORTED",
        describe=lambda: "SLA v1 was not stopped",
    )
    # AND a follow-up is timed for that reply
    from chalicelib import store

    conv = store.get_conversation(ref)
    assert conv is not None and conv.follow_up_id
    follow = execution(stack, "FOLLOWUP_STATE_MACHINE_ARN", execution_name(ref, conv.follow_up_id, "followup"))
    assert follow["status"] == "RUNNING"
    # WHEN the customer answers the staff email by email
    msg = EmailMessage()
    msg["From"] = email
    msg["To"] = stack.campaign.inbound_addresses[0]
    msg["Subject"] = reply["subject"]
    msg["Message-ID"] = f"<answer-{ref}@customer.test>"
    msg["In-Reply-To"] = f"<{reply['message_id']}>"
    msg.set_content("It still has not arrived, please call me.")
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as smtp:
        smtp.send_message(msg)
    drain()
    # THEN it joins the same conversation, which is open again with its clock resumed (version 3)
    view = api(stack, "GET", f"/conversations/{ref}")
    assert view["status"] == "open"
    kinds = [e["kind"] for e in view["timeline"]]
    assert "clock_resumed" in kinds and "callback_requested" in kinds
    assert view["callback_requested_at"]
    assert execution(stack, "SLA_STATE_MACHINE_ARN", execution_name(ref, 3, "sla"))["status"] == "RUNNING"
    assert sum(1 for m in view["messages"] if m["direction"] == "in") == 2


def test_follow_up_event_sends_the_follow_up_once(stack: Any, drain: Any, unique_email: Any) -> None:
    # GIVEN a conversation staff answered
    email = unique_email("fu")
    ref = submit(stack, email)
    drain()
    api(
        stack,
        "POST",
        f"/conversations/{ref}/reply",
        {"text": "Here is your tracking link.", "idempotency_key": f"fu-{ref}"},
    )
    from chalicelib import store

    conv = store.get_conversation(ref)
    assert conv is not None
    # WHEN the follow-up machine asks for the follow-up, and the request is delivered twice
    event = {"action": "send_follow_up", "conversation_id": ref, "reply_id": conv.follow_up_id, "execution": "test"}
    for _ in range(2):
        stack.sqs.send_message(QueueUrl=stack.env["EVENTS_QUEUE_URL"], MessageBody=json.dumps(event))
    drain()
    # THEN exactly one follow-up email went out, offering a call-back
    follow_ups = [m for m in sent_emails(stack.moto_data()) if email in m["to"] and "solve" in m["text"]]
    assert len(follow_ups) == 1
    assert "call me" in follow_ups[0]["text"]
    # AND no marketing offer, since the customer never opted in to marketing
    assert "THANKYOU10" not in follow_ups[0]["text"]


def test_breach_event_emits_the_sla_metric(stack: Any, drain: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the SLA machine reports a breach on the events queue
    # (a queue name of its own: real breaches of earlier tests' conversations may arrive in the same drain)
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    event = {
        "action": "sla_breached",
        "conversation_id": "RD-TEST22",
        "version": "1",
        "kind": "first_response",
        "level": "1",
        "queue": queue,
        "urgency": "high",
        "at": "2026-11-25T10:00:00Z",
        "execution": "x",
    }
    stack.sqs.send_message(QueueUrl=stack.env["EVENTS_QUEUE_URL"], MessageBody=json.dumps(event))
    # WHEN it is processed
    drain()
    # THEN an EMF blob with SlaBreached for the queue was printed (the dashboard's source)
    blobs = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{") and '"_aws"' in line
    ]
    breached = [b for b in blobs if "SlaBreached" in b and b.get("queue") == queue]
    assert len(breached) == 1 and breached[0]["kind"] == "first_response"


def test_an_angrier_follow_up_message_reprioritises_the_clock(stack: Any, drain: Any, unique_email: Any) -> None:
    # GIVEN an ordinary email conversation with its SLA clock running
    email = unique_email("prio")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = email, stack.campaign.inbound_addresses[0], "Boot size"
    msg["Message-ID"] = f"<first-{email}>"
    msg.set_content("Which size should I choose for the hiking boots?")
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as smtp:
        smtp.send_message(msg)
    drain()
    from chalicelib import store

    conv_id = api_lookup(stack, email)["conversation_id"]
    before = store.get_conversation(conv_id)
    assert before is not None and before.urgency in ("low", "normal")
    # WHEN the customer writes again with a chargeback threat
    again = EmailMessage()
    again["From"], again["To"] = email, stack.campaign.inbound_addresses[0]
    again["Subject"] = f"Re: Boot size [{conv_id}]"
    again["Message-ID"] = f"<second-{email}>"
    again["In-Reply-To"] = f"<first-{email}>"
    again.set_content("This is unacceptable!!! I will file a chargeback with my bank and contact my lawyer.")
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as smtp:
        smtp.send_message(again)
    drain()
    # THEN the conversation is urgent, on a new clock version with an earlier first-response deadline
    after = store.get_conversation(conv_id)
    assert after is not None and after.urgency == "urgent"
    assert int(after.workflow_version) == 2
    assert after.first_response_due is not None and before.first_response_due is not None
    assert after.first_response_due < before.first_response_due
    assert execution(stack, "SLA_STATE_MACHINE_ARN", execution_name(conv_id, 2, "sla"))["status"] == "RUNNING"


def api_lookup(stack: Any, email: str) -> dict[str, Any]:
    from chalicelib.models import ConversationModel, IdentityModel

    customer_id = IdentityModel.get(f"email#{email}").customer_id
    conv = next(iter(ConversationModel.by_customer.query(customer_id, scan_index_forward=False, limit=1)))
    return {"conversation_id": conv.conversation_id}
