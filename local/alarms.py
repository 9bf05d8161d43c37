"""Alarm evaluation for the local stack: moto stores alarms but never evaluates them, so this does.

For each alarm it reads the real data points with get_metric_statistics over the alarm's
evaluation window, applies CloudWatch's rule (DatapointsToAlarm of EvaluationPeriods breaching,
missing data per TreatMissingData) and records the result with set_alarm_state, as CloudWatch
would. moto computes no percentiles, so percentile (ExtendedStatistic) alarms are evaluated from the
samples themselves: the EMF forwarder keeps each value it sends to moto (`SampleStore`), and the
percentile of each period is taken over them (nearest rank), as CloudWatch does over what it receives.
"""

from __future__ import annotations

import logging
import math
import operator
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger("replydesk.local.alarms")

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


class SampleStore:
    """The metric values forwarded to moto, with their EMF timestamps, for the percentile alarms.

    Bounded: the newest `max_samples` are kept (far more than an alarm's window holds locally).
    """

    def __init__(self, max_samples: int = 200_000) -> None:
        self._samples: deque[tuple[str, str, frozenset[tuple[str, str]], datetime, float]] = deque(maxlen=max_samples)
        self._lock = threading.Lock()

    def record(self, namespace: str, data: Iterable[Mapping[str, Any]], at: datetime) -> None:
        with self._lock:
            for d in data:
                dims = frozenset((x["Name"], x["Value"]) for x in d.get("Dimensions", []))
                self._samples.append((namespace, d["MetricName"], dims, at, float(d["Value"])))

    def values(
        self, namespace: str, metric: str, dimensions: Iterable[Mapping[str, str]], start: datetime, end: datetime
    ) -> list[tuple[datetime, float]]:
        """The samples of exactly this metric and dimension set with start <= time < end."""
        dims = frozenset((d["Name"], d["Value"]) for d in dimensions)
        with self._lock:
            return [
                (at, v)
                for ns, name, ds, at, v in self._samples
                if ns == namespace and name == metric and ds == dims and start <= at < end
            ]


def percentile(values: list[float], stat: str) -> float:
    """`p95` etc. of the values, nearest rank (the definition `replydesk stats` and analytics use)."""
    q = float(stat[1:])
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def percentile_points(alarm: Mapping[str, Any], samples: SampleStore, now: datetime) -> list[float]:
    """One data point per evaluation period that has samples: the period's percentile."""
    period = timedelta(seconds=int(alarm["Period"]))
    periods = int(alarm["EvaluationPeriods"])
    end = now + timedelta(seconds=1)
    points = []
    for i in range(periods):
        hi = end - i * period
        found = samples.values(alarm["Namespace"], alarm["MetricName"], alarm.get("Dimensions", []), hi - period, hi)
        if found:
            points.append(percentile([v for _at, v in found], alarm["ExtendedStatistic"]))
    return points


def evaluate_alarm(alarm: dict[str, Any], points: list[float]) -> str:
    """The state for the breaching/non-breaching data points of the window (missing ones not listed)."""
    compare = _COMPARE[alarm["ComparisonOperator"]]
    breaching = sum(1 for v in points if compare(v, float(alarm["Threshold"])))
    needed = int(alarm.get("DatapointsToAlarm") or alarm["EvaluationPeriods"])
    missing = int(alarm["EvaluationPeriods"]) - len(points)
    if alarm.get("TreatMissingData") == "breaching":
        breaching += max(0, missing)
    return "ALARM" if breaching >= needed else "OK"


def evaluate_all(
    cloudwatch: Any, now: datetime | None = None, *, samples: SampleStore | None = None, prefix: str = ""
) -> dict[str, str]:
    """Evaluate every metric alarm once; returns alarm name -> state it is in afterwards.

    Percentile alarms need `samples` (what the EMF forwarder sent); without them they keep their state.
    """
    now = now or datetime.now(UTC)
    out: dict[str, str] = {}
    found = cloudwatch.describe_alarms(**({"AlarmNamePrefix": prefix} if prefix else {}))["MetricAlarms"]
    for alarm in found:
        if "Statistic" in alarm:
            points = _statistic_points(cloudwatch, alarm, now)
        elif samples is not None and "ExtendedStatistic" in alarm:
            points = percentile_points(alarm, samples, now)
        else:
            out[alarm["AlarmName"]] = alarm["StateValue"]  # percentile alarm without samples: left alone
            continue
        state = evaluate_alarm(alarm, points)
        if state != alarm["StateValue"]:
            cloudwatch.set_alarm_state(
                AlarmName=alarm["AlarmName"],
                StateValue=state,
                StateReason=f"local evaluation of {len(points)} data point(s) against {alarm['Threshold']}",
            )
        out[alarm["AlarmName"]] = state
    return out


def _statistic_points(cloudwatch: Any, alarm: Mapping[str, Any], now: datetime) -> list[float]:
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
    return [float(p[alarm["Statistic"]]) for p in stats["Datapoints"]]


class AlarmEvaluator:
    """Evaluates every alarm each minute while `make run` is up (CloudWatch does this on AWS)."""

    def __init__(
        self, cloudwatch: Any, every_seconds: float = 60.0, samples: SampleStore | None = None, prefix: str = ""
    ) -> None:
        self.cloudwatch = cloudwatch
        self.prefix = prefix  # the alarms of one stack (`replydesk-<campaign>-<stage>-`), or all
        self.every_seconds = every_seconds
        self.samples = samples
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="alarms", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_seconds):
            try:
                evaluate_all(self.cloudwatch, samples=self.samples, prefix=self.prefix)
            except Exception:
                log.exception("evaluating alarms failed")

    def start(self) -> AlarmEvaluator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
