"""Forward the EMF lines handlers print to CloudWatch put_metric_data, as Lambda's log pipeline would."""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from local.alarms import SampleStore

log = logging.getLogger("replydesk.local.emf")


def metric_data(blob: dict[str, Any]) -> tuple[str, list[dict[str, Any]]] | None:
    """One EMF blob -> (namespace, MetricData entries), or None if the line is not EMF."""
    meta = blob.get("_aws")
    if not isinstance(meta, dict):
        return None
    out: list[dict[str, Any]] = []
    namespace = "replydesk"
    for directive in meta.get("CloudWatchMetrics", []):
        namespace = directive.get("Namespace", namespace)
        # Each dimension set is a metric of its own in CloudWatch (EMF specification).
        for group in directive.get("Dimensions", []) or [[]]:
            dimensions = [{"Name": d, "Value": str(blob[d])} for d in dict.fromkeys(group) if d in blob]
            for metric in directive.get("Metrics", []):
                values = blob.get(metric["Name"])
                for value in values if isinstance(values, list) else [values]:
                    if isinstance(value, int | float):
                        out.append(
                            {
                                "MetricName": metric["Name"],
                                "Dimensions": dimensions,
                                "Value": float(value),
                                "Unit": metric.get("Unit", "None"),
                            }
                        )
    return namespace, out


def _timestamp(blob: dict[str, Any]) -> datetime:
    """The EMF blob's own time (milliseconds since the epoch), else now."""
    ms = blob.get("_aws", {}).get("Timestamp")
    if isinstance(ms, int | float):
        return datetime.fromtimestamp(ms / 1000, UTC)
    return datetime.now(UTC)


class _Tee:
    def __init__(self, inner: TextIO, sink: queue.Queue[str]) -> None:
        self.inner = inner
        self.sink = sink

    def write(self, text: str) -> int:
        if '"_aws"' in text:
            self.sink.put(text)
        return self.inner.write(text)

    def flush(self) -> None:
        self.inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class EmfForwarder:
    def __init__(self, cloudwatch: Any, samples: SampleStore | None = None) -> None:
        self.cloudwatch = cloudwatch
        # Each forwarded value with its EMF timestamp: local/alarms.py takes percentiles over them.
        self.samples = samples
        self.lines: queue.Queue[str] = queue.Queue()
        self.forwarded = 0
        self._original: TextIO | None = None
        self._thread = threading.Thread(target=self._run, name="emf", daemon=True)

    def install(self) -> None:
        self._original = sys.stdout
        sys.stdout = _Tee(sys.stdout, self.lines)
        self._thread.start()

    def uninstall(self) -> None:
        if self._original is not None:
            sys.stdout = self._original
            self._original = None

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every line seen so far is forwarded (tests read CloudWatch right after a flow)."""
        deadline = time.monotonic() + timeout
        while self.lines.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self.lines.unfinished_tasks

    def _run(self) -> None:
        while True:
            text = self.lines.get()
            try:
                self._forward(text)
            finally:
                self.lines.task_done()

    def _forward(self, text: str) -> None:
        for line in text.splitlines():
            try:
                blob = json.loads(line)
                parsed = metric_data(blob)
            except (ValueError, TypeError):
                continue
            if not parsed or not parsed[1]:
                continue
            namespace, data = parsed
            try:
                for i in range(0, len(data), 20):
                    self.cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[i : i + 20])
                self.forwarded += len(data)
            except Exception:
                log.exception("forwarding metrics failed")
                continue
            if self.samples is not None:
                self.samples.record(namespace, data, _timestamp(blob))
