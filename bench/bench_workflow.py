"""State transitions per conversation on the workflow paths, and the Step Functions cost they imply.

Runs the real ASL from infra/statemachines/ on a local stack (moto server mode, the events handler
run by the pump, which decides what happens at each timer) with second-scale deadlines, counts the
states entered in every execution of each path (what Standard workflows bill as transitions), and
prints the cost per 1,000 conversations at $0.025 per 1,000 transitions.
Run: .venv/bin/python bench/bench_workflow.py (BENCH_VERBOSE=1 lists the states of each path).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from botocore.exceptions import ClientError

from chalicelib.config import BusinessHours, FollowUp, Queue, SlaPolicy
from chalicelib.workflow import (
    compute_deadlines,
    execution_arn,
    execution_name,
    pause_sla_clock,
    start_follow_up,
    start_sla_clock,
)

PRICE_PER_1000_TRANSITIONS = 0.025
ALWAYS = BusinessHours(timezone="UTC", weekly={}, holidays=frozenset(), always_open=True)
TIMEOUT_S = 40
TARGET = 4
PAUSED = "answered: the staff reply stops the clock"
BREACHED_ONCE = "breached once: first response missed, then answered"
BREACHED_ALL = "breached at every level, never answered"
FOLLOW_UP = "follow-up sent, then auto-resolved"
SKIPPED = "follow-up skipped: the customer wrote again"


def _queue(first_response: int, resolution: int, again: int | None) -> Queue:
    urg = ("low", "normal", "high", "urgent")
    sla = SlaPolicy(
        first_response=dict.fromkeys(urg, timedelta(seconds=first_response)),
        resolution=dict.fromkeys(urg, timedelta(seconds=resolution)),
    )
    return Queue(
        id="general",
        label="General",
        sla=sla,
        escalation_queue="supervisors",
        escalate_again_after=timedelta(seconds=again) if again else None,
    )


class Paths:
    """The conversations of each path on one stack, and the executions each path started."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.sfn = stack.client("stepfunctions")
        self.ddb = stack.client("dynamodb")
        self.sla_arn = stack.env["SLA_STATE_MACHINE_ARN"]
        self.fu_arn = stack.env["FOLLOWUP_STATE_MACHINE_ARN"]
        self.convs: dict[str, str] = {}

    def conversation(self, label: str, **attrs: Any) -> str:
        """A web conversation opened by the stack, on clock version 2 so the bench's clock owns it."""
        body = json.dumps(
            {
                "name": "Bench",
                "email": f"wf-{uuid.uuid4().hex[:10]}@customer.test",
                "message": "My parcel has not arrived yet, where is it?",
                "consent": True,
            }
        ).encode()
        req = urllib.request.Request(
            f"{self.stack.api_url}/contact", data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            ref = str(json.loads(resp.read())["reference"])
        self.stack.pump.drain()
        self.set(ref, workflow_version={"N": "2"}, **attrs)
        self.convs[label] = ref
        return ref

    def set(self, ref: str, **attrs: Any) -> None:
        self.ddb.update_item(
            TableName=self.stack.env["CONVERSATIONS_TABLE"],
            Key={"conversation_id": {"S": ref}},
            UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(attrs))),
            ExpressionAttributeNames={f"#a{i}": k for i, k in enumerate(attrs)},
            ExpressionAttributeValues={f":v{i}": v for i, v in enumerate(attrs.values())},
        )

    def status(self, arn: str) -> str | None:
        try:
            return str(self.sfn.describe_execution(executionArn=arn)["status"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ExecutionDoesNotExist":
                return None
            raise

    def sla_steps(self, ref: str) -> list[str]:
        arns: list[str] = []
        for step in range(8):
            arn = execution_arn(self.sla_arn, execution_name(ref, 2, "sla", step))
            if self.status(arn) is None:
                break
            arns.append(arn)
        return arns

    def states(self, arn: str) -> list[str]:
        events = self.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]

    def clock(self, ref: str, queue: Queue) -> str:
        return start_sla_clock(
            sfn=self.sfn,
            state_machine_arn=self.sla_arn,
            conversation_id=ref,
            version=2,
            deadlines=compute_deadlines(datetime.now(UTC), "normal", queue, ALWAYS),
            urgency="normal",
            queue=queue,
            hours=ALWAYS,
        )

    def pause(self, ref: str) -> None:
        """What the staff reply does to the clock (chalicelib/reply.py): stop it, on to version 3."""
        pause_sla_clock(
            sfn=self.sfn,
            state_machine_arn=self.sla_arn,
            conversation_id=ref,
            version=2,
            deadlines=compute_deadlines(datetime.now(UTC), "normal", _queue(1, 1, None), ALWAYS),
            now=datetime.now(UTC),
        )

    def follow_up(self, ref: str, reply_id: str, resolve_after: int) -> str:
        item = self.ddb.get_item(TableName=self.stack.env["CONVERSATIONS_TABLE"], Key={"conversation_id": {"S": ref}})
        return start_follow_up(
            sfn=self.sfn,
            state_machine_arn=self.fu_arn,
            conversation_id=ref,
            reply_id=reply_id,
            replied_at=datetime.now(UTC),
            inbound_count=int(item["Item"]["inbound_count"]["N"]),
            policy=FollowUp(delay=timedelta(seconds=1), resolve_after=timedelta(seconds=resolve_after)),
            resolved_status_due="resolved#9999-12-31T23:59:59+00:00",
        )

    def until(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            self.stack.pump.drain()
            if done():
                self.stack.pump.drain()
                return
            time.sleep(0.2)
        raise SystemExit(f"bench_workflow: not within {TIMEOUT_S}s: {what}")


def measure(stack: Any | None = None) -> dict[str, tuple[str, int, list[str]]]:
    """Per path: the final status of its last execution, its state transitions and the states entered."""
    own = stack is None
    if stack is None:
        from local.stack import LocalStack

        stack = LocalStack(pump_threads=False, forward_metrics=False).start()
    try:
        return _measure(Paths(stack))
    finally:
        if own:
            stack.stop()


def _measure(p: Paths) -> dict[str, tuple[str, int, list[str]]]:
    runs: dict[str, list[str]] = {}
    # Answered: the staff reply puts the conversation on the customer and stops the clock while it waits.
    ref = p.conversation(PAUSED)
    first = p.clock(ref, _queue(first_response=30, resolution=60, again=None))
    p.until(lambda: p.states(first) == ["WaitForDeadline"], "the answered clock waits")
    p.pause(ref)
    runs[PAUSED] = [first]
    # Breached once: nobody answers in time; after the breach staff answer while the resolution timer waits.
    once = p.conversation(BREACHED_ONCE)
    p.clock(once, _queue(first_response=1, resolution=30, again=None))
    # Breached at every level: first response and resolution, each escalated twice, nobody answers.
    every = p.conversation(BREACHED_ALL)
    p.clock(every, _queue(first_response=1, resolution=3, again=1))
    # Follow-ups after a staff reply (fu-…): the customer stays silent, or writes again before it is due.
    silent_reply, skipped_reply = f"fu-{uuid.uuid4().hex[:6]}", f"fu-{uuid.uuid4().hex[:6]}"
    silent = p.conversation(FOLLOW_UP, status={"S": "pending_customer"}, follow_up_id={"S": silent_reply})
    runs[FOLLOW_UP] = [p.follow_up(silent, silent_reply, resolve_after=2)]
    wrote = p.conversation(SKIPPED, status={"S": "pending_customer"}, follow_up_id={"S": skipped_reply})
    runs[SKIPPED] = [p.follow_up(wrote, skipped_reply, resolve_after=60)]
    p.set(wrote, inbound_count={"N": "2"}, status={"S": "open"})

    p.until(lambda: len(p.sla_steps(once)) == 2, "the breached clock's resolution timer started")
    p.pause(once)
    runs[BREACHED_ONCE] = p.sla_steps(once)

    def ended() -> bool:
        runs[BREACHED_ALL] = p.sla_steps(every)
        arns = [a for path in runs.values() for a in path]
        return len(runs[BREACHED_ALL]) == 4 and all(p.status(a) != "RUNNING" for a in arns)

    p.until(ended, "every path's executions ended")
    results: dict[str, tuple[str, int, list[str]]] = {}
    for label in (PAUSED, BREACHED_ONCE, BREACHED_ALL, FOLLOW_UP, SKIPPED):
        names = [state for arn in runs[label] for state in p.states(arn)]
        results[label] = (p.status(runs[label][-1]) or "?", len(names), names)
    return results


def main() -> None:
    import contextlib
    import io

    print(f"cores: {os.cpu_count()}; Standard workflows, ${PRICE_PER_1000_TRANSITIONS} per 1,000 state transitions")
    import warnings

    warnings.simplefilter("ignore")
    # The handlers' log lines and the local API's access log are not figures.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        results = measure()
    print(f"{'path':<54} {'last status':<11} {'transitions':>11} {'USD per 1,000 conversations':>28}")
    for label, (status, transitions, names) in results.items():
        cost = transitions * PRICE_PER_1000_TRANSITIONS
        print(f"{label:<54} {status:<11} {transitions:>11} {cost:>28.3f}")
        if os.environ.get("BENCH_VERBOSE"):
            print("   ", json.dumps(names))
    answered = results[PAUSED][1] + results[FOLLOW_UP][1]
    skipped = results[PAUSED][1] + results[SKIPPED][1]
    print(
        f"answered conversation incl. its follow-up and auto-resolve: {answered} transitions "
        f"(target <= {TARGET}), ${answered * PRICE_PER_1000_TRANSITIONS:.3f} per 1,000 conversations"
    )
    print(
        f"answered, follow-up skipped because the customer wrote again: {skipped} transitions, "
        f"${skipped * PRICE_PER_1000_TRANSITIONS:.3f} per 1,000 conversations"
    )
    print(
        "(was 21, then 10: 12 or 1 for the SLA clock, 9 for the follow-up; "
        "a stopped execution bills the states entered before the stop)"
    )


if __name__ == "__main__":
    main()
