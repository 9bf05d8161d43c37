"""One operator-visible flow through the local stack with metrics forwarded, shared by the dashboard tests."""

from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from chalicelib.library import csat
from local.emf import EmfForwarder
from tests import staffauth


def _post(
    stack: Any, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        f"{stack.api_url}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {"error": exc.read().decode(errors="replace")[:300]}


def _mail(stack: Any, sender: str, text: str, **headers: str) -> None:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = stack.campaign.inbound_addresses[0]
    msg["Subject"] = "Question about my order"
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@customer.test>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text)
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as smtp:
        smtp.send_message(msg)


def run_flow(stack: Any) -> dict[str, Any]:
    """Web form + email + SMS + a staff reply, a retention outcome and a rating, the faults and workflow events.

    Metrics are forwarded to CloudWatch for the flow only (the session stack does not forward, so
    other tests do not pay for it). Returns what the flow did.
    """
    if getattr(stack, "_ops_flow", None):
        return dict(stack._ops_flow)
    # The stack's sample store keeps what was forwarded: the local percentile alarms and dashboard read it.
    fwd = EmfForwarder(stack.client("cloudwatch"), stack.metric_samples)
    fwd.install()
    try:
        tag = uuid.uuid4().hex[:8]
        # contacts on every channel
        status, accepted = _post(
            stack,
            "/contact",
            {"name": "Maja", "email": f"web-{tag}@customer.test", "message": "Where is my parcel?", "consent": True},
        )
        assert status == 202, status
        ref = accepted["reference"]
        _mail(stack, f"mail-{tag}@customer.test", "I want to return the jacket and get a refund.")
        stack.phone.send(f"+4670{int(tag, 16) % 10_000_000:07d}", "Is the hiking boot waterproof?")
        # no ack for an auto-reply, a clean 400 for a bad form, a poisoned queue message
        _mail(stack, f"ooo-{tag}@customer.test", "I am out of the office.", Auto_Submitted="auto-replied")
        rejected, _ = _post(
            stack, "/contact", {"name": "x", "email": "not-an-address", "message": "hi", "consent": True}
        )
        stack.sqs.send_message(QueueUrl=stack.env["INTAKE_QUEUE_URL"], MessageBody="not json")
        stack.pump.drain()
        # a staff reply through the staff API, signed in as the demo agent: the first response
        agent = staffauth.bearer(staffauth.id_token(stack, "agent"))
        status, reply = _post(
            stack,
            f"/api/conversations/{ref}/reply",
            {"text": "It ships today.", "idempotency_key": f"ops-{tag}"},
            agent,
        )
        assert status == 200 and reply["sent"], (status, reply)
        # a retention outcome recorded by staff, and the customer's one-click rating from the follow-up mail
        status, _ = _post(
            stack, f"/api/conversations/{ref}/retention", {"outcome": "kept", "offer_id": "free_exchange"}, agent
        )
        assert status == 200, status
        token = csat.sign(
            ref, csat.Rating.GOOD, secret=stack.env["CSAT_SECRET"], expires=datetime.now(UTC) + timedelta(days=1)
        )
        with urllib.request.urlopen(f"{stack.api_url}/rate/{token}", timeout=30) as resp:
            assert resp.status == 200
        # what the SLA and follow-up machines report on the events queue (their own Wait states take minutes)
        for event in (
            {
                "action": "sla_breached",
                "conversation_id": ref,
                "kind": "first_response",
                "level": "1",
                "queue": "general",
            },
            {"action": "auto_resolved", "conversation_id": ref, "at": datetime.now(UTC).isoformat()},
        ):
            stack.sqs.send_message(QueueUrl=stack.env["EVENTS_QUEUE_URL"], MessageBody=json.dumps(event))
        stack.pump.drain()
        # the backlog gauge, as the schedule would run it
        scheduled = stack.scheduler.run_all()
        assert fwd.wait_idle(timeout=20), "EMF lines were not forwarded in time"
    finally:
        fwd.uninstall()
    stack._ops_flow = {
        "reference": ref,
        "rejected_status": rejected,
        "scheduled": scheduled,
        "forwarded": fwd.forwarded,
    }
    return dict(stack._ops_flow)
