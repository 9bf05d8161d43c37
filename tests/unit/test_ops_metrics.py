"""Metrics carry campaign and stage under fixed dimension sets; the dashboard and alarms use exactly those."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.config import load_campaign
from chalicelib.metrics import Metric, blob, count, dimension_sets
from chalicelib.ops import alarms, dashboard
from chalicelib.ops.backlog import Waiting, queue_backlog
from chalicelib.ops.indices import elapsed
from local.alarms import evaluate_alarm
from local.emf import metric_data

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _stack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLYDESK_CAMPAIGN", "demo")
    monkeypatch.setenv("REPLYDESK_STAGE", "dev")


def _emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]


def test_every_blob_carries_campaign_and_stage_under_the_declared_sets(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a breach counted with its queue, kind and level
    count(Metric.SLA_BREACHED, queue="general", kind="first_response", level="2")
    # WHEN the EMF line is read
    (b,) = _emitted(capsys)
    directive = b["_aws"]["CloudWatchMetrics"][0]
    # THEN it is one data point under both declared sets, each starting with campaign and stage
    assert directive["Namespace"] == "replydesk"
    assert directive["Dimensions"] == [["campaign", "stage", "queue", "kind"], ["campaign", "stage", "kind", "level"]]
    assert (b["campaign"], b["stage"], b["SlaBreached"]) == ("demo", "dev", [1.0])
    assert "service" not in b  # the constant service name is no dimension of ours
    # AND the local forwarder turns it into one CloudWatch datum per set
    _, data = metric_data(b)
    assert [sorted(d["Name"] for d in datum["Dimensions"]) for datum in data] == [
        ["campaign", "kind", "queue", "stage"],
        ["campaign", "kind", "level", "stage"],
    ]


def test_undeclared_dimensions_are_dropped_and_missing_ones_filled() -> None:
    # GIVEN a caller passing an id (never a dimension) and no channel
    b = blob(Metric.ACK_SENT, dashboard_unit(), 1, {"conversation_id": "RD-ABC123"})
    # THEN the set stays fixed: the id is gone, the channel is "unknown"
    assert "conversation_id" not in b
    assert b["channel"] == "unknown"


def dashboard_unit() -> Any:
    from aws_lambda_powertools.metrics import MetricUnit

    return MetricUnit.Count


def test_dashboard_lines_name_only_emitted_dimension_sets_and_fit_the_grid() -> None:
    campaign = load_campaign("demo")
    body = dashboard.body(campaign, "dev")
    texts = [w for w in body["widgets"] if w["type"] == "text"]
    metrics = [w for w in body["widgets"] if w["type"] == "metric"]
    # THEN every row opens with a text widget across the grid, and no row is wider than 24 columns
    assert len(texts) == 6 and all(t["width"] == 24 for t in texts)
    rows: dict[int, int] = {}
    for w in metrics:
        rows[w["y"]] = rows.get(w["y"], 0) + w["width"]
    assert all(width <= 24 for width in rows.values())
    # AND every line of ours is a metric under exactly one of its emitted sets, for this campaign and stage
    names = {m.value for m in Metric}
    for w in metrics:
        for entry in w["properties"]["metrics"]:
            line = dashboard.parse_line(entry)
            if line.namespace != "replydesk":
                assert line.namespace.startswith("AWS/") and line.aws_only
                continue
            assert line.metric in names
            keys = sorted(k for k, _ in line.dimensions)
            assert keys in [sorted(s) for s in dimension_sets(Metric(line.metric))], (line.metric, keys)
            assert dict(line.dimensions)["campaign"] == "demo" and dict(line.dimensions)["stage"] == "dev"


def test_a_line_with_a_set_nobody_emits_is_refused() -> None:
    lines = dashboard._Lines("demo", "dev")
    with pytest.raises(ValueError, match="not emitted"):
        lines(Metric.ACK_LATENCY, "Average", "x", channel="email")


def test_alarms_go_to_operators_and_are_quiet_on_missing_data() -> None:
    res = alarms.alarm_resources(load_campaign("demo"), "dev")
    assert {"IntakeDeadLetterAlarm", "EventsDeadLetterAlarm", "AckLatencyAlarm", "SlaMissRateAlarm"} <= set(res)
    for r in res.values():
        p = r["Properties"]
        assert p["TreatMissingData"] == "notBreaching"
        assert p["AlarmActions"] == [{"Ref": "OperatorsTopic"}]
    assert res["AckLatencyAlarm"]["Properties"]["ExtendedStatistic"] == "p95"


def test_backlog_counts_waiting_oldest_and_overdue() -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    waiting = [
        Waiting(since=now - timedelta(minutes=10), due=now - timedelta(minutes=1)),
        Waiting(since=now - timedelta(minutes=2), due=now + timedelta(minutes=3)),
    ]
    b = queue_backlog("general", waiting, now)
    assert (b.open, b.oldest_age_seconds, b.overdue) == (2, 600.0, 1)
    assert queue_backlog("empty", [], now).oldest_age_seconds == 0.0


def test_business_hours_elapsed_skips_the_night() -> None:
    # GIVEN a campaign open 08-18 (Stockholm) and a message at 17:30 answered 08:30 next morning
    from dataclasses import replace

    campaign = load_campaign("demo")
    hours = replace(campaign.business_hours, always_open=False)
    start = datetime(2026, 12, 1, 16, 30, tzinfo=UTC)  # 17:30 in Stockholm (UTC+1)
    end = datetime(2026, 12, 2, 7, 30, tzinfo=UTC)
    e = elapsed(start, end, hours)
    assert e.calendar_seconds == 15 * 3600
    assert e.business_seconds == 3600  # 30 minutes that evening, 30 the next morning


@pytest.mark.parametrize(
    ("points", "evaluation", "needed", "state"),
    [([], 1, None, "OK"), ([0.5], 1, None, "ALARM"), ([0.5, 0.0], 2, 2, "OK"), ([0.5, 0.3], 2, 2, "ALARM")],
)
def test_local_alarm_evaluation(points: list[float], evaluation: int, needed: int | None, state: str) -> None:
    alarm = {
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 0.2,
        "EvaluationPeriods": evaluation,
        "TreatMissingData": "notBreaching",
    }
    if needed:
        alarm["DatapointsToAlarm"] = needed
    assert evaluate_alarm(alarm, points) == state


def test_dashboard_metric_rows_parse_back_into_the_lines_they_came_from() -> None:
    # GIVEN the body as the template stores it WHEN the local page parses each metric row back
    body = dashboard.body(load_campaign("demo"), "dev")
    rows = [e for w in body["widgets"] if w["type"] == "metric" for e in w["properties"]["metrics"]]
    lines = [dashboard.parse_line(e) for e in rows]
    # THEN namespace, name, dimensions, statistic and label survive
    first = lines[0]
    assert (first.namespace, first.metric, first.stat) == ("replydesk", "MessagesReceived", "Sum")
    assert dict(first.dimensions) == {"campaign": "demo", "stage": "dev", "channel": "email"}
    # AND a percentile of ours is marked AWS-only for its statistic, an AWS/* line for its namespace
    (p95,) = [ln for ln in lines if ln.metric == "AckLatency" and ln.stat == "p95"]
    assert p95.aws_only and "computed by CloudWatch" in p95.aws_only
    lambda_line = next(ln for ln in lines if ln.namespace == "AWS/Lambda")
    assert lambda_line.aws_only and "AWS/Lambda" in lambda_line.aws_only


def test_scheduler_runs_every_rate_schedule_of_the_app_with_a_scheduled_event() -> None:
    from types import ModuleType

    from chalice import Chalice, Rate

    from local.scheduler import Scheduler, schedules_for

    # GIVEN an app with one schedule every 5 minutes
    seen: list[dict[str, Any]] = []
    mod = ModuleType("fake_app")
    mod.app = Chalice(app_name="t")  # type: ignore[attr-defined]

    @mod.app.schedule(Rate(5, unit=Rate.MINUTES), name="tick")  # type: ignore[attr-defined]
    def tick(event: Any) -> str:
        seen.append(event.to_dict())
        return "ran"

    mod.tick = tick  # type: ignore[attr-defined]
    # WHEN the harness reads its schedules and fires them once
    (schedule,) = schedules_for(mod, "us-east-1")
    out = Scheduler([schedule], "us-east-1").run_all()
    # THEN the handler got EventBridge's scheduled-event shape, on the deployed rate
    assert schedule.every_seconds == 300 and out == {"tick": "ran"}
    assert seen[0]["detail-type"] == "Scheduled Event" and seen[0]["source"] == "aws.events"


def test_local_dashboard_takes_a_percentile_per_period_over_the_forwarded_values() -> None:
    from local.alarms import SampleStore
    from local.dashboard import from_samples, percentile_series

    # GIVEN ack latencies the EMF forwarder sent in two one-minute periods, and one of another dimension set
    start = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    line = dashboard.parse_line(
        ["replydesk", "AckLatency", "campaign", "demo", "stage", "dev", {"stat": "p95", "label": "p95"}]
    )
    samples = SampleStore()
    dims = [{"Name": "campaign", "Value": "demo"}, {"Name": "stage", "Value": "dev"}]
    for second, value in [(1, 100.0), (2, 200.0), (3, 900.0), (70, 50.0)]:
        samples.record(
            "replydesk",
            [{"MetricName": "AckLatency", "Value": value, "Dimensions": dims}],
            start + timedelta(seconds=second),
        )
    samples.record(
        "replydesk",
        [{"MetricName": "AckLatency", "Value": 5000.0, "Dimensions": [*dims, {"Name": "channel", "Value": "sms"}]}],
        start + timedelta(seconds=5),
    )
    # WHEN the local dashboard draws the p95 line over three minutes
    series = percentile_series(line, samples, start=start, end=start + timedelta(minutes=3), period=60)
    # THEN each period with values has its nearest-rank p95 over exactly that dimension set, the empty one none
    assert series.timestamps == (start, start + timedelta(minutes=1))
    assert series.values == (900.0, 50.0)
    # AND the line counts as drawn locally, while an average is still asked of moto and AWS/* stays AWS-only
    assert from_samples(line, samples) and series.aws_only is None
    assert not from_samples(dashboard.parse_line(["replydesk", "AckLatency", {"stat": "Average"}]), samples)
    assert not from_samples(dashboard.parse_line(["AWS/Lambda", "Duration", {"stat": "p95"}]), samples)
