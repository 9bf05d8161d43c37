"""Queue pages and counts from the conversations table's GSIs: Queries only, O(page) calls per page.

Every view is a merge of a few Query streams, each sorted by its range key `status#due`:
- a queue: `by_queue` with `status_due` beginning `new#` and `open#` (the work still to do);
- Mine: the sparse `by_assignee` index (only assigned conversations carry `assignee`);
- Breached: `by_queue` with `status_due BETWEEN "open#" AND "open#<now>"`: the key already holds the
  deadline that counts, so "overdue" is a key condition, not a filter;
- Unassigned: `by_queue` with a filter on `assignee`. A sparse "unassigned" index would need every
  writer of queue and status (the intake pipeline, the state machines) to maintain one more attribute;
  the filter costs at most one Query page per queue per request instead, and a page may come back
  short with a cursor to go on.
Each request reads one page of `limit` items per stream, merges them by due time and remembers in the
cursor where each stream stopped, so a page costs len(streams) Queries whatever the table holds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from chalicelib.config import Campaign
from chalicelib.console import cursor as cursors
from chalicelib.console.access import QueueAccess
from chalicelib.console.sla import conversation_badge
from chalicelib.errors import ValidationError
from chalicelib.models import ConversationModel, CustomerModel, Status
from chalicelib.store import iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MAX_LIMIT = 100
DEFAULT_LIMIT = 50
WORK_STATUSES = (Status.NEW.value, Status.OPEN.value)
MINE_STATUSES = (Status.NEW.value, Status.OPEN.value, Status.PENDING_CUSTOMER.value)
_DONE = "done"
_START = "start"  # a stream still to be read from its first item
EVERY_QUEUE = QueueAccess(None)


class View(StrEnum):
    QUEUE = "queue"
    MINE = "mine"
    UNASSIGNED = "unassigned"
    BREACHED = "breached"


@dataclass(frozen=True, slots=True)
class Stream:
    """One Query: an index partition and a range-key condition on `status_due`."""

    name: str
    index: str
    hash_attr: str
    hash_value: str
    range_expr: str
    values: Mapping[str, str]
    unassigned_only: bool = False

    def request(self, table: str, limit: int, start: Mapping[str, Any] | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "TableName": table,
            "IndexName": self.index,
            "KeyConditionExpression": f"#h = :h AND {self.range_expr}",
            "ExpressionAttributeNames": {"#h": self.hash_attr, "#r": "status_due"},
            "ExpressionAttributeValues": {
                ":h": {"S": self.hash_value},
                **{k: {"S": v} for k, v in self.values.items()},
            },
            "Limit": limit,
        }
        if self.unassigned_only:
            kwargs["FilterExpression"] = "attribute_not_exists(#a)"
            kwargs["ExpressionAttributeNames"]["#a"] = "assignee"
        if start:
            kwargs["ExclusiveStartKey"] = dict(start)
        return kwargs

    def key_of(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: item[k] for k in ("conversation_id", self.hash_attr, "status_due")}


def _prefix(status: str) -> tuple[str, dict[str, str]]:
    return "begins_with(#r, :p)", {":p": f"{status}#"}


def _overdue(status: str, now: datetime) -> tuple[str, dict[str, str]]:
    return "#r BETWEEN :lo AND :hi", {":lo": f"{status}#", ":hi": f"{status}#{iso(now)}"}


def streams_for(
    view: View,
    *,
    campaign: Campaign,
    queue: str | None,
    username: str,
    now: datetime,
    access: QueueAccess = EVERY_QUEUE,
) -> list[Stream]:
    if queue is not None and queue not in campaign.queues:
        raise ValidationError(f"unknown queue {queue!r}", field="queue")
    if queue is not None:
        access.refuse_queue(queue)
    queues = [queue] if queue else access.visible(campaign.queues)
    if view is View.QUEUE:
        if queue is None:
            raise ValidationError("'queue' is required for the queue view", field="queue")
        return [Stream(f"{queue}:{s}", "by_queue", "queue", queue, *_prefix(s)) for s in WORK_STATUSES]
    if view is View.MINE:
        return [Stream(f"mine:{s}", "by_assignee", "assignee", username, *_prefix(s)) for s in MINE_STATUSES]
    if view is View.UNASSIGNED:
        return [
            Stream(f"{q}:{s}", "by_queue", "queue", q, *_prefix(s), unassigned_only=True)
            for q in queues
            for s in WORK_STATUSES
        ]
    return [Stream(f"{q}:{s}", "by_queue", "queue", q, *_overdue(s, now)) for q in queues for s in WORK_STATUSES]


def _due(item: Mapping[str, Any]) -> str:
    return str(item["status_due"]["S"]).split("#", 1)[1]


@dataclass
class RawPage:
    items: list[dict[str, Any]]
    next_state: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return all(v == _DONE for v in self.next_state.values())


def merged_page(
    ddb: DynamoDBClient, table: str, streams: Sequence[Stream], state: Mapping[str, Any], limit: int
) -> RawPage:
    """One Query per unfinished stream; the `limit` earliest-due items of their merge; where each stopped."""
    fetched: dict[str, tuple[list[dict[str, Any]], dict[str, Any] | None]] = {}
    for s in streams:
        start = state.get(s.name)
        if start == _DONE:
            continue
        resp = ddb.query(**s.request(table, limit, start if isinstance(start, dict) else None))
        fetched[s.name] = (list(resp.get("Items", [])), resp.get("LastEvaluatedKey"))
    candidates = [
        (_due(item), item["conversation_id"]["S"], name, i)
        for name, (items, _) in fetched.items()
        for i, item in enumerate(items)
    ]
    taken = sorted(candidates)[:limit]
    last_taken: dict[str, int] = {}
    for _, _, name, i in taken:
        last_taken[name] = max(i, last_taken.get(name, -1))
    next_state: dict[str, Any] = {}
    by_name = {s.name: s for s in streams}
    for s in streams:
        if s.name not in fetched:
            next_state[s.name] = _DONE
            continue
        items, lek = fetched[s.name]
        if s.name in last_taken:
            i = last_taken[s.name]
            exhausted = i == len(items) - 1 and lek is None
            next_state[s.name] = _DONE if exhausted else by_name[s.name].key_of(items[i])
        elif not items:
            # Everything on this Query page was filtered out: go on after it, or it is finished.
            next_state[s.name] = lek if lek else _DONE
        elif s.name in state:
            next_state[s.name] = state[s.name]
        else:
            # Not started and nothing taken yet: it must still be read from its beginning (an absent
            # entry would let a page whose other streams are done end the pagination early).
            next_state[s.name] = _START
    ordered = [fetched[name][0][i] for _, _, name, i in taken]
    return RawPage(ordered, next_state)


def _customers(ids: set[str]) -> dict[str, CustomerModel]:
    if not ids:
        return {}
    # One BatchGetItem per 100 customers: a page of 100 rows costs one call.
    return {c.customer_id: c for c in CustomerModel.batch_get(list(ids))}


def contact_of(customer: CustomerModel | None) -> str:
    """What staff call a customer who gave no name (an SMS sender): the first proven address or number."""
    if customer is None:
        return ""
    for identity in sorted(customer.identities or ()):
        return identity.partition("#")[2]
    return ""


def row(conv: ConversationModel, customer: CustomerModel | None, now: datetime, viewers: list[Any]) -> dict[str, Any]:
    return {
        "conversation_id": conv.conversation_id,
        "reference": conv.reference,
        "customer": {
            "customer_id": conv.customer_id,
            "name": customer.name if customer else "",
            "contact": contact_of(customer),
        },
        "channel": conv.channel,
        "subject": conv.subject,
        "topic": conv.topic,
        "language": conv.language,
        "urgency": conv.urgency,
        "status": conv.status,
        "queue": conv.queue,
        "assignee": conv.assignee,
        "sla": conversation_badge(conv, now),
        "updated_at": conv.updated_at,
        "version": int(conv.version or 0),
        "viewers": viewers,
    }


def etag(payload: Mapping[str, Any]) -> str:
    """Over what is stored, not the clock: the page counts SLA time down itself from `due`."""
    stable = {
        "items": [
            {**r, "sla": {k: v for k, v in r["sla"].items() if k not in ("remaining_seconds", "state")}}
            for r in payload["items"]
        ],
        "next_cursor": payload.get("next_cursor"),
    }
    digest = hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return f'W/"{digest}"'


def parse_limit(value: str | None) -> int:
    if value in (None, ""):
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError as exc:
        raise ValidationError("'limit' must be a number", field="limit") from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"'limit' must be between 1 and {MAX_LIMIT}", field="limit")
    return limit


def parse_view(value: str | None) -> View:
    try:
        return View(value or View.QUEUE.value)
    except ValueError as exc:
        raise ValidationError(f"'view' must be one of {', '.join(v.value for v in View)}", field="view") from exc


def conversation_page(
    *,
    ddb: DynamoDBClient,
    table: str,
    campaign: Campaign,
    view: View,
    queue: str | None,
    username: str,
    cursor: str | None,
    limit: int,
    now: datetime,
    presence: Callable[[list[str]], Mapping[str, list[dict[str, Any]]]] | None = None,
    access: QueueAccess = EVERY_QUEUE,
) -> dict[str, Any]:
    """`{items, next_cursor}` for a view: rows sorted by what is due first, only from `access`'s queues."""
    streams = streams_for(view, campaign=campaign, queue=queue, username=username, now=now, access=access)
    page = merged_page(ddb, table, streams, cursors.decode(cursor), limit)
    # Mine reads the assignee index: a conversation moved to a queue this agent does not work leaves it.
    convs = [c for c in (ConversationModel.from_raw_data(item) for item in page.items) if access.allows(c.queue)]
    customers = _customers({c.customer_id for c in convs})
    viewers = presence([c.conversation_id for c in convs]) if presence is not None and convs else {}
    items = [row(c, customers.get(c.customer_id), now, viewers.get(c.conversation_id, [])) for c in convs]
    if view is View.BREACHED:
        # The key's deadline can be a first-response target a reply has met since (some writers keep it
        # until the clock next moves); the badge knows, so such rows leave the page (it may come back short).
        items = [r for r in items if r["sla"]["state"] == "breached"]
    return {"items": items, "next_cursor": None if page.done else cursors.encode(page.next_state)}


def _tally(ddb: DynamoDBClient, stream: Stream, table: str, now_iso: str) -> tuple[int, int, int]:
    """(open, breached, unassigned) of one stream from one paged Query reading only the two attributes
    the figures need: a third of the calls three COUNT Queries would make, the same read units."""
    total = breached = unassigned = 0
    start: Mapping[str, Any] | None = None
    while True:
        kwargs = stream.request(table, 1000, start)
        kwargs.pop("Limit")
        kwargs["ProjectionExpression"] = "#r, #a, first_response_at, resolution_due"
        kwargs["ExpressionAttributeNames"]["#a"] = "assignee"
        resp = ddb.query(**kwargs)
        for item in resp.get("Items", []):
            total += 1
            # As the Breached view: overdue by the key, unless the first response was met and the
            # resolution target has not passed.
            due = (
                item["resolution_due"]["S"] if "first_response_at" in item and "resolution_due" in item else _due(item)
            )
            if due <= now_iso:
                breached += 1
            if "assignee" not in item:
                unassigned += 1
        start = resp.get("LastEvaluatedKey")
        if not start:
            return total, breached, unassigned


def queue_counts(
    *, ddb: DynamoDBClient, table: str, campaign: Campaign, now: datetime, access: QueueAccess = EVERY_QUEUE
) -> list[dict[str, Any]]:
    """Per queue (those `access` allows): open work, breached and unassigned; one Query per status per
    queue (more only past 1 MB), read units proportional to the queue's open work."""
    out = []
    now_iso = iso(now)
    for qid, q in campaign.queues.items():
        if not access.allows(qid):
            continue
        figures = {"open": 0, "breached": 0, "unassigned": 0}
        for stream in streams_for(View.QUEUE, campaign=campaign, queue=qid, username="", now=now):
            n, late, free = _tally(ddb, stream, table, now_iso)
            figures["open"] += n
            figures["breached"] += late
            figures["unassigned"] += free
        out.append({"queue": qid, "label": q.label, **figures})
    return out
