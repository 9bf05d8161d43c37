"""SMS in → ack SMS recorded on a fresh local stack: latency p50/p95/max, lost, duplicated; asserts nothing.

Each message comes from its own phone number and is published at a steady rate to the inbound-sms
topic, as the two-way SMS number does; the stack's pump threads process the intake queue as Lambda's
event source mapping would. An ack's time is when the handler's SNS publish to that phone returned,
that is when moto recorded it (a botocore `after-call` hook on the runtime's SNS client: no polling
load on the emulator while measuring). Lost and duplicated are counted from what moto recorded
(/moto-api/data.json), read once at the end.

    .venv/bin/python bench/bench_sms.py [--count 200] [--rate 2] [--timeout 60]
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchlib import FirstAck, ack_arguments, machine, print_ack_figures, steady  # noqa: E402


def phones(count: int) -> list[str]:
    """Distinct valid Swedish mobile numbers; none ends in 99 (moto's SNS says those opted out)."""
    out: list[str] = []
    n = 1_000_000
    while len(out) < count:
        if n % 100 != 99:
            out.append(f"+4670{n:07d}")
        n += 1
    return out


def main(count: int, rate: float, timeout: float) -> None:
    # The handlers print JSON logs and EMF to stdout; keep the figures readable.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    warnings.simplefilter("ignore")
    from chalicelib import aws
    from local.phone import PhoneLine, fetch_moto_data, send_sms
    from local.stack import LocalStack

    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        started = time.perf_counter()
        stack = LocalStack(pump_threads=True, forward_metrics=False).start()
        startup = time.perf_counter() - started
    numbers = phones(count)
    wanted = set(numbers)
    sent_at: dict[str, float] = {}
    acks = FirstAck(numbers)
    acks.watch(aws.sns(), "Publish", lambda params: [params.get("PhoneNumber")])
    line = PhoneLine.for_stack(stack)

    def send(i: int, phone: str) -> None:
        sent_at[phone] = time.perf_counter()
        send_sms(line, phone, f"Hello, where is my order number {1000 + i}?")

    try:
        with contextlib.redirect_stdout(sink):
            thread = threading.Thread(target=steady, args=(numbers, rate, send), name="bench-sender", daemon=True)
            begin = time.perf_counter()
            thread.start()
            thread.join()
            acks.all.wait(timeout)
            elapsed = time.perf_counter() - begin
            time.sleep(1.0)  # give a late duplicate the chance to show
            recorded: dict[str, int] = {}
            for sms in fetch_moto_data(stack.endpoint).get("sns", {}).get("SMS", []):
                if sms.get("phone_number") in wanted:
                    recorded[sms["phone_number"]] = recorded.get(sms["phone_number"], 0) + 1
            pump_failures = stack.pump.failures
    finally:
        with contextlib.redirect_stdout(sink):
            stack.stop()

    span = max(sent_at.values()) - min(sent_at.values()) if sent_at else 0.0
    print(f"SMS in -> ack SMS recorded, fresh local stack (moto server, pump threads), {machine()}")
    print(f"  stack start-up              {startup:.1f} s")
    print(f"  messages                    {count} from {count} distinct numbers at {rate:g}/s (sent over {span:.1f} s)")
    print_ack_figures(sent_at, acks, recorded, pump_failures=pump_failures, elapsed=elapsed)


if __name__ == "__main__":
    ns = ack_arguments("messages")
    main(ns.count, ns.rate, ns.timeout)
