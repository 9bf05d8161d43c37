"""Mail in over SMTP → ack sent through SES on a fresh local stack: latency p50/p95/max, lost, duplicated.

Each message comes from its own address and is delivered at a steady rate over real SMTP to the
local server, which stores the raw MIME and publishes the SES receipt notification, as SES's receipt
rule does; the stack's pump threads process the intake queue as Lambda's event source mapping would.
An ack's time is when the handler's SES SendRawEmail to that address returned, that is when moto
recorded it (a botocore `after-call` hook on the runtime's SES client: no polling load on the
emulator while measuring). Lost and duplicated are counted from what moto recorded
(/moto-api/data.json), read once at the end. Asserts nothing.

    .venv/bin/python bench/bench_email.py [--count 200] [--rate 2] [--timeout 60]
"""

from __future__ import annotations

import contextlib
import io
import os
import smtplib
import sys
import threading
import time
import warnings
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchlib import FirstAck, ack_arguments, machine, print_ack_figures, steady  # noqa: E402


def addresses(count: int) -> list[str]:
    """Distinct customer addresses, so neither threading nor the per-sender rate limit joins them."""
    return [f"bench-{i:05d}@customer.test" for i in range(count)]


def customer_mail(sender: str, to: str, n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Customer {n} <{sender}>"
    msg["To"] = to
    msg["Subject"] = f"Where is my order {1000 + n}?"
    msg["Message-ID"] = make_msgid(domain="customer.test")
    msg.set_content(f"Hello, my order number {1000 + n} has not arrived yet. Can you check?\n")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def main(count: int, rate: float, timeout: float) -> None:
    # The handlers print JSON logs and EMF to stdout; keep the figures readable.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    warnings.simplefilter("ignore")
    from chalicelib import aws
    from local.outbox import sent_emails
    from local.stack import LocalStack

    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        started = time.perf_counter()
        stack = LocalStack(pump_threads=True, forward_metrics=False).start()
        startup = time.perf_counter() - started
    senders = addresses(count)
    wanted = set(senders)
    to = stack.campaign.inbound_addresses[0]
    mails = [customer_mail(s, to, i) for i, s in enumerate(senders)]
    sent_at: dict[str, float] = {}
    smtp_errors: list[str] = []
    acks = FirstAck(senders)
    acks.watch(aws.ses(), "SendRawEmail", lambda params: params.get("Destinations") or [])

    def send(i: int, address: str) -> None:
        sent_at[address] = time.perf_counter()
        try:
            # One connection per message, as independent senders' MTAs would open.
            with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as smtp:
                smtp.sendmail(address, [to], mails[i])
        except (smtplib.SMTPException, OSError) as exc:
            smtp_errors.append(type(exc).__name__)

    try:
        with contextlib.redirect_stdout(sink):
            thread = threading.Thread(target=steady, args=(senders, rate, send), name="bench-sender", daemon=True)
            begin = time.perf_counter()
            thread.start()
            thread.join()
            acks.all.wait(timeout)
            elapsed = time.perf_counter() - begin
            time.sleep(1.0)  # give a late duplicate the chance to show
            recorded: dict[str, int] = {}
            for mail in sent_emails(stack.moto_data()):
                for address in mail["to"]:
                    if address in wanted:
                        recorded[address] = recorded.get(address, 0) + 1
            pump_failures = stack.pump.failures
            received = stack.smtp_handler.received
    finally:
        with contextlib.redirect_stdout(sink):
            stack.stop()

    span = max(sent_at.values()) - min(sent_at.values()) if sent_at else 0.0
    print(f"Mail in over SMTP -> ack sent through SES, fresh local stack (moto server, pump threads), {machine()}")
    print(f"  stack start-up              {startup:.1f} s")
    print(
        f"  messages                    {count} from {count} distinct addresses at {rate:g}/s "
        f"(sent over {span:.1f} s; SMTP accepted {received}, errors {len(smtp_errors)})"
    )
    print_ack_figures(sent_at, acks, recorded, pump_failures=pump_failures, elapsed=elapsed)


if __name__ == "__main__":
    ns = ack_arguments("messages")
    main(ns.count, ns.rate, ns.timeout)
