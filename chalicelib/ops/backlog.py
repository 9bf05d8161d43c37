"""The backlog gauge: open conversations and the oldest waiting one per queue, from the queue index."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.config import Campaign
from chalicelib.metrics import Metric, count, seconds

# Conversations waiting for staff; pending_customer waits for the customer and is not backlog.
WAITING = ("new", "open")


@dataclass(frozen=True, slots=True)
class QueueBacklog:
    queue: str
    open: int
    oldest_age_seconds: float
    overdue: int


@dataclass(frozen=True, slots=True)
class Waiting:
    """What the gauge reads of one waiting conversation."""

    since: datetime  # the customer's last message, or the conversation's creation
    due: datetime | None  # the status_due deadline (first response, else resolution)


def queue_backlog(queue: str, waiting: Iterable[Waiting], now: datetime) -> QueueBacklog:
    items = list(waiting)
    oldest = max(((now - w.since).total_seconds() for w in items), default=0.0)
    overdue = sum(1 for w in items if w.due is not None and w.due < now)
    return QueueBacklog(queue=queue, open=len(items), oldest_age_seconds=max(0.0, oldest), overdue=overdue)


def waiting_in(queue: str) -> list[Waiting]:
    """Query the by_queue index once per waiting status (status_due begins with the status): no Scan."""
    from chalicelib.models import ConversationModel

    out: list[Waiting] = []
    for status in WAITING:
        for conv in ConversationModel.by_queue.query(queue, ConversationModel.status_due.startswith(f"{status}#")):
            since = datetime.fromisoformat(conv.last_inbound_at or conv.created_at)
            due_text = conv.first_response_due if conv.first_response_at is None else conv.resolution_due
            out.append(Waiting(since=since, due=datetime.fromisoformat(due_text) if due_text else None))
    return out


def emit_backlog(
    campaign: Campaign, now: datetime, *, waiting: Callable[[str], list[Waiting]] = waiting_in
) -> list[QueueBacklog]:
    """One gauge point per queue, and the campaign's overdue total that the alarm watches."""
    out = [queue_backlog(q, waiting(q), now) for q in campaign.queues]
    for b in out:
        count(Metric.BACKLOG_OPEN, b.open, queue=b.queue)
        seconds(Metric.BACKLOG_OLDEST_AGE, b.oldest_age_seconds, queue=b.queue)
    count(Metric.BACKLOG_OVERDUE, sum(b.overdue for b in out))
    return out


def scheduled_backlog() -> dict[str, int]:
    """The schedule handler's work: the runtime's campaign and clock, then the gauge."""
    from chalicelib.runtime import get_runtime

    rt = get_runtime()
    out = emit_backlog(rt.campaign, rt.clock())
    return {"queues": len(out), "open": sum(b.open for b in out), "overdue": sum(b.overdue for b in out)}
