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
