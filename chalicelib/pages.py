"""The customer-facing web pages: the campaign's contact page and the form submission."""

from __future__ import annotations

import functools
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalice.app import Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from chalicelib import aws
from chalicelib.config import get_campaign, get_settings
from chalicelib.errors import ValidationError
from chalicelib.guard import ratelimit
from chalicelib.intake import web
from chalicelib.metrics import Metric, count
from chalicelib.models import bind_models
from chalicelib.observability import logger

_WEB_DIR = Path(__file__).parent / "web"


@functools.cache
def _env() -> Environment:
    # Our own page templates, shipped with the code (not the staff-edited library): a plain environment.
    return Environment(loader=FileSystemLoader(_WEB_DIR), autoescape=select_autoescape(["html"]))


@functools.cache
def contact_page() -> str:
    campaign = get_campaign()
    return (
        _env()
        .get_template("contact.html")
        .render(
            brand=campaign.brand,
            topics=[{"id": t.id, "label": t.label} for t in campaign.topics],
            faq_json=json.dumps(dict(campaign.faq)),
            languages=campaign.languages,
            max_message=web.MAX_MESSAGE_CHARS,
            honeypot=web.HONEYPOT_FIELD,
        )
    )


def submit(body: bytes, content_type: str, source_ip: str = "") -> web.Accepted:
    """Rate-limit, validate, store raw, enqueue; raises ValidationError (TooManyRequests) for a 4xx (429)."""
    settings = get_settings()
    campaign = get_campaign()
    bind_models(settings)
    now = datetime.now(UTC)
    try:
        # The client first: a flood of garbage is refused before it costs a parse.
        ratelimit.check_client(source_ip, campaign, now=now)
        submission = web.validate(web.decode_form(body, content_type), campaign, now=now)
        ratelimit.check_address(submission.email, campaign, now=now)
    except ValidationError as exc:
        count(Metric.MESSAGES_REJECTED, channel="web", reason=exc.field or "invalid")
        logger.info("submission rejected", extra={"field": exc.field, "length": len(body)})
        raise
    accepted = web.accept(
        submission, s3=aws.s3(), sqs=aws.sqs(), bucket=settings.raw_bucket, queue_url=settings.intake_queue_url
    )
    logger.info(
        "submission accepted", extra={"source_id": accepted.submission_id, "conversation_id": accepted.reference}
    )
    return accepted


def accepted_response(accepted: web.Accepted, accept_header: str) -> Response:
    if "text/html" in accept_header and "application/json" not in accept_header:
        html = _env().get_template("thanks.html").render(brand=get_campaign().brand, reference=accepted.reference)
        return Response(body=html, status_code=202, headers={"Content-Type": "text/html; charset=utf-8"})
    return Response(
        body={"reference": accepted.reference, "status": "received"},
        status_code=202,
        headers={"Content-Type": "application/json"},
    )


def health() -> dict[str, Any]:
    settings = get_settings()
    return {"status": "ok", "campaign": settings.campaign, "stage": settings.stage}


def conversation_view(conversation_id: str) -> dict[str, Any]:
    """A conversation with its timeline (deadlines, breaches, follow-ups) and messages, for staff."""
    from chalicelib import store, workflow
    from chalicelib.errors import NotFound
    from chalicelib.runtime import get_runtime

    get_runtime()  # binds the models to this stage's tables
    conv = store.get_conversation(conversation_id)
    if conv is None:
        raise NotFound(f"no conversation {conversation_id}")
    return {
        "conversation_id": conv.conversation_id,
        "reference": conv.reference,
        "status": conv.status,
        "queue": conv.queue,
        "channel": conv.channel,
        "topic": conv.topic,
        "language": conv.language,
        "urgency": conv.urgency,
        "reasons": list(conv.reasons or []),
        "first_response_due": conv.first_response_due,
        "resolution_due": conv.resolution_due,
        "first_response_at": conv.first_response_at,
        "callback_requested_at": conv.callback_requested_at,
        "breaches": [
            {"kind": b.kind, "level": int(b.level or 1), "at": b.at, "due": b.due} for b in conv.breaches or []
        ],
        "timeline": [{"at": e.at.isoformat(), "kind": e.kind, "detail": e.detail} for e in workflow.timeline(conv)],
        "messages": [
            {
                "direction": m.direction,
                "channel": m.channel,
                "created_at": m.created_at,
                "subject": m.subject,
                "text": m.new_text or m.text,
                "ack": m.ack,
                "suppressed_reason": m.suppressed_reason,
                "sent_by": m.sent_by,
            }
            for m in store.conversation_messages(conversation_id)
        ],
    }


def staff_reply(conversation_id: str, body: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.reply import staff_reply as send
    from chalicelib.runtime import get_runtime

    return send(
        conversation_id,
        str(body.get("text") or ""),
        sent_by=str(body.get("sent_by") or "staff")[:100],
        # The IAM route predates idempotency keys: a caller without one gets a fresh key (no dedupe).
        idempotency_key=str(body.get("idempotency_key") or uuid.uuid4().hex),
        rt=get_runtime(),
        wait_for_customer=bool(body.get("wait_for_customer", True)),
    )
