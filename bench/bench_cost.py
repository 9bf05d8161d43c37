"""AWS cost per 1,000 contacts for email, SMS and web at list prices, from counted calls; asserts nothing.

What is counted, on a fresh local stack (moto server) with the event pump stopped and drained after
each contact: every AWS API call the API handler and the intake handler make, by service and
operation (botocore patched the way bench_web.py does it), DynamoDB capacity units from each request
and response, the handlers' wall time (-> Lambda GB-s at the functions' 512 MB) and the bytes they log
(-> CloudWatch Logs ingestion, which is where EMF metrics are billed). Step Functions transitions come
from bench_workflow.py's runs of the real state machines: an answered conversation is the SLA clock
the staff reply pauses (stops) plus the follow-up that auto-resolves it.

Lines the stack cannot count are priced from what one contact needs and marked "fixed": SES receiving
(one mail, one 256 KB chunk), the SES -> SNS receipt notification, inbound SMS, the event source
mapping's ReceiveMessage/DeleteMessageBatch (one pair per batch of 10), API Gateway's request, and
the staff answer and the follow-up (one mail or SMS part each; the console's own reads are not in).

Prices: us-east-1 list prices, USD, in PRICES below (edit them for your region); SMS at the US
toll-free base price per part, carrier fees extra. Local wall time against the emulator is slower
than Lambda against AWS, so the Lambda line is an upper bound; DynamoDB writes count one WRU per
item up to 1 KB and no GSI writes, so that line is a floor.

    .venv/bin/python bench/bench_cost.py [--contacts 10]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import math
import os
import smtplib
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from benchlib import quiet  # noqa: E402

LAMBDA_GB = 0.5  # .chalice/config.json lambda_memory_size 512
BATCH = 10  # the intake mapping's batch size (app.py)

# (unit, USD per unit)
PRICES: dict[str, tuple[str, float]] = {
    "dynamodb_wru": ("write request unit", 0.625 / 1e6),
    "dynamodb_rru": ("read request unit", 0.125 / 1e6),
    "s3_put": ("PUT/COPY/LIST request", 0.005 / 1e3),
    "s3_get": ("GET/HEAD request", 0.0004 / 1e3),
    "sqs": ("request", 0.40 / 1e6),
    "sns_publish": ("publish (not SMS)", 0.50 / 1e6),
    "sms_part": ("SMS part (US toll-free, base)", 0.00581),
    "sms_inbound": ("inbound SMS (US toll-free, base)", 0.00581),
    "ses_send": ("email sent", 0.10 / 1e3),
    "ses_receive": ("email received", 0.10 / 1e3),
    "ses_chunk": ("256 KB chunk received", 0.09 / 1e3),
    "sfn_transition": ("state transition (Standard)", 0.025 / 1e3),
    "lambda_request": ("invocation", 0.20 / 1e6),
    "lambda_gbs": ("GB-second (x86)", 0.0000166667),
    "apigw_request": ("REST API request", 3.50 / 1e6),
    "logs_gb": ("GB of logs ingested (EMF incl.)", 0.50),
    "sfn_start": ("StartExecution (billed as transitions)", 0.0),
}
SERVICE_OF = {
    "dynamodb_wru": "DynamoDB",
    "dynamodb_rru": "DynamoDB",
    "s3_put": "S3",
    "s3_get": "S3",
    "sqs": "SQS",
    "sns_publish": "SNS",
    "sms_part": "SMS",
    "sms_inbound": "SMS",
    "ses_send": "SES",
    "ses_receive": "SES",
    "ses_chunk": "SES",
    "sfn_transition": "Step Functions",
    "sfn_start": "Step Functions",
    "lambda_request": "Lambda",
    "lambda_gbs": "Lambda",
    "apigw_request": "API Gateway",
    "logs_gb": "CloudWatch",
}
S3_PUT_OPS = {"PutObject", "CopyObject", "ListObjectsV2", "ListObjects", "CreateMultipartUpload"}
DDB_WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem"}


class Meter:
    """Counts what the handlers ask of AWS while the current thread is inside one of them."""

    def __init__(self) -> None:
        self.calls: collections.Counter[tuple[str, str]] = collections.Counter()
        self.units: collections.Counter[str] = collections.Counter()
        self.handler_seconds = 0.0
        self.invocations: collections.Counter[str] = collections.Counter()
        self._flag = threading.local()
        self._lock = threading.Lock()

    def wrap(self, kind: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self._flag.on = True
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.handler_seconds += time.perf_counter() - started
                    self.invocations[kind] += 1
                self._flag.on = False

        return wrapped

    def record(self, service: str, op: str, params: dict[str, Any], response: Any) -> None:
        if not getattr(self._flag, "on", False):
            return
        with self._lock:
            self.calls[(service, op)] += 1
            for key, n in units_of(service, op, params, response).items():
                self.units[key] += n

    @contextlib.contextmanager
    def installed(self, stack: Any) -> Iterator[None]:
        import botocore.client
        import chalice.local

        base: Any = botocore.client.BaseClient
        original_call = base._make_api_call
        original_request = chalice.local.LocalGateway.handle_request
        meter = self

        def counting_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            response = original_call(client, operation_name, api_params)
            meter.record(client.meta.service_model.service_name, operation_name, api_params, response)
            return response

        mapping = next(m for m in stack.pump.mappings if m.name == "process_intake")
        original_handler = mapping.handler
        base._make_api_call = counting_call
        chalice.local.LocalGateway.handle_request = self.wrap("api", original_request)  # type: ignore[method-assign]
        mapping.handler = self.wrap("intake", original_handler)
        try:
            yield
        finally:
            base._make_api_call = original_call
            chalice.local.LocalGateway.handle_request = original_request  # type: ignore[method-assign]
            mapping.handler = original_handler


def _item_kb(item: Any) -> int:
    return max(1, math.ceil(len(json.dumps(item, default=str)) / 1024))


def units_of(service: str, op: str, params: dict[str, Any], response: Any) -> dict[str, float]:
    """Billable units of one call (DynamoDB capacity from the request and response sizes)."""
    if service == "dynamodb":
        consistent = params.get("ConsistentRead", False)
        per_4kb = 1.0 if consistent else 0.5
        if op in DDB_WRITE_OPS:
            return {"dynamodb_wru": _item_kb(params.get("Item") or params.get("Key"))}
        if op == "TransactWriteItems":
            return {"dynamodb_wru": 2.0 * len(params.get("TransactItems", []))}
        if op == "BatchWriteItem":
            return {"dynamodb_wru": float(sum(len(v) for v in params.get("RequestItems", {}).values()))}
        if op == "GetItem":
            return {"dynamodb_rru": per_4kb * max(1, math.ceil(len(json.dumps(response.get("Item", {}))) / 4096))}
        if op in ("Query", "Scan"):
            size = len(json.dumps(response.get("Items", [])))
            return {"dynamodb_rru": per_4kb * max(1, math.ceil(size / 4096))}
        if op == "TransactGetItems":
            return {"dynamodb_rru": 2.0 * len(params.get("TransactItems", []))}
        if op == "BatchGetItem":
            n = sum(len(v.get("Keys", [])) for v in params.get("RequestItems", {}).values())
            return {"dynamodb_rru": 0.5 * n}
        return {}
    if service == "s3":
        return {"s3_put" if op in S3_PUT_OPS else "s3_get": 1.0}
    if service == "sqs":
        return {"sqs": 1.0}
    if service == "sns":
        if op == "Publish" and params.get("PhoneNumber"):
            return {"sms_part": 1.0}  # acks and keyword answers are kept to one part (the campaign's budget)
        return {"sns_publish": 1.0} if op == "Publish" else {}
    if service == "ses":
        return {"ses_send": 1.0} if op.startswith("Send") else {}
    if service == "stepfunctions":
        return {"sfn_start": 1.0} if op == "StartExecution" else {}
    return {}


def send_web(stack: Any, i: int, run: str) -> None:
    from bench_web import form, post_contact

    status = post_contact(stack.api_url, form(f"cost-{run}-{i:03d}@customer.test", i))
    if status != 202:
        raise RuntimeError(f"POST /contact answered {status}")


def send_email(stack: Any, i: int, run: str) -> None:
    msg = EmailMessage()
    msg["From"] = f"Cost Customer <cost-{run}-{i:03d}@customer.test>"
    msg["To"] = "support@demo.replydesk.test"
    msg["Subject"] = f"Order {4000 + i} has not arrived"
    msg["Message-ID"] = f"<cost-{run}-{i}@customer.test>"
    msg.set_content("Hello, my order has not arrived yet. Could you tell me where it is? Thanks, Cost")
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as smtp:
        smtp.send_message(msg)


def send_sms(stack: Any, i: int, run: str) -> None:
    from local.phone import send_sms as publish

    publish(stack, f"+1503555{(int(run[:4], 16) % 10) * 1000 + i:04d}", f"Hi, where is my order {4400 + i}?")


def measure(stack: Any, channel: str, n: int, sink: io.StringIO) -> tuple[Meter, float]:
    send = {"web": send_web, "email": send_email, "sms": send_sms}[channel]
    meter = Meter()
    run = uuid.uuid4().hex[:8]
    with quiet(sink), meter.installed(stack):
        before = len(sink.getvalue().encode())
        for i in range(n):
            send(stack, i, run)
            stack.pump.drain()
        logged = len(sink.getvalue().encode()) - before
    return meter, logged / n


def cost_lines(channel: str, meter: Meter, n: int, log_bytes: float, transitions: int) -> dict[str, tuple[float, str]]:
    """USD quantity per 1,000 contacts for every price key, and whether it was counted or fixed."""
    per = 1000 / n
    lines: dict[str, tuple[float, str]] = {k: (v * per, "counted") for k, v in meter.units.items()}

    def add(key: str, qty: float, how: str) -> None:
        old = lines.get(key, (0.0, how))[0]
        lines[key] = (old + qty, how if key not in lines else f"{lines[key][1]} + {how}")

    add("lambda_gbs", meter.handler_seconds * LAMBDA_GB * per, "counted (local wall time)")
    add("lambda_request", 1000 / BATCH, "fixed: one intake invocation per batch of 10")
    add("sqs", 2 * 1000 / BATCH, "fixed: mapping's receive + delete per batch")
    add("logs_gb", log_bytes * 1000 / 1e9, "counted (bytes the handlers logged)")
    add("sfn_transition", transitions * 1000, "counted (answered, incl. follow-up)")
    answer = "ses_send" if channel != "sms" else "sms_part"
    add(answer, 2 * 1000, "fixed: staff answer + follow-up")
    if channel == "email":
        add("ses_receive", 1000, "fixed: SES receipt")
        add("ses_chunk", 1000, "fixed: SES receipt")
        add("sns_publish", 1000, "fixed: SES -> SNS notification")
        add("s3_put", 1000, "fixed: SES writes the raw mail")
    elif channel == "sms":
        add("sms_inbound", 1000, "fixed: inbound SMS")
        add("sns_publish", 1000, "fixed: number -> SNS topic")
    else:
        add("apigw_request", 1000, "fixed: POST /contact")
        add("lambda_request", 1000, "fixed: the API function")
    return lines


def report(channel: str, meter: Meter, n: int, log_bytes: float, transitions: int) -> float:
    calls = sum(meter.calls.values()) / n
    by_service = collections.Counter[str]()
    for (svc, _), c in meter.calls.items():
        by_service[svc] += c
    counted = ", ".join(f"{svc} {c / n:.1f}" for svc, c in by_service.most_common())
    print(f"== {channel}: {n} contacts, {calls:.1f} AWS calls per contact ({counted}); {log_bytes:.0f} log bytes each")
    top = ", ".join(f"{svc} {op} {c / n:.1f}" for (svc, op), c in meter.calls.most_common(6))
    print(f"  most called: {top}")
    lines = cost_lines(channel, meter, n, log_bytes, transitions)
    total = 0.0
    shares: collections.Counter[str] = collections.Counter()
    print(f"  {'line':<16} {'per 1,000 contacts':>20}  {'unit price':>14}  {'USD':>9}  how")
    for key, (qty, how) in sorted(lines.items(), key=lambda kv: -kv[1][0] * PRICES[kv[0]][1]):
        unit, price = PRICES[key]
        usd = qty * price
        total += usd
        shares[SERVICE_OF[key]] += usd
        print(f"  {key:<16} {qty:>20,.1f}  {price:>14.8f}  {usd:>9.4f}  {unit}; {how}")
    print(f"  total            ${total:.3f} per 1,000 {channel} contacts")
    print("  share: " + ", ".join(f"{svc} {usd / total:.0%}" for svc, usd in shares.most_common() if usd > 0))
    return total


def main(n: int) -> None:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO")  # what a deployed stage logs (and pays for)
    warnings.simplefilter("ignore")
    import bench_workflow

    from local.stack import LocalStack

    print(f"cores: {os.cpu_count()}, Python {sys.version.split()[0]}; prices: us-east-1 list, USD")
    from chalicelib.observability import logger

    sink = io.StringIO()
    with quiet(sink):
        stack = LocalStack(pump_threads=True, forward_metrics=False).start()
        stack.pump.stop()
        stack.pump.drain()
    totals = {}
    try:
        logger.setLevel("ERROR")  # the workflow runs' own lines (breaches too) are not the contacts' logs
        with quiet(sink):
            workflow = bench_workflow.measure(stack)
        logger.setLevel(os.environ["POWERTOOLS_LOG_LEVEL"])
        sla = workflow[bench_workflow.PAUSED][1]
        follow_up = workflow[bench_workflow.FOLLOW_UP][1]
        print(
            f"Step Functions: answered conversation {sla} (SLA) + {follow_up} (follow-up and auto-resolve) "
            f"transitions (target <= {bench_workflow.TARGET})"
        )
        for channel in ("email", "sms", "web"):
            meter, log_bytes = measure(stack, channel, n, sink)
            totals[channel] = report(channel, meter, n, log_bytes, sla + follow_up)
    finally:
        with quiet(sink):
            stack.stop()
    print("per 1,000 contacts: " + ", ".join(f"{ch} ${usd:.3f}" for ch, usd in totals.items()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--contacts", type=int, default=10, help="contacts per channel, sequential")
    main(parser.parse_args().contacts)
