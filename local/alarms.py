"""Alarm evaluation for the local stack: moto stores alarms but never evaluates them, so this does.

For each alarm it reads the real data points with get_metric_statistics over the alarm's
evaluation window, applies CloudWatch's rule (DatapointsToAlarm of EvaluationPeriods breaching,
missing data per TreatMissingData) and records the result with set_alarm_state, as CloudWatch
would. Percentile (ExtendedStatistic) alarms are left alone: moto has no percentiles.
"""

from __future__ import annotations

import logging
import operator
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger("replydesk.local.alarms")

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


def evaluate_alarm(alarm: dict[str, Any], points: list[float]) -> str:
    """The state for the breaching/non-breaching data points of the window (missing ones not listed)."""
    compare = _COMPARE[alarm["ComparisonOperator"]]
    breaching = sum(1 for v in points if compare(v, float(alarm["Threshold"])))
    needed = int(alarm.get("DatapointsToAlarm") or alarm["EvaluationPeriods"])
    missing = int(alarm["EvaluationPeriods"]) - len(points)
    if alarm.get("TreatMissingData") == "breaching":
        breaching += max(0, missing)
    return "ALARM" if breaching >= needed else "OK"


def evaluate_all(cloudwatch: Any, now: datetime | None = None) -> dict[str, str]:
    """Evaluate every metric alarm once; returns alarm name -> state it is in afterwards."""
    now = now or datetime.now(UTC)
    out: dict[str, str] = {}
    for alarm in cloudwatch.describe_alarms()["MetricAlarms"]:
        if "Statistic" not in alarm:
            out[alarm["AlarmName"]] = alarm["StateValue"]  # percentile alarm: not evaluated locally
            continue
        period = int(alarm["Period"])
        stats = cloudwatch.get_metric_statistics(
            Namespace=alarm["Namespace"],
            MetricName=alarm["MetricName"],
            Dimensions=alarm.get("Dimensions", []),
            StartTime=now - timedelta(seconds=period * int(alarm["EvaluationPeriods"])),
            EndTime=now + timedelta(seconds=1),
            Period=period,
            Statistics=[alarm["Statistic"]],
        )
        points = [float(p[alarm["Statistic"]]) for p in stats["Datapoints"]]
        state = evaluate_alarm(alarm, points)
        if state != alarm["StateValue"]:
            cloudwatch.set_alarm_state(
                AlarmName=alarm["AlarmName"],
                StateValue=state,
                StateReason=f"local evaluation of {len(points)} data point(s) against {alarm['Threshold']}",
            )
        out[alarm["AlarmName"]] = state
    return out


class AlarmEvaluator:
    """Evaluates every alarm each minute while `make run` is up (CloudWatch does this on AWS)."""

    def __init__(self, cloudwatch: Any, every_seconds: float = 60.0) -> None:
        self.cloudwatch = cloudwatch
        self.every_seconds = every_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="alarms", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_seconds):
            try:
                evaluate_all(self.cloudwatch)
            except Exception:
                log.exception("evaluating alarms failed")

    def start(self) -> AlarmEvaluator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
