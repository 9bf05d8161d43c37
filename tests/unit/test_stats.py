"""`stats summary`: the indices computed from conversation items as DynamoDB returns them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.config import load_campaign
from chalicelib.ops.indices import percentile
from chalicelib.ops.stats import summarise
from cli.stats_cmd import parse_when, render_summary

pytestmark = pytest.mark.unit

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _conv(cid: str, created: datetime, **fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "conversation_id": {"S": cid},
        "created_at": {"S": created.isoformat()},
        "queue": {"S": fields.pop("queue", "general")},
        "status": {"S": fields.pop("status", "open")},
        "channel": {"S": fields.pop("channel", "email")},
        "topic": {"S": fields.pop("topic", "returns")},
        "language": {"S": fields.pop("language", "en")},
    }
    breaches = fields.pop("breaches", [])
    if breaches:
        item["breaches"] = {
            "L": [{"M": {"kind": {"S": k}, "level": {"N": str(lvl)}, "at": {"S": "x"}}} for k, lvl in breaches]
        }
    for key, value in fields.items():
        item[key] = {"S": value.isoformat()}
    return item


def test_percentile_is_nearest_rank() -> None:
    # GIVEN ten values WHEN p50/p90 THEN the 5th and 9th smallest
    values = [float(v) for v in range(10, 0, -1)]
    assert percentile(values, 50) == 5.0
    assert percentile(values, 90) == 9.0
    assert percentile([], 50) is None


def test_summary_first_response_sla_backlog_and_contacts() -> None:
    campaign = load_campaign("demo")
    # GIVEN three conversations in the period: answered in time, answered late, still waiting
    convs = [
        _conv(
            "RD-A",
            T0,
            first_response_at=T0 + timedelta(seconds=60),
            first_response_due=T0 + timedelta(minutes=5),
            resolved_at=T0 + timedelta(minutes=10),
            resolution_due=T0 + timedelta(minutes=30),
            status="resolved",
        ),
        _conv(
            "RD-B",
            T0,
            channel="sms",
            language="sv",
            first_response_at=T0 + timedelta(minutes=8),
            first_response_due=T0 + timedelta(minutes=5),
            breaches=[("first_response", 1)],
            status="pending_customer",
        ),
        _conv("RD-C", T0 + timedelta(minutes=1), queue="refunds", topic="billing", first_response_due=T0, status="new"),
        # and one from before the period, still waiting: backlog counts it, the period's indices do not
        _conv("RD-OLD", T0 - timedelta(days=30), status="open"),
    ]
    now = T0 + timedelta(hours=1)
    # WHEN summarised
    s = summarise(
        convs,
        campaign,
        since=T0 - timedelta(hours=1),
        until=now,
        now=now,
        suppressed={"RD-C": ["auto_reply"]},
    ).to_dict()
    # THEN the indices are those of the three conversations of the period
    assert s["conversations"] == 3
    assert s["first_response_seconds"]["calendar"] == {"p50": 60.0, "p90": 480.0, "count": 2.0}
    # the demo campaign is always open, so business time equals calendar time
    assert s["first_response_seconds"]["business_hours"]["p90"] == 480.0
    assert s["resolution_seconds"]["p50"] == 600.0
    assert s["queues"]["general"]["sla_met_percent"] == 50.0
    # unanswered and overdue: not an SLA outcome yet (as the metric), but overdue in the backlog
    assert s["queues"]["refunds"]["first_response_missed"] == 0
    assert s["queues"]["refunds"]["overdue"] == 1
    assert s["queues"]["general"]["waiting"] == 1  # RD-OLD; RD-B waits for the customer
    assert s["queues"]["general"]["oldest_waiting_seconds"] == pytest.approx(
        (now - (T0 - timedelta(days=30))).total_seconds()
    )
    assert s["breaches"] == {"first_response/level 1": 1}
    assert s["by_channel"] == {"email": 2, "sms": 1}
    assert s["by_topic"] == {"billing": 1, "returns": 2}
    assert s["by_language"] == {"en": 2, "sv": 1}
    assert s["acks_suppressed"] == {"auto_reply": 1}
    assert "general" in render_summary(s)


def test_parse_when_relative_and_iso() -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert parse_when("7d", now=now) == now - timedelta(days=7)
    assert parse_when("2026-11-30", now=now) == datetime(2026, 11, 30, tzinfo=UTC)
