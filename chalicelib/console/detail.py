"""One conversation for staff: fields, classification with reasons, deadlines, and the whole timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import nh3

from chalicelib import store, workflow
from chalicelib.console.access import QueueAccess
from chalicelib.console.sla import conversation_badge
from chalicelib.errors import NotFound
from chalicelib.models import ConversationModel, MessageModel
from chalicelib.reply import reply_channel, resolution_template


def _message_entry(m: MessageModel) -> dict[str, Any]:
    kind = "note" if m.direction == "note" else ("ack" if m.ack else "message")
    return {
        "at": m.created_at,
        "kind": kind,
        "message_id": m.message_id,
        "direction": m.direction,
        "channel": m.channel,
        "subject": m.subject,
        "text": m.new_text or m.text,
        "full_text": m.text if m.new_text else None,
        # Sanitised at intake already; cleaned again on the way out so a change there cannot reach a browser.
        "html": nh3.clean(m.html) if m.html else None,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": int(a.size)} for a in m.attachments or []
        ],
        "ack": bool(m.ack),
        "suppressed_reason": m.suppressed_reason,
        "sent_by": m.sent_by,
        "template": m.template,
        "template_id": getattr(m, "template_id", None),
        "template_version": getattr(m, "template_version", None),
        "template_language": getattr(m, "template_language", None),
        "classification": dict(m.classification.attribute_values) if m.classification else None,
    }


def timeline(conv: ConversationModel, messages: list[MessageModel], now: datetime) -> list[dict[str, Any]]:
    """Messages in and out, notes, acks and the clock's entries (deadlines, breaches, pauses, follow-ups,
    status changes) in one list, oldest first."""
    entries = [_message_entry(m) for m in messages]
    entries += [{"at": store.iso(e.at), "kind": e.kind, "detail": e.detail} for e in workflow.timeline(conv, now=now)]
    return sorted(entries, key=lambda e: str(e["at"]))


def _resolution_message(
    conv: ConversationModel, messages: list[MessageModel], channel: str, library: Any | None
) -> dict[str, Any]:
    """Whether "Resolve" can tell the customer (the library has `resolution.<channel>`), and when it last did."""
    available = library is not None and resolution_template(library, channel) is not None
    sent = [m.created_at for m in messages if m.direction == "out" and (m.template_id or "").startswith("resolution.")]
    return {"available": available, "channel": channel, "last_sent_at": sent[-1] if sent else None}


def conversation_detail(
    conversation_id: str,
    *,
    now: datetime,
    viewers: list[dict[str, Any]] | None = None,
    library: Any | None = None,
    access: QueueAccess | None = None,
) -> dict[str, Any]:
    """The conversation view: two reads (the item, then one Query for its messages).

    `library` (the template store) tells whether a resolution message can go out; its reads are cached.
    `access`: a conversation in a queue the agent does not work is a 403 before its messages are read.
    """
    conv = store.get_conversation(conversation_id)
    if conv is None:
        raise NotFound(f"no conversation {conversation_id}")
    if access is not None:
        access.check(conv)
    messages = store.conversation_messages(conversation_id)
    inbound = [m for m in messages if m.direction == "in" and m.sender]
    channel = reply_channel(inbound[-1].channel if inbound else None)
    return {
        "conversation_id": conv.conversation_id,
        "reference": conv.reference,
        "customer_id": conv.customer_id,
        "subject": conv.subject,
        "status": conv.status,
        "queue": conv.queue,
        "channel": conv.channel,
        "assignee": conv.assignee,
        "version": int(conv.version or 0),
        "topic": conv.topic,
        "language": conv.language,
        "urgency": conv.urgency,
        "classification": {
            "topic": conv.topic,
            "language": conv.language,
            "urgency": conv.urgency,
            "sentiment": conv.sentiment,
            "reasons": list(conv.reasons or []),
        },
        "reasons": list(conv.reasons or []),
        "created_at": conv.created_at,
        "updated_at": conv.updated_at,
        "first_response_due": conv.first_response_due,
        "resolution_due": conv.resolution_due,
        "first_response_at": conv.first_response_at,
        "resolved_at": conv.resolved_at,
        "callback_requested_at": conv.callback_requested_at,
        "sla": conversation_badge(conv, now),
        "breaches": [
            {"kind": b.kind, "level": int(b.level or 1), "at": b.at, "due": b.due} for b in conv.breaches or []
        ],
        "timeline": timeline(conv, messages, now),
        # The earlier shape, kept for the operator scripts and tests that read it.
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
            for m in messages
        ],
        "viewers": viewers or [],
        "reply_channel": channel,
        "resolution_message": _resolution_message(conv, messages, channel, library),
        # The retention playbook and the customer's one-click rating (chalicelib/library).
        "offers_sent": [_plain(o) for o in conv.offers_sent or []],
        "retention": _plain(conv.retention) if conv.retention is not None else None,
        "csat": _plain(conv.csat) if conv.csat is not None else None,
    }


def _plain(value: Any) -> dict[str, Any]:
    """A stored map (raw MapAttribute or dict) as plain JSON values."""
    raw = value.as_dict() if hasattr(value, "as_dict") else value
    return {str(k): v for k, v in dict(raw or {}).items()}
