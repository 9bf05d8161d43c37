"""The SLA badge of a conversation: which deadline counts, how long it had, how long is left."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from chalicelib.models import ConversationModel, Status
from chalicelib.workflow import parse_timestamp

# Amber under a quarter of the target left (Zendesk and Zammad colour their badges the same way).
WARNING_FRACTION = 0.25


class SlaState(StrEnum):
    OK = "ok"
    WARNING = "warning"
    BREACHED = "breached"
    PAUSED = "paused"  # waiting on the customer: the clock does not run
    NONE = "none"  # closed, resolved, or no deadline yet


@dataclass(frozen=True, slots=True)
class Badge:
    kind: str | None
    due: str | None
    total_seconds: int | None
    remaining_seconds: int | None
    state: SlaState

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "due": self.due,
            "total_seconds": self.total_seconds,
            "remaining_seconds": self.remaining_seconds,
            "state": self.state.value,
        }


def badge(
    *,
    status: str,
    created_at: str,
    first_response_due: str | None,
    first_response_at: str | None,
    resolution_due: str | None,
    now: datetime,
) -> Badge:
    """The next deadline that still matters: first response until it is met, then resolution.

    Time left is calendar time (as Zendesk's "next SLA breach"), so urgency compares across queues;
    the deadline itself was computed in business time when the clock started.
    """
    if status in (Status.RESOLVED.value, Status.CLOSED.value):
        return Badge(None, None, None, None, SlaState.NONE)
    if first_response_at is None and first_response_due:
        kind, due_text = "first_response", first_response_due
    elif resolution_due:
        kind, due_text = "resolution", resolution_due
    else:
        return Badge(None, None, None, None, SlaState.NONE)
    due = parse_timestamp(due_text)
    total = max(int((due - parse_timestamp(created_at)).total_seconds()), 1)
    remaining = int((due - now).total_seconds())
    if status == Status.PENDING_CUSTOMER.value:
        state = SlaState.PAUSED
    elif remaining < 0:
        state = SlaState.BREACHED
    elif remaining < total * WARNING_FRACTION:
        state = SlaState.WARNING
    else:
        state = SlaState.OK
    return Badge(kind, due_text, total, remaining, state)


def conversation_badge(conv: ConversationModel, now: datetime) -> dict[str, Any]:
    """The badge of a stored conversation, as the list and the conversation view show it."""
    return badge(
        status=conv.status,
        created_at=conv.created_at,
        first_response_due=conv.first_response_due,
        first_response_at=conv.first_response_at,
        resolution_due=conv.resolution_due,
        now=now,
    ).to_dict()
