"""Web form → ack email on a fresh local stack, import time, package size, AWS calls per contact; asserts nothing.

1. Latency: submissions are POSTed over HTTP to the stack's API at a steady rate, each from its own
   address; the pump threads process the intake queue as Lambda's event source mapping would. An
   ack's time is when the handler's SES SendRawEmail to that address returned, that is when moto
   recorded it (a botocore `after-call` hook on the pipeline's SES client: no polling load on the
   emulator while measuring). Lost and duplicated are counted from moto's sent mail, read once at the end.
2. `import app` and `import chalicelib.pipeline` cold-import time (`python -X importtime`, median of 3).
3. The deployment package `replydesk package` builds: zipped and unzipped size, largest top-level entries.
4. AWS calls per contact by service and operation, counted on the same stack with its pump threads
   stopped: only calls made inside the API handler and the intake handler (a thread-local flag set
   around them), not the event pump's own polling, the benchmark's, or moto's internal ones.

    .venv/bin/python bench/bench_web.py [--count 200] [--rate 2] [--timeout 60] [--calls-count 20]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchlib import FirstAck, cores, percentile, quiet, steady  # noqa: E402

PYTHON = ROOT / ".venv" / "bin" / "python"
IMPORT_ENV = {"REPLYDESK_CAMPAIGN": "demo", "REPLYDESK_STAGE": "dev", "AWS_DEFAULT_REGION": "us-east-1"}
PACKAGE_OUT = ROOT / "build" / "bench-package"


def form(email: str, i: int) -> bytes:
    return json.dumps(
        {
            "name": "Bench Customer",
            "email": email,
            "topic": "order_status",
            "message": f"Where is my order number {1000 + i}? It should have arrived on Monday.",
            "consent": True,
        }
    ).encode()


def post_contact(api_url: str, body: bytes) -> int:
    req = urllib.request.Request(
        f"{api_url}/contact",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


# ---------------------------------------------------------------------------------------------- 1. latency
def latency(stack: Any, count: int, rate: float, timeout: float, sink: io.StringIO) -> None:
    from chalicelib import aws
    from local.outbox import sent_emails

    run = uuid.uuid4().hex[:8]
    addresses = [f"bench-{run}-{i:04d}@customer.test" for i in range(count)]
    wanted = set(addresses)
    sent_at: dict[str, float] = {}
    accepted_ms: list[float] = []
    statuses: collections.Counter[int] = collections.Counter()
    acks = FirstAck(addresses)
    acks.watch(aws.ses(), "SendRawEmail", lambda params: params.get("Destinations") or [])

    def send(i: int, address: str) -> None:
        sent_at[address] = time.perf_counter()
        status = post_contact(stack.api_url, form(address, i))
        accepted_ms.append((time.perf_counter() - sent_at[address]) * 1000)
        statuses[status] += 1

    with quiet(sink):
        thread = threading.Thread(target=steady, args=(addresses, rate, send), name="bench-sender", daemon=True)
        begin = time.perf_counter()
        thread.start()
        thread.join()
        acks.all.wait(timeout)
        elapsed = time.perf_counter() - begin
        time.sleep(1.0)  # give a late duplicate the chance to show
        recorded: collections.Counter[str] = collections.Counter()
        for mail in sent_emails(stack.moto_data()):
            for address in mail["to"]:
                if address in wanted:
                    recorded[address] += 1
        pump_failures = stack.pump.failures
    acks.unwatch()

    latencies = [(acks.at[a] - sent_at[a]) * 1000 for a in addresses if a in acks.at and a in sent_at]
    lost = count - len(recorded)
    duplicated = sum(1 for n in recorded.values() if n > 1)
    span = max(sent_at.values()) - min(sent_at.values()) if sent_at else 0.0
    print(
        f"  submissions                 {count} from {count} distinct addresses at {rate:g}/s "
        f"(posted over {span:.1f} s); HTTP status {dict(sorted(statuses.items()))}"
    )
    if accepted_ms:
        print(
            f"  POST -> 202 p50 / p95 / max {percentile(accepted_ms, 50):.0f} / "
            f"{percentile(accepted_ms, 95):.0f} / {max(accepted_ms):.0f} ms"
        )
    if latencies:
        print(
            f"  POST -> ack sent p50/p95/max {percentile(latencies, 50):.0f} / {percentile(latencies, 95):.0f}"
            f" / {max(latencies):.0f} ms   (mean {statistics.fmean(latencies):.0f} ms)"
        )
    print(
        f"  lost / duplicated           {lost} / {duplicated}"
        f"   (acks moto recorded: {sum(recorded.values())}; no ack within {timeout:g} s of the last post = lost)"
    )
    print(f"  pump record failures        {pump_failures}")
    print(f"  wall time until all acked   {elapsed:.1f} s ({len(acks.at) / elapsed:.1f} acks/s)")


# ------------------------------------------------------------------------------------- 4. calls per contact
class CallCounter:
    """Counts botocore API calls made while the current thread is inside an app handler."""

    def __init__(self) -> None:
        self.app: collections.Counter[tuple[str, str]] = collections.Counter()
        self.other: collections.Counter[tuple[str, str]] = collections.Counter()
        self.seconds: dict[tuple[str, str], float] = collections.defaultdict(float)
        self._flag = threading.local()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def app_side(self) -> Iterator[None]:
        previous = getattr(self._flag, "on", False)
        self._flag.on = True
        try:
            yield
        finally:
            self._flag.on = previous

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with self.app_side():
                return fn(*args, **kwargs)

        return wrapped

    def record(self, service: str, operation: str, seconds: float) -> None:
        app_side = getattr(self._flag, "on", False)
        with self._lock:
            (self.app if app_side else self.other)[(service, operation)] += 1
            if app_side:
                self.seconds[(service, operation)] += seconds

    @contextlib.contextmanager
    def installed(self, stack: Any, mapping_name: str) -> Iterator[None]:
        """Patch botocore (every client in this process, PynamoDB's included) and flag the two handlers."""
        import botocore.client
        import chalice.local

        # A private method the type stubs do not declare: every client's API call goes through it,
        # PynamoDB's (Connection._make_api_call calls it) and Powertools' idempotency table's included.
        base: Any = botocore.client.BaseClient
        original_call = base._make_api_call
        original_request = chalice.local.LocalGateway.handle_request
        counter = self

        def counting_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            started = time.perf_counter()
            try:
                return original_call(client, operation_name, api_params)
            finally:
                counter.record(client.meta.service_model.service_name, operation_name, time.perf_counter() - started)

        mapping = next(m for m in stack.pump.mappings if m.name == mapping_name)
        original_handler = mapping.handler
        base._make_api_call = counting_call
        chalice.local.LocalGateway.handle_request = self.wrap(original_request)  # type: ignore[method-assign]
        mapping.handler = self.wrap(original_handler)
        try:
            yield
        finally:
            base._make_api_call = original_call
            chalice.local.LocalGateway.handle_request = original_request  # type: ignore[method-assign]
            mapping.handler = original_handler


def calls_per_contact(stack: Any, n: int, sink: io.StringIO) -> None:
    with quiet(sink):
        stack.pump.stop()  # from here on the intake runs only when drained, one contact at a time
        stack.pump.drain()
    counter = CallCounter()
    run = uuid.uuid4().hex[:8]
    statuses: collections.Counter[int] = collections.Counter()
    with quiet(sink), counter.installed(stack, "process_intake"):
        for i in range(n):
            statuses[post_contact(stack.api_url, form(f"calls-{run}-{i:03d}@customer.test", i))] += 1
            stack.pump.drain()
    by_service: collections.Counter[str] = collections.Counter()
    for (service, _), calls in counter.app.items():
        by_service[service] += calls
    total = sum(counter.app.values())
    print(
        f"  contacts                    {n}, sequential (POST, then drain the intake queue); "
        f"HTTP status {dict(sorted(statuses.items()))}; warm handlers"
    )
    seconds = sum(counter.seconds.values())
    print(
        f"  total                       {total / n:.2f} calls per contact ({total} calls; "
        f"{seconds / n * 1000:.0f} ms per contact waiting on the emulator)"
    )
    for service, calls in by_service.most_common():
        print(f"  {service:<27} {calls / n:.2f}")
        for (svc, op), op_calls in sorted(counter.app.items(), key=lambda kv: (-kv[1], kv[0])):
            if svc == service:
                print(f"      {op:<23} {op_calls / n:.2f}   ({counter.seconds[(svc, op)] / n * 1000:.0f} ms)")
    outside = ", ".join(f"{svc} {op} {c / n:.2f}" for (svc, op), c in counter.other.most_common())
    print(f"  not counted (event pump, moto internals) per contact: {outside or 'none'}")


# ------------------------------------------------------------------------------------------- 2. import time
def import_ms(statement: str, module: str) -> tuple[float, float]:
    """(the module's cumulative import ms, all top-level imports including interpreter start-up ms)."""
    proc = subprocess.run(
        [str(PYTHON), "-X", "importtime", "-c", statement],
        cwd=ROOT,
        env={**os.environ, **IMPORT_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    own = 0
    top_level = 0
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if not m or m.group(3):  # header line, or a nested import (indented): already in a cumulative
            continue
        top_level += int(m.group(2))
        if module == m.group(4) or module.startswith(m.group(4) + "."):  # the module or a parent package
            own += int(m.group(2))
    return own / 1000, top_level / 1000


def import_times() -> None:
    for module in ("app", "chalicelib.pipeline"):
        import_ms(f"import {module}", module)  # warm-up: byte-compiles anything stale
        runs = [import_ms(f"import {module}", module) for _ in range(3)]
        own = statistics.median(r[0] for r in runs)
        everything = statistics.median(r[1] for r in runs)
        # chalicelib.pipeline's figure includes the chalicelib package it needs first.
        print(
            f"  import {module:<21} {own:.0f} ms   (all top-level imports incl. start-up "
            f"{everything:.0f} ms; median of 3)"
        )


# --------------------------------------------------------------------------------------- 3. package size
def package_size() -> None:
    started = time.perf_counter()
    proc = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "replydesk"),
            "package",
            "--campaign",
            "demo",
            "--stage",
            "dev",
            "--out",
            str(PACKAGE_OUT),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.perf_counter() - started
    path = PACKAGE_OUT / "package" / "deployment.zip"
    if proc.returncode != 0 or not path.exists():
        print(f"  replydesk package failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
        return
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    unzipped = sum(i.file_size for i in infos)
    by_top: collections.Counter[str] = collections.Counter()
    for info in infos:
        head, sep, _ = info.filename.partition("/")
        by_top[f"{head}/" if sep else "(top-level files)"] += info.file_size
    print(
        f"  deployment.zip              {path.stat().st_size / 1e6:.1f} MB zipped, {unzipped / 1e6:.1f} MB "
        f"unzipped, {len(infos)} files   (Lambda's limit: 250 MB unzipped; packaged in {took:.0f} s)"
    )
    for name, size in by_top.most_common(10):
        print(f"      {name:<34} {size / 1e6:6.1f} MB")
    missing = re.search(r"Could not install dependencies:\s*\n(.*?)\n\n", proc.stderr, re.S)
    if missing:
        print(f"  chalice could not vendor: {' '.join(missing.group(1).split())}")


def main(count: int, rate: float, timeout: float, calls_count: int) -> None:
    # The handlers print JSON logs and EMF to stdout; keep the figures readable.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    warnings.simplefilter("ignore")
    from local.stack import LocalStack

    print(
        f"Web form -> ack email, fresh local stack (moto server, pump threads), {cores()}, "
        f"Python {sys.version.split()[0]}"
    )
    sink = io.StringIO()
    with quiet(sink):
        started = time.perf_counter()
        stack = LocalStack(pump_threads=True, forward_metrics=False).start()
        startup = time.perf_counter() - started
    print(f"  stack start-up              {startup:.1f} s")
    try:
        latency(stack, count, rate, timeout, sink)
        print("AWS calls per contact (API handler + intake handler; the figure cost estimates use)")
        calls_per_contact(stack, calls_count, sink)
    finally:
        with quiet(sink):
            stack.stop()
    print("Cold import (python -X importtime, env REPLYDESK_CAMPAIGN=demo REPLYDESK_STAGE=dev)")
    import_times()
    print("Deployment package (replydesk package --campaign demo --stage dev)")
    package_size()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument(
        "--rate",
        type=float,
        default=2.0,
        help="submissions per second (below what the local stack sustains, so no backlog)",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for acks after the last submission was posted"
    )
    parser.add_argument(
        "--calls-count",
        type=int,
        default=20,
        help="sequential submissions over which AWS calls per contact are counted",
    )
    ns = parser.parse_args()
    main(ns.count, ns.rate, ns.timeout, ns.calls_count)
