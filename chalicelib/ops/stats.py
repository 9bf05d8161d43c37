"""The campaign's indices for a period, computed from the tables (what `replydesk stats summary` prints)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.config import Campaign
from chalicelib.ops.indices import elapsed, met, percentile

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Conversations waiting for staff (pending_customer waits for the customer, resolved/closed are done).
WAITING = ("new", "open")


def _s(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    return str(value["S"]) if isinstance(value, dict) and "S" in value else None


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def queue_conversations(ddb: DynamoDBClient, table: str, queue: str) -> Iterator[dict[str, Any]]:
    """Every conversation of one queue: a Query on the by_queue index, never a Scan."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "IndexName": "by_queue",
        "KeyConditionExpression": "#q = :q",
        "ExpressionAttributeNames": {"#q": "queue"},
        "ExpressionAttributeValues": {":q": {"S": queue}},
    }
    while True:
        page = ddb.query(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def suppressed_reasons(ddb: DynamoDBClient, table: str, conversation_id: str) -> list[str]:
    """The no-ack reasons stored on a conversation's inbound messages (one Query per conversation)."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "conversation_id = :c",
        "ExpressionAttributeValues": {":c": {"S": conversation_id}},
        "ProjectionExpression": "suppressed_reason, direction",
    }
    out: list[str] = []
    while True:
        page = ddb.query(**kwargs)
        out += [r for item in page.get("Items", []) if (r := _s(item, "suppressed_reason"))]
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@dataclass
class QueueStats:
    first_response_met: int = 0
    first_response_missed: int = 0
    resolution_met: int = 0
    resolution_missed: int = 0
    waiting: int = 0
    overdue: int = 0
    oldest_waiting_seconds: float | None = None

    @property
    def sla_met_percent(self) -> float | None:
        total = self.first_response_met + self.first_response_missed
        return None if total == 0 else round(100.0 * self.first_response_met / total, 1)


@dataclass
class Summary:
    since: datetime
    until: datetime
    conversations: int = 0
    first_response_calendar: list[float] = field(default_factory=list)
    first_response_business: list[float] = field(default_factory=list)
    resolution_calendar: list[float] = field(default_factory=list)
    queues: dict[str, QueueStats] = field(default_factory=lambda: defaultdict(QueueStats))
    breaches: Counter[str] = field(default_factory=Counter)
    by_channel: Counter[str] = field(default_factory=Counter)
    by_topic: Counter[str] = field(default_factory=Counter)
    by_language: Counter[str] = field(default_factory=Counter)
    acks_suppressed: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        def pct(values: list[float]) -> dict[str, float | None]:
            return {"p50": percentile(values, 50), "p90": percentile(values, 90), "count": float(len(values))}

        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "conversations": self.conversations,
            "first_response_seconds": {
                "calendar": pct(self.first_response_calendar),
                "business_hours": pct(self.first_response_business),
            },
            "resolution_seconds": pct(self.resolution_calendar),
            "queues": {
                q: {
                    "sla_met_percent": s.sla_met_percent,
                    "first_response_met": s.first_response_met,
                    "first_response_missed": s.first_response_missed,
                    "resolution_met": s.resolution_met,
                    "resolution_missed": s.resolution_missed,
                    "waiting": s.waiting,
                    "overdue": s.overdue,
                    "oldest_waiting_seconds": s.oldest_waiting_seconds,
                }
                for q, s in sorted(self.queues.items())
            },
            "breaches": dict(sorted(self.breaches.items())),
            "by_channel": dict(sorted(self.by_channel.items())),
            "by_topic": dict(sorted(self.by_topic.items())),
            "by_language": dict(sorted(self.by_language.items())),
            "acks_suppressed": dict(sorted(self.acks_suppressed.items())),
        }


def summarise(
    conversations: Iterable[Mapping[str, Any]],
    campaign: Campaign,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    suppressed: Mapping[str, list[str]] | None = None,
) -> Summary:
    """The indices of conversations created in [since, until); backlog is as of `now`, whatever their age."""
    out = Summary(since=since, until=until)
    for queue_id in campaign.queues:
        out.queues[queue_id] = QueueStats()  # every queue is listed, also the quiet ones
    hours = campaign.business_hours
    for item in conversations:
        created = _ts(_s(item, "created_at"))
        queue = _s(item, "queue") or "unknown"
        status = _s(item, "status") or "new"
        if created is None:
            continue
        if status in WAITING:
            q = out.queues[queue]
            q.waiting += 1
            waited = (now - (_ts(_s(item, "last_inbound_at")) or created)).total_seconds()
            q.oldest_waiting_seconds = max(q.oldest_waiting_seconds or 0.0, waited)
            first_at = _s(item, "first_response_at")
            due = _ts(_s(item, "resolution_due" if first_at else "first_response_due"))
            if due is not None and due < now:
                q.overdue += 1
        if not (since <= created < until):
            continue
        out.conversations += 1
        out.by_channel[_s(item, "channel") or "unknown"] += 1
        out.by_topic[_s(item, "topic") or "unknown"] += 1
        out.by_language[_s(item, "language") or "unknown"] += 1
        first = _ts(_s(item, "first_response_at"))
        first_due = _ts(_s(item, "first_response_due"))
        if first is not None:
            e = elapsed(created, first, hours)
            out.first_response_calendar.append(e.calendar_seconds)
            out.first_response_business.append(e.business_seconds)
        q = out.queues[queue]
        # Counted when answered, as the SlaMissed metric is; unanswered overdue ones show in the backlog.
        if first is not None and met(first, first_due):
            q.first_response_met += 1
        elif first is not None:
            q.first_response_missed += 1
        resolved = _ts(_s(item, "resolved_at"))
        resolution_due = _ts(_s(item, "resolution_due"))
        if resolved is not None:
            out.resolution_calendar.append(elapsed(created, resolved, hours).calendar_seconds)
            if met(resolved, resolution_due):
                q.resolution_met += 1
            else:
                q.resolution_missed += 1
        for breach in item.get("breaches", {}).get("L", []):
            b = breach.get("M", {})
            kind = _s(b, "kind") or "unknown"
            level = b.get("level", {}).get("N", "1")
            out.breaches[f"{kind}/level {level}"] += 1
        for reason in (suppressed or {}).get(_s(item, "conversation_id") or "", []):
            out.acks_suppressed[reason] += 1
    return out


def collect(
    ddb: DynamoDBClient,
    campaign: Campaign,
    *,
    conversations_table: str,
    messages_table: str,
    since: datetime,
    until: datetime,
    now: datetime,
) -> Summary:
    """Query every queue of the campaign and summarise; messages are read only for conversations in the period."""
    items: list[dict[str, Any]] = []
    for queue in campaign.queues:
        items += queue_conversations(ddb, conversations_table, queue)
    suppressed: dict[str, list[str]] = {}
    for item in items:
        created = _ts(_s(item, "created_at"))
        cid = _s(item, "conversation_id")
        if cid and created is not None and since <= created < until:
            reasons = suppressed_reasons(ddb, messages_table, cid)
            if reasons:
                suppressed[cid] = reasons
    return summarise(items, campaign, since=since, until=until, now=now, suppressed=suppressed)
