"""AWS calls per contact on the ack path, by service and operation, next to the target of 10.

On one fresh local stack (no pump threads: each contact is processed alone), one warm-up contact per
channel loads what a warm container caches (templates, campaign), then `--count` contacts per channel
(email through SES's receipt path, SMS from the phone simulator, web through POST /contact) are
processed one at a time. Every call the handlers' botocore clients make is counted (a `before-call`
hook on the runtime's clients and PynamoDB's): the intake handler's (web: the API function before the
queue) and the processing handler's (parse → guard → … → commit → ack → SLA clock). Asserts nothing.

    .venv/bin/python bench/bench_calls.py [--count 5]

`count_calls(stack, channel, n)` is importable for other benches (cost per contact).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
    os.environ.setdefault(var, value)
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

TARGET = 10
CHANNELS = ("email", "sms", "web")


def count_calls(stack: Any, channel: str, n: int) -> tuple[collections.Counter[str], collections.Counter[str]]:
    """(intake calls, processing calls) summed over `n` contacts of `channel`, each processed alone."""
    from chalicelib import pipeline
    from local.faults import FaultInjector, runtime_clients
    from tests.integration.test_faults import make_contact

    injector = FaultInjector().attach(runtime_clients(pipeline.get_runtime()))
    intake: collections.Counter[str] = collections.Counter()
    processing: collections.Counter[str] = collections.Counter()
    try:
        for _ in range(n):
            stack.pump.drain()  # nothing else in the counted drain
            injector.reset()
            make_contact(stack, channel)
            intake.update(c.name for c in injector.calls)
            injector.reset()
            stack.pump.drain()
            processing.update(c.name for c in injector.calls)
    finally:
        injector.detach()
    return intake, processing


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5, help="contacts per channel")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from local.stack import LocalStack

    stack = LocalStack(pump_threads=False, forward_metrics=False).start()
    try:
        for channel in CHANNELS:
            count_calls(stack, channel, 1)  # warm-up: what a warm container has cached
        results = {channel: count_calls(stack, channel, args.count) for channel in CHANNELS}
    finally:
        stack.stop()
    print(f"bench_calls: AWS calls per contact on the ack path, {args.count} contacts per channel, warm container")
    for channel, (intake, processing) in results.items():
        per = sum(processing.values()) / args.count
        before = sum(intake.values()) / args.count
        print(
            f"  {channel:<5}  processing {per:5.1f} calls per contact  (target <= {TARGET})"
            + (f"   + intake {before:.1f}" if before else "")
        )
        for name, total in sorted(processing.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"         {total / args.count:4.1f}  {name}")
        for name, total in sorted(intake.items()):
            print(f"         {total / args.count:4.1f}  {name}  (intake)")


if __name__ == "__main__":
    main()
