"""One conversation for staff: its fields, deadlines, breaches, timeline and messages."""

from __future__ import annotations

from typing import Any

from chalicelib import store, workflow
from chalicelib.errors import NotFound


def conversation_detail(conversation_id: str) -> dict[str, Any]:
    """A conversation with its timeline (deadlines, breaches, follow-ups) and messages, oldest first."""
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
