"""The analytics export: one row per conversation and per message, metadata only unless the campaign opts in.

Files are JSON Lines, partitioned by the day the conversation was last updated:
`conversations/dt=YYYY-MM-DD/part-00000.jsonl` and `messages/dt=…/part-00000.jsonl` in the analytics
bucket. JSON Lines rather than Parquet because a Parquet writer (pyarrow, ~100 MB) does not fit the
Lambda package's 25 MB target; Athena reads JSON Lines with the OpenX SerDe and DuckDB with
`read_json_auto`. Re-exporting a day overwrites that day's files, so the export is idempotent; a
conversation updated on several days appears in several partitions, and readers keep the row with the
latest `exported_at` (the `conversations_latest` view does).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.businesshours import business_time_between
from chalicelib.models import ConversationModel, MessageModel

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from chalicelib.config import BusinessHours

PREFIX = "analytics"


def _ts(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def seconds_between(start: str | None, end: str | None) -> float | None:
    """Calendar seconds from `start` to `end` (ISO strings), or None if either is missing."""
    a, b = _ts(start), _ts(end)
    if a is None or b is None:
        return None
    return round(max(0.0, (b - a).total_seconds()), 3)


def first_response_seconds(conv: ConversationModel) -> float | None:
    """The key index: from the customer's first message to the first staff answer (calendar time)."""
    return seconds_between(conv.created_at, conv.first_response_at)


def business_seconds_between(start: str | None, end: str | None, hours: BusinessHours | None) -> float | None:
    """Open seconds from `start` to `end` under the campaign's business hours (what its SLAs count)."""
    a, b = _ts(start), _ts(end)
    if a is None or b is None or hours is None or a.tzinfo is None or b.tzinfo is None:
        return None
    return round(max(0.0, business_time_between(a, b, hours).total_seconds()), 3)


def conversation_row(
    conv: ConversationModel, *, exported_at: str, hours: BusinessHours | None = None
) -> dict[str, Any]:
    breaches = list(conv.breaches or [])
    retention = conv.retention.as_dict() if conv.retention is not None else {}  # type: ignore[no-untyped-call]
    return {
        "conversation_id": conv.conversation_id,
        # Pseudonymous (a hash of the first identity): lets analysts count returning customers.
        "customer_id": conv.customer_id,
        "channel": conv.channel,
        "topic": conv.topic,
        "language": conv.language,
        "urgency": conv.urgency,
        "sentiment": conv.sentiment,
        "queue": conv.queue,
        "status": conv.status,
        "created_at": conv.created_at,
        "updated_at": conv.updated_at,
        "ack_sent_at": conv.ack_sent_at,
        "ack_seconds": seconds_between(conv.created_at, conv.ack_sent_at),
        "first_response_at": conv.first_response_at,
        "first_response_seconds": first_response_seconds(conv),
        "resolved_at": conv.resolved_at,
        "resolution_seconds": seconds_between(conv.created_at, conv.resolved_at),
        # The same two times counted in business hours only: what the SLA deadlines measure.
        "first_response_business_seconds": business_seconds_between(conv.created_at, conv.first_response_at, hours),
        "resolution_business_seconds": business_seconds_between(conv.created_at, conv.resolved_at, hours),
        "first_response_due": conv.first_response_due,
        "resolution_due": conv.resolution_due,
        "breaches": len(breaches),
        "breach_kinds": sorted({b.kind for b in breaches}),
        "inbound_count": int(conv.inbound_count or 0),
        "callback_requested": conv.callback_requested_at is not None,
        # Recorded by the console's retention outcome (kept | exchanged | refunded | no_answer).
        "retention_outcome": retention.get("outcome") or None,
        "retention_offer": retention.get("offer_id") or None,
        "exported_at": exported_at,
    }


def message_row(msg: MessageModel, *, exported_at: str, include_bodies: bool) -> dict[str, Any]:
    classification = msg.classification.as_dict() if msg.classification is not None else {}  # type: ignore[no-untyped-call]
    row: dict[str, Any] = {
        "conversation_id": msg.conversation_id,
        "message_id": msg.message_id,
        "direction": msg.direction,
        "channel": msg.channel,
        "created_at": msg.created_at,
        "text_length": len(msg.text or ""),
        "attachments": len(msg.attachments or []),
        "ack": bool(msg.ack),
        "suppressed_reason": msg.suppressed_reason,
        "template": msg.template,
        "sent_by": msg.sent_by,
        "topic": classification.get("topic"),
        "language": classification.get("language"),
        "urgency": classification.get("urgency"),
        "exported_at": exported_at,
    }
    if include_bodies:
        row["subject"] = msg.subject
        row["text"] = msg.text
    return row


def conversations_updated(day: date) -> Iterator[ConversationModel]:
    """Conversations last updated on `day` (UTC).

    A filtered Scan: a once-a-day batch job over one campaign's table, never a console read. For
    very large tables DynamoDB's export to S3 is the cheaper source; this keeps the files identical.
    """
    start = datetime.combine(day, time.min, tzinfo=UTC)
    end = start + timedelta(days=1)
    yield from ConversationModel.scan(
        ConversationModel.updated_at.between(start.isoformat(timespec="milliseconds"), end.isoformat())
    )


@dataclass(frozen=True, slots=True)
class ExportResult:
    day: date
    conversations: int
    messages: int
    keys: tuple[str, ...]


def partition_key(table: str, day: date) -> str:
    return f"{PREFIX}/{table}/dt={day.isoformat()}/part-00000.jsonl"


def export_day(
    day: date,
    *,
    s3: S3Client,
    bucket: str,
    include_bodies: bool,
    now: datetime | None = None,
    hours: BusinessHours | None = None,
) -> ExportResult:
    """Write one day's partition of both tables; rerunning the same day rewrites the same files."""
    exported_at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    conv_lines: list[str] = []
    msg_lines: list[str] = []
    for conv in conversations_updated(day):
        conv_lines.append(json.dumps(conversation_row(conv, exported_at=exported_at, hours=hours), ensure_ascii=False))
        for msg in MessageModel.query(conv.conversation_id):
            msg_lines.append(
                json.dumps(message_row(msg, exported_at=exported_at, include_bodies=include_bodies), ensure_ascii=False)
            )
    keys = []
    for table, lines in (("conversations", conv_lines), ("messages", msg_lines)):
        key = partition_key(table, day)
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=("\n".join(lines) + "\n" if lines else "").encode(),
            ContentType="application/x-ndjson",
        )
        keys.append(key)
    return ExportResult(day=day, conversations=len(conv_lines), messages=len(msg_lines), keys=tuple(keys))


def export_range(
    first: date,
    last: date,
    *,
    s3: S3Client,
    bucket: str,
    include_bodies: bool,
    now: datetime | None = None,
    hours: BusinessHours | None = None,
) -> list[ExportResult]:
    out = []
    day = first
    while day <= last:
        out.append(export_day(day, s3=s3, bucket=bucket, include_bodies=include_bodies, now=now, hours=hours))
        day += timedelta(days=1)
    return out


def export_yesterday(now: datetime | None = None) -> dict[str, Any]:
    """The daily schedule's job: yesterday's (UTC) partition, into the stack's analytics bucket."""
    from chalicelib.ops.stack import StackNames
    from chalicelib.runtime import get_runtime

    rt = get_runtime()
    today = (now or rt.clock()).astimezone(UTC).date()
    result = export_day(
        today - timedelta(days=1),
        s3=rt.s3,
        bucket=StackNames.from_settings(rt.settings).analytics_bucket,
        include_bodies=rt.campaign.analytics_include_bodies,
        hours=rt.campaign.business_hours,
    )
    return {"day": result.day.isoformat(), "conversations": result.conversations, "messages": result.messages}
