"""Local throughput: web contacts at a rising arrival rate until the stack saturates; asserts nothing.

One fresh local stack, its event pump running `--concurrency` pollers per queue (as Lambda's event
source mapping runs concurrent batches). At each step of the ramp (2, 5, 10, 20 contacts/s by
default) submissions are POSTed on a fixed schedule from a pool of senders, each from its own address.
An ack's time is when the handler's SES SendRawEmail to that address returned (a botocore hook on the
pipeline's SES client, as in bench_web.py: no polling load on the emulator while measuring). Lost and
duplicated acks are counted from moto's sent mail after the step. The ramp stops at the first step
that misses the target (POST -> ack p95 <= 1 s, nothing lost); the step's intake queue depth and
POST times name the bottleneck.

    .venv/bin/python bench/bench_throughput.py [--rates 2,5,10,20] [--seconds 6] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import collections
import io
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench_web import cores, form, percentile, post_contact, quiet  # noqa: E402

TARGET_RATE = 10.0  # contacts per second
TARGET_P95_MS = 1000.0


@dataclass
class Step:
    rate: float
    posted: dict[str, float] = field(default_factory=dict)  # address -> when the POST started
    post_ms: list[float] = field(default_factory=list)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    acked: dict[str, float] = field(default_factory=dict)  # address -> when SES answered
    max_depth: int = 0
    recorded: collections.Counter[str] = field(default_factory=collections.Counter)

    def latencies(self) -> list[float]:
        return [(self.acked[a] - t) * 1000 for a, t in self.posted.items() if a in self.acked]

    @property
    def lost(self) -> int:
        return sum(1 for a in self.posted if self.recorded[a] == 0)

    @property
    def duplicated(self) -> int:
        return sum(1 for a in self.posted if self.recorded[a] > 1)

    def met(self) -> bool:
        lat = self.latencies()
        return bool(lat) and self.lost == 0 and self.duplicated == 0 and percentile(lat, 95) <= TARGET_P95_MS


class AckClock:
    """When the pipeline's SES client answered SendRawEmail, per destination address."""

    def __init__(self) -> None:
        from chalicelib import aws

        self.events = aws.ses().meta.events
        self.lock = threading.Lock()
        self.step: Step | None = None
        self.events.register("provide-client-params.ses.SendRawEmail", self._remember)
        self.events.register("after-call.ses.SendRawEmail", self._sent)

    def _remember(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_to"] = list(params.get("Destinations") or [])

    def _sent(self, context: dict[str, Any], http_response: Any = None, **_: Any) -> None:
        if http_response is None or http_response.status_code != 200 or self.step is None:
            return
        now = time.perf_counter()
        with self.lock:
            for address in context.get("bench_to", []):
                if address in self.step.posted:
                    self.step.acked.setdefault(address, now)

    def close(self) -> None:
        self.events.unregister("provide-client-params.ses.SendRawEmail", self._remember)
        self.events.unregister("after-call.ses.SendRawEmail", self._sent)


def queue_depth(stack: Any) -> int:
    attrs = stack.sqs.get_queue_attributes(
        QueueUrl=stack.env["INTAKE_QUEUE_URL"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attrs.values())


def run_step(stack: Any, clock: AckClock, rate: float, seconds: float, timeout: float) -> Step:
    from local.outbox import sent_emails

    step = Step(rate)
    run = uuid.uuid4().hex[:8]
    count = max(1, round(rate * seconds))
    addresses = [f"ramp-{run}-{i:04d}@customer.test" for i in range(count)]
    for a in addresses:
        step.posted[a] = float("inf")  # known before the first ack can arrive
    clock.step = step
    done = threading.Event()

    def watch_queue() -> None:
        while not done.wait(0.25):
            step.max_depth = max(step.max_depth, queue_depth(stack))

    def post(i: int, address: str) -> None:
        started = time.perf_counter()
        step.posted[address] = started
        status = post_contact(stack.api_url, form(address, i))
        with clock.lock:
            step.post_ms.append((time.perf_counter() - started) * 1000)
            step.statuses[status] += 1

    watcher = threading.Thread(target=watch_queue, daemon=True)
    watcher.start()
    # Enough senders that a slow POST does not hold back the schedule.
    with ThreadPoolExecutor(max_workers=max(4, int(rate * 2))) as pool:
        t0 = time.perf_counter()
        for i, address in enumerate(addresses):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(post, i, address)
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline and len(step.acked) < count:
        time.sleep(0.1)
    time.sleep(0.5)  # a late duplicate
    done.set()
    watcher.join()
    clock.step = None
    for mail in sent_emails(stack.moto_data()):
        for address in mail["to"]:
            if address in step.posted:
                step.recorded[address] += 1
    return step


def bottleneck(step: Step, concurrency: int) -> str:
    post_p95 = percentile(step.post_ms, 95) if step.post_ms else 0.0
    if post_p95 > TARGET_P95_MS / 2:
        return f"the API: POST -> 202 p95 {post_p95:.0f} ms (the local HTTP server and the raw write)"
    if step.max_depth > concurrency * 10:
        return (
            f"processing: the intake queue held up to {step.max_depth} records "
            f"({concurrency} pollers x batches of 10; each contact's calls to the emulator)"
        )
    return "neither queue nor API backed up: the machine's cores (emulator and handlers share them)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="2,5,10,20", help="contacts per second, one step each")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each step")
    parser.add_argument("--concurrency", type=int, default=4, help="pollers per queue")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds after a step's last post")
    ns = parser.parse_args(argv)
    rates = [float(r) for r in ns.rates.split(",") if r.strip()]

    from local.stack import LocalStack

    sink = io.StringIO()
    print(f"== local throughput (web form -> ack), {cores()}, pump concurrency {ns.concurrency}")
    print(f"   target: >= {TARGET_RATE:g} contacts/s with POST -> ack p95 <= {TARGET_P95_MS:.0f} ms, none lost")
    with quiet(sink):
        stack = LocalStack(pump_threads=True, forward_metrics=False, pump_concurrency=ns.concurrency).start()
    try:
        clock = AckClock()
        with quiet(sink):
            run_step(stack, clock, 1.0, 2.0, ns.timeout)  # warm: model load, first templates
        print(
            f"   {'rate/s':>6} {'sent':>5} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'lost':>5} {'dup':>4} "
            f"{'POST p95':>8} {'queue max':>9}  verdict"
        )
        sustained = 0.0
        for rate in rates:
            with quiet(sink):
                step = run_step(stack, clock, rate, ns.seconds, ns.timeout)
            lat = step.latencies()
            p50, p95, top = (percentile(lat, 50), percentile(lat, 95), max(lat)) if lat else (0.0, 0.0, 0.0)
            post95 = percentile(step.post_ms, 95) if step.post_ms else 0.0
            verdict = "met" if step.met() else "missed"
            print(
                f"   {rate:>6g} {len(step.posted):>5} {p50:>7.0f} {p95:>7.0f} {top:>7.0f} {step.lost:>5} "
                f"{step.duplicated:>4} {post95:>8.0f} {step.max_depth:>9}  {verdict}"
            )
            if not step.met():
                print(f"   saturated at {rate:g}/s; bottleneck: {bottleneck(step, ns.concurrency)}")
                break
            sustained = rate
        print(f"   sustained with p95 <= {TARGET_P95_MS:.0f} ms: {sustained:g} contacts/s (target >= {TARGET_RATE:g})")
        clock.close()
    finally:
        with quiet(sink):
            stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
