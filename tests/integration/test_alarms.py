"""The campaign's alarms exist in the local stack and one is driven into ALARM by real data points.

moto stores alarms but never evaluates them; local/alarms.py does CloudWatch's part from the data
points moto holds (get_metric_statistics), so the test drives the data, not the state.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from chalicelib.ops import indices
from local.alarms import evaluate_all
from local.emf import EmfForwarder

pytestmark = pytest.mark.integration


def test_alarms_exist_and_sla_miss_rate_goes_into_alarm(stack: Any) -> None:
    cw = stack.client("cloudwatch")
    prefix = f"replydesk-{stack.campaign_name}-{stack.stage}-"
    alarms = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]}
    # GIVEN the template's alarms, all to the operators topic and quiet on missing data
    operators = stack.resources["OperatorsTopic"].ref
    assert len(alarms) == 19
    for alarm in alarms.values():
        assert alarm["TreatMissingData"] == "notBreaching", alarm["AlarmName"]
        assert alarm["AlarmActions"] == [operators], alarm["AlarmName"]
    miss = alarms[prefix + "sla-miss-rate"]
    assert miss["Threshold"] == pytest.approx(stack.campaign.alarms.sla_miss_rate)
    assert alarms[prefix + "ack-latency-p95"]["Threshold"] == 30_000
    # WHEN they are evaluated with no SLA outcome data yet THEN the SLA alarm is OK (missing = not breaching)
    assert evaluate_all(cw)[miss["AlarmName"]] == "OK"
    # WHEN staff answer three conversations after their first-response deadline (the metric the reply path emits)
    fwd = EmfForwarder(cw)
    fwd.install()
    try:
        now = datetime.now(UTC)
        for n in range(3):
            late = SimpleNamespace(
                created_at=(now - timedelta(minutes=20 + n)).isoformat(),
                queue="general",
                first_response_due=(now - timedelta(minutes=15)).isoformat(),
                resolution_due=None,
            )
            indices.observe_first_response(late, now, stack.campaign)
        assert fwd.wait_idle(timeout=20)
    finally:
        fwd.uninstall()
    states = evaluate_all(cw)
    # THEN the miss-rate alarm is in ALARM, from the data points, and the DLQ alarms stay OK
    assert states[miss["AlarmName"]] == "ALARM"
    after = cw.describe_alarms(AlarmNames=[miss["AlarmName"]])["MetricAlarms"][0]
    assert after["StateValue"] == "ALARM" and "data point" in after["StateReason"]
    assert states[prefix + "intake-dlq-not-empty"] == "OK"
    # AND the percentile alarm is reported, not evaluated (moto has no percentiles)
    assert states[prefix + "ack-latency-p95"] == alarms[prefix + "ack-latency-p95"]["StateValue"]


def _ack_latencies(stack: Any, at: datetime, values: list[float]) -> None:
    """What the ack path prints: AckLatency under {campaign, stage}, stamped `at` (EMF Timestamp)."""
    import json

    blob = {
        "_aws": {
            "Timestamp": int(at.timestamp() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": "replydesk",
                    "Dimensions": [["campaign", "stage"]],
                    "Metrics": [{"Name": "AckLatency", "Unit": "Milliseconds"}],
                }
            ],
        },
        "campaign": stack.campaign_name,
        "stage": stack.stage,
        "AckLatency": values,
    }
    print(json.dumps(blob))


def test_the_ack_latency_p95_alarm_is_evaluated_from_the_forwarded_samples(stack: Any) -> None:
    from local.alarms import SampleStore, percentile

    cw = stack.client("cloudwatch")
    name = f"replydesk-{stack.campaign_name}-{stack.stage}-ack-latency-p95"
    samples = SampleStore()
    fwd = EmfForwarder(cw, samples)
    now = datetime.now(UTC)
    fwd.install()
    try:
        # GIVEN two five-minute periods in each of which 1 ack of 20 took 40 s, the rest 1 s
        for minutes in (1, 6):
            _ack_latencies(stack, now - timedelta(minutes=minutes), [1_000.0] * 19 + [40_000.0])
        assert fwd.wait_idle(timeout=20)
        # WHEN the alarms are evaluated with the forwarded samples
        # THEN the p95 (nearest rank: the 19th of 20) is 1 s in both periods: OK
        assert evaluate_all(cw, now, samples=samples)[name] == "OK"
        # WHEN three more slow acks land in each of those periods (p95 is now the 22nd of 23: 40 s)
        for minutes in (1, 6):
            _ack_latencies(stack, now - timedelta(minutes=minutes), [40_000.0] * 3)
        assert fwd.wait_idle(timeout=20)
    finally:
        fwd.uninstall()
    # THEN 2 of the 3 periods breach the 30 s threshold and the alarm goes into ALARM, from those samples
    assert evaluate_all(cw, now, samples=samples)[name] == "ALARM"
    after = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    assert after["StateValue"] == "ALARM" and "2 data point(s)" in after["StateReason"]
    # AND only breaching periods count: with the samples of one period alone it is OK again
    one = SampleStore()
    one.record("replydesk", [{"MetricName": "AckLatency", "Dimensions": after["Dimensions"], "Value": 40_000.0}], now)
    assert evaluate_all(cw, now, samples=one)[name] == "OK"
    assert percentile([1.0, 2.0, 3.0, 4.0], "p50") == 2.0 and percentile([5.0], "p99") == 5.0
