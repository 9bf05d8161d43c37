"""POST→ack and SMTP→ack latency with 10 % injected AWS faults next to 0 %, retries and AWS calls per contact.

On one fresh local stack (pump threads running, failed records redelivered at once as after a short
visibility timeout), `--count` web-form submissions and `--count` SMTP mails are sent at a steady
rate, first with no faults, then with faults on about 10 % of processing attempts (each AWS call of
the processing handler fails with probability p = 1 - 0.9^(1/calls per attempt): a throttle, a 5xx
before the request or a lost answer after it, at random). An ack's time is when the handler's SES
SendRawEmail to that address returned (a botocore after-call hook). Lost and duplicated acks are
counted from moto's sent mail at the end. Asserts nothing; prints each figure next to its target.

    .venv/bin/python bench/bench_faults.py [--count 60] [--rate 4]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import smtplib
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
import warnings
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchlib import percentile  # noqa: E402

for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
    os.environ.setdefault(var, value)
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


class AckClock:
    """Time of the first SES send to each address (after-call on the pipeline's SES client)."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.lock = threading.Lock()

    def after(self, model: Any, context: Any = None, **kwargs: Any) -> None:
        if model.name != "SendRawEmail":
            return
        now = time.perf_counter()
        for addr in (context or {}).get("bench_to", []):
            with self.lock:
                self.first.setdefault(addr, now)

    def before(self, model: Any, params: Any = None, context: Any = None, **_: Any) -> None:
        if model.name == "SendRawEmail" and isinstance(context, dict):
            context["bench_to"] = list((params or {}).get("Destinations", []))


API_RETRIES = collections.Counter[str]()


def post_form(api_url: str, email: str) -> None:
    """POST the form; a 503 (the API's own raw write or enqueue failed) is sent again, as the page asks."""
    body = json.dumps({"name": "Bench", "email": email, "message": "Where is my order?", "consent": True}).encode()
    for attempt in range(5):
        req = urllib.request.Request(
            f"{api_url}/contact", data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                resp.read()
                return
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or attempt == 4:
                raise
            API_RETRIES[email] += 1
            time.sleep(0.2)


def smtp_mail(stack: Any, sender: str) -> None:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = str(stack.campaign.inbound_addresses[0])
    msg["Subject"] = "Order missing"
    msg["Message-ID"] = make_msgid(domain="customer.test")
    msg.set_content("Where is my order? It has not arrived.")
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=60) as smtp:
        smtp.send_message(msg)


def run(
    stack: Any, faults: Any, clock: AckClock, *, count: int, rate: float, fault_rate: float, tag: str
) -> dict[str, Any]:
    from local.outbox import sent_emails

    faults.reset()
    if fault_rate:
        faults.fail_randomly(fault_rate, seed=17)
    redeliveries = stack.pump.redeliveries
    sent_at: dict[str, tuple[str, float]] = {}
    for _i in range(count):
        for kind in ("web", "smtp"):
            addr = f"bench-{tag}-{kind}-{uuid.uuid4().hex[:8]}@customer.test"
            start = time.perf_counter()
            post_form(stack.api_url, addr) if kind == "web" else smtp_mail(stack, addr)
            sent_at[addr] = (kind, start)
        time.sleep(1 / rate)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and any(a not in clock.first for a in sent_at):
        time.sleep(0.5)
    time.sleep(2)  # let redeliveries settle before counting
    faults.fail_randomly(0.0)
    data = stack.moto_data()
    per_addr = collections.Counter(a for m in sent_emails(data) for a in m["to"] if a in sent_at)
    lat: dict[str, list[float]] = {"web": [], "smtp": []}
    for addr, (kind, start) in sent_at.items():
        if addr in clock.first:
            lat[kind].append((clock.first[addr] - start) * 1000)
    calls = collections.Counter(c.service for c in faults.calls)
    contacts = len(sent_at)
    return {
        "lat": lat,
        "lost": sum(1 for a in sent_at if per_addr[a] == 0),
        "dup": sum(1 for a in sent_at if per_addr[a] > 1),
        "retries": (stack.pump.redeliveries - redeliveries) / contacts,
        "api_retries": sum(API_RETRIES[a] for a in sent_at),
        "calls": {k: v / contacts for k, v in sorted(calls.items())},
        "total_calls": len(faults.calls) / contacts,
        "injected": len(faults.injected),
        "contacts": contacts,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=60, help="web submissions and SMTP mails each")
    parser.add_argument("--rate", type=float, default=4.0, help="pairs per second")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from local.faults import FaultInjector, runtime_clients
    from local.stack import LocalStack

    stack = LocalStack(pump_threads=True, forward_metrics=False).start()
    try:
        from chalicelib import pipeline

        rt = pipeline.get_runtime()
        stack.pump.redeliver_failed, stack.pump.lambda_timeout_ms = True, 1
        faults = FaultInjector().attach(runtime_clients(rt))
        clock = AckClock()
        rt.ses.meta.events.register("before-parameter-build.ses.SendRawEmail", clock.before)
        rt.ses.meta.events.register("after-call.ses.SendRawEmail", clock.after)
        per_attempt = 10  # processing calls per contact, as bench_calls.py prints them
        p = 1 - 0.9 ** (1 / per_attempt)
        results = {
            "0 %": run(stack, faults, clock, count=args.count, rate=args.rate, fault_rate=0.0, tag="clean"),
            "10 %": run(stack, faults, clock, count=args.count, rate=args.rate, fault_rate=p, tag="faulty"),
        }
    finally:
        stack.stop()
    print(f"bench_faults: {args.count} web + {args.count} SMTP contacts per run at {args.rate}/s, 2 shared cores")
    print(f"  per-call fault probability p = {p:.4f} (~10 % of {per_attempt}-call processing attempts)")
    for name, r in results.items():
        print(f"  faults {name:>4}  (injected {r['injected']})")
        for kind in ("web", "smtp"):
            v = r["lat"][kind]
            print(
                f"    {'POST' if kind == 'web' else 'SMTP'}→ack  p50 {percentile(v, 50):7.0f} ms  "
                f"p95 {percentile(v, 95):7.0f} ms   (target p95 < 5000 ms)  n={len(v)}"
            )
        print(f"    lost {r['lost']}  duplicated {r['dup']}   (target 0 / 0)")
        print(f"    retries per contact {r['retries']:.2f}; form posts answered 503 and sent again: {r['api_retries']}")
        print(f"    AWS calls per contact {r['total_calls']:.1f} (API + processing): {r['calls']}")


if __name__ == "__main__":
    main()
