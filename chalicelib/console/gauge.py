"""The queue counts as a gauge: computed once a minute by a schedule, read by every console poll with one GetItem.

Counting a queue reads all of its open work (queue_counts: one paged Query per status per queue), which
grows with the backlog; the console asks for the counts every few seconds per agent. So the counts are
kept as one small item in the presence table (the console's other short-lived state), refreshed by the
`refresh_queue_counts` schedule, and `GET /api/queues` reads that item. A gauge older than
MAX_AGE_SECONDS (the schedule stopped, or a fresh stack) is computed by the request itself and stored.
The lists themselves (the queue pages) are always read live; only the counts are up to a minute old.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.config import Campaign
from chalicelib.console.access import QueueAccess
from chalicelib.console.queues import queue_counts
from chalicelib.store import iso
from chalicelib.workflow import parse_timestamp

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# The presence table's key is a conversation id; no conversation id starts with "#".
GAUGE_KEY = "#gauge#queue-counts"
REFRESH_MINUTES = 1  # the schedule's rate (app.py)
MAX_AGE_SECONDS = 150  # two missed refreshes and a half: then the request counts for itself
ITEM_TTL = timedelta(days=1)


def read(ddb: DynamoDBClient, table: str) -> tuple[datetime, list[dict[str, Any]]] | None:
    item = ddb.get_item(TableName=table, Key={"conversation_id": {"S": GAUGE_KEY}}).get("Item")
    if not item or "counts" not in item or "as_of" not in item:
        return None
    return parse_timestamp(item["as_of"]["S"]), list(json.loads(item["counts"]["S"]))


def write(ddb: DynamoDBClient, table: str, counts: list[dict[str, Any]], now: datetime) -> None:
    ddb.put_item(
        TableName=table,
        Item={
            "conversation_id": {"S": GAUGE_KEY},
            "as_of": {"S": iso(now)},
            "counts": {"S": json.dumps(counts, separators=(",", ":"))},
            "expires_at": {"N": str(int((now + ITEM_TTL).timestamp()))},
        },
    )


def refresh(
    *, ddb: DynamoDBClient, presence_table: str, conversations_table: str, campaign: Campaign, now: datetime
) -> list[dict[str, Any]]:
    """Count every queue now and store the gauge (the schedule's work)."""
    counts = queue_counts(ddb=ddb, table=conversations_table, campaign=campaign, now=now)
    write(ddb, presence_table, counts, now)
    return counts


def cached_counts(
    *,
    ddb: DynamoDBClient,
    presence_table: str,
    conversations_table: str,
    campaign: Campaign,
    now: datetime,
    access: QueueAccess,
) -> list[dict[str, Any]]:
    """The queues `access` allows, each with its counts and `as_of` (when they were counted)."""
    found = read(ddb, presence_table)
    known = set(campaign.queues)
    if (
        found is not None
        and (now - found[0]).total_seconds() <= MAX_AGE_SECONDS
        and {r.get("queue") for r in found[1]} == known
    ):
        as_of, counts = found
    else:
        as_of = now
        counts = refresh(
            ddb=ddb, presence_table=presence_table, conversations_table=conversations_table, campaign=campaign, now=now
        )
    labels: Mapping[str, str] = {q: campaign.queues[q].label for q in campaign.queues}
    return [
        {**r, "label": labels.get(str(r["queue"]), r.get("label")), "as_of": iso(as_of)}
        for r in counts
        if access.allows(str(r["queue"]))
    ]


def scheduled_refresh() -> dict[str, Any]:
    """The schedule handler's work: this stage's runtime, then one refresh."""
    from chalicelib import aws
    from chalicelib.runtime import get_runtime

    rt = get_runtime()
    counts = refresh(
        ddb=aws.dynamodb(),
        presence_table=rt.settings.presence_table,
        conversations_table=rt.settings.conversations_table,
        campaign=rt.campaign,
        now=rt.clock(),
    )
    return {"queues": len(counts), "open": sum(int(r["open"]) for r in counts)}
