"""What the benchmark scripts share: percentiles, a quiet stack, the machine line, a steady sender."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile; NaN for no values, so an empty run prints as such instead of failing."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, -(-len(ordered) * p // 100) - 1))
    return ordered[int(k)]


@contextlib.contextmanager
def quiet(sink: io.StringIO) -> Iterator[None]:
    """The handlers print JSON logs and EMF to stdout, Chalice's local server a line per request to stderr."""
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield


def cores() -> str:
    total = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else total
    return f"{total} cores ({usable} usable)"


def machine() -> str:
    return f"{cores()}, Python {sys.version.split()[0]}"


def steady(items: Sequence[T], rate: float, send: Callable[[int, T], None]) -> None:
    """Send item i at start + i/rate: a fixed schedule, so the time a send takes does not slow the rate."""
    t0 = time.perf_counter()
    for i, item in enumerate(items):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        send(i, item)


def ack_arguments(what: str) -> argparse.Namespace:
    """The options of the steady-rate ack benchmarks: how many, how fast, how long to wait."""
    import __main__

    doc = __main__.__doc__
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument(
        "--rate",
        type=float,
        default=2.0,
        help=f"{what} per second (below what the local stack sustains, so no backlog)",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help=f"seconds to wait for acks after the last of the {what} was sent"
    )
    return parser.parse_args()


def print_ack_figures(
    sent_at: Mapping[str, float],
    acks: FirstAck,
    recorded: Mapping[str, int],
    *,
    pump_failures: int,
    elapsed: float,
) -> None:
    """The latency, loss and throughput lines every ack benchmark prints, from when each recipient was
    sent to, when its first ack left and how many acks moto recorded for it."""
    latencies = [(acks.at[r] - t) * 1000 for r, t in sent_at.items() if r in acks.at]
    lost = sum(1 for r in sent_at if not recorded.get(r))
    duplicated = sum(1 for n in recorded.values() if n > 1)
    if latencies:
        p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
        print(
            f"  latency p50 / p95 / max     {p50:.0f} / {p95:.0f} / {max(latencies):.0f} ms"
            f"   (mean {statistics.fmean(latencies):.0f} ms)"
        )
    print(f"  lost / duplicated           {lost} / {duplicated}   (acks moto recorded: {sum(recorded.values())})")
    print(f"  pump record failures        {pump_failures}")
    print(f"  wall time until all acked   {elapsed:.1f} s ({len(acks.at) / elapsed:.1f} acks/s)")


class FirstAck:
    """When the first ack to each wanted recipient left: botocore hooks on the runtime's cached client.

    `provide-client-params` sees the API parameters and `after-call` the moment moto answered; both get
    the same request context. No polling load on the emulator while measuring.
    """

    def __init__(self, wanted: Iterable[str]) -> None:
        self.wanted = set(wanted)
        self.at: dict[str, float] = {}
        self.all = threading.Event()
        self._lock = threading.Lock()
        self._unwatch: list[Callable[[], object]] = []

    def watch(self, client: Any, operation: str, recipients: Callable[[dict[str, Any]], Iterable[str | None]]) -> None:
        service = client.meta.service_model.service_name

        def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            context["bench_to"] = [r for r in recipients(params) if r]

        def answered(context: dict[str, Any], http_response: Any = None, **_: Any) -> None:
            if http_response is None or http_response.status_code != 200:
                return
            now = time.perf_counter()
            with self._lock:
                for to in context.get("bench_to", []):
                    if to in self.wanted:
                        self.at.setdefault(to, now)
                if len(self.at) == len(self.wanted):
                    self.all.set()

        hooks = {
            f"provide-client-params.{service}.{operation}": remember,
            f"after-call.{service}.{operation}": answered,
        }
        for event, hook in hooks.items():
            client.meta.events.register(event, hook)
        self._unwatch.append(lambda: [client.meta.events.unregister(e, h) for e, h in hooks.items()])

    def unwatch(self) -> None:
        """Take the hooks off again, for a benchmark that goes on using the same client."""
        while self._unwatch:
            self._unwatch.pop()()
