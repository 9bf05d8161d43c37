"""The scheduler: what EventBridge's schedule rules do for the app's @app.schedule functions, in-process.

Each scheduled handler is invoked with a real scheduled-event payload on its rate. Cron expressions
are not emulated: the harness logs them and leaves them to their on-demand commands. Tests call
`run_all()` to fire every rate schedule once, deterministically, as they call the pump's `drain()`.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from chalice.app import Rate, ScheduledEventConfig
from chalice.local import LambdaContext

log = logging.getLogger("replydesk.local.scheduler")
_SECONDS = {Rate.MINUTES: 60, Rate.HOURS: 3600, Rate.DAYS: 86400}


@dataclass
class Schedule:
    name: str
    every_seconds: float
    handler: Callable[[dict[str, Any], Any], Any]


def schedules_for(app_module: ModuleType, region: str) -> list[Schedule]:
    out = []
    for source in app_module.app.event_sources:
        if not isinstance(source, ScheduledEventConfig):
            continue
        expr = source.schedule_expression
        if not isinstance(expr, Rate):
            # A cron schedule (the daily analytics export) has an on-demand command instead:
            # the harness does not guess at wall-clock times; `replydesk analytics export` runs it.
            log.info("not scheduled locally (cron): %s", source.name)
            continue
        handler_name = source.handler_string.split(".", 1)[1]
        out.append(Schedule(source.name, expr.value * _SECONDS[expr.unit], getattr(app_module, handler_name)))
    return out


def scheduled_event(name: str, region: str, now: datetime | None = None) -> dict[str, Any]:
    """The EventBridge 'Scheduled Event' payload a Lambda receives."""
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": when,
        "region": region,
        "resources": [f"arn:aws:events:{region}:123456789012:rule/{name}"],
        "detail": {},
    }


class Scheduler:
    def __init__(self, schedules: list[Schedule], region: str) -> None:
        self.schedules = schedules
        self.region = region
        self.runs = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def run(self, schedule: Schedule) -> Any:
        context = LambdaContext(schedule.name, 512, max_runtime_ms=60_000)
        context.aws_request_id = str(uuid.uuid4())
        self.runs += 1
        return schedule.handler(scheduled_event(schedule.name, self.region), context)

    def run_all(self) -> dict[str, Any]:
        return {s.name: self.run(s) for s in self.schedules}

    def _loop(self, schedule: Schedule) -> None:
        while not self._stop.wait(schedule.every_seconds):
            try:
                self.run(schedule)
            except Exception:
                # EventBridge invokes again on the next tick; a failure is logged, never fatal.
                log.exception("scheduled %s failed", schedule.name)

    def start(self) -> None:
        for s in self.schedules:
            t = threading.Thread(target=self._loop, args=(s,), name=f"schedule-{s.name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
