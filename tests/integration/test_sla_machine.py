"""The real SLA and follow-up state machines on the session stack, with second-scale deadlines.

Each machine only waits and hands its input to the events queue; the events handler (run by the
pump) decides what the old looping machines decided in Choice states. So these tests start a clock
on a real conversation, pump the events queue until the executions end, and assert what the
customer, the supervisors and the conversation see, plus the states each execution entered (the
billed transitions).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.config import BusinessHours, FollowUp, Queue, SlaPolicy
from chalicelib.workflow import (
    compute_deadlines,
    execution_arn,
    execution_name,
    pause_sla_clock,
    sla_input,
    sla_timers,
    start_follow_up,
    start_sla_clock,
    stop_sla_clock,
)
from local.outbox import escalations, sent_emails
from tests.integration.test_workflow_stack import submit

pytestmark = pytest.mark.integration

ALWAYS = BusinessHours(timezone="UTC", weekly={}, holidays=frozenset(), always_open=True)
# Bounded waits: Wait states take real time, and moto rounds each one down to whole seconds.
EXECUTION_TIMEOUT_S = 30


def seconds(n: int) -> timedelta:
    return timedelta(seconds=n)


def fast_queue(*, first_response: int = 2, resolution: int = 3, again: int | None = None) -> Queue:
    sla = SlaPolicy(
        first_response=dict.fromkeys(("low", "normal", "high", "urgent"), seconds(first_response)),
        resolution=dict.fromkeys(("low", "normal", "high", "urgent"), seconds(resolution)),
    )
    return Queue(
        id="general",
        label="General",
        sla=sla,
        escalation_queue="supervisors",
        escalate_again_after=seconds(again) if again else None,
    )


EMAILS: dict[str, str] = {}
_CLIENTS: dict[tuple[int, str], Any] = {}


def client(stack: Any, service: str) -> Any:
    """One client per service for the module: making one per call would slow the polling down by seconds."""
    key = (id(stack), service)
    if key not in _CLIENTS:
        _CLIENTS[key] = stack.client(service)
    return _CLIENTS[key]


def conversation(stack: Any, drain: Callable[[], int], unique_email: Callable[[str], str], **attrs: Any) -> str:
    """A web conversation as the stack opened it, moved to clock version 2 so the tests' clocks own it."""
    email = unique_email("sla")
    ref = submit(stack, email, "My order has not arrived, where is it?")
    EMAILS[ref] = email
    drain()
    updates = {"workflow_version": {"N": "2"}, **attrs}
    names = {f"#a{i}": k for i, k in enumerate(updates)}
    client(stack, "dynamodb").update_item(
        TableName=stack.env["CONVERSATIONS_TABLE"],
        Key={"conversation_id": {"S": ref}},
        UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(updates))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":v{i}": v for i, v in enumerate(updates.values())},
    )
    return ref


def item(stack: Any, conversation_id: str) -> dict[str, Any]:
    got: dict[str, Any] = client(stack, "dynamodb").get_item(
        TableName=stack.env["CONVERSATIONS_TABLE"], Key={"conversation_id": {"S": conversation_id}}, ConsistentRead=True
    )["Item"]
    return got


def set_attrs(stack: Any, conversation_id: str, **attrs: Any) -> None:
    names = {f"#a{i}": k for i, k in enumerate(attrs)}
    client(stack, "dynamodb").update_item(
        TableName=stack.env["CONVERSATIONS_TABLE"],
        Key={"conversation_id": {"S": conversation_id}},
        UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(attrs))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":v{i}": v for i, v in enumerate(attrs.values())},
    )


def states_entered(stack: Any, arn: str) -> list[str]:
    events = client(stack, "stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def status(stack: Any, arn: str) -> str | None:
    try:
        return str(client(stack, "stepfunctions").describe_execution(executionArn=arn)["status"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ExecutionDoesNotExist":
            return None
        raise


def sla_steps(stack: Any, conversation_id: str, version: int) -> list[str]:
    """The ARNs of the clock's executions that exist, step by step."""
    machine = stack.env["SLA_STATE_MACHINE_ARN"]
    arns: list[str] = []
    for step in range(8):
        arn = execution_arn(machine, execution_name(conversation_id, version, "sla", step))
        if status(stack, arn) is None:
            break  # the steps run one after another: none after a missing one
        arns.append(arn)
    return arns


def run_until(stack: Any, drain: Callable[[], int], done: Callable[[], bool], what: str) -> None:
    """Pump the queues until `done()` (bounded); fail with what was expected."""
    deadline = time.monotonic() + EXECUTION_TIMEOUT_S
    while time.monotonic() < deadline:
        drain()
        if done():
            drain()  # what the last execution sent
            return
        time.sleep(0.25)
    pytest.fail(f"not within {EXECUTION_TIMEOUT_S}s: {what}")


def notices(stack: Any, conversation_id: str) -> list[dict[str, Any]]:
    return [
        e["detail"] for e in escalations(stack.moto_data()) if e["detail"].get("conversation_id") == conversation_id
    ]


def start_clock(stack: Any, conversation_id: str, queue: Queue, urgency: str = "normal") -> str:
    return start_sla_clock(
        sfn=client(stack, "stepfunctions"),
        state_machine_arn=stack.env["SLA_STATE_MACHINE_ARN"],
        conversation_id=conversation_id,
        version=2,
        deadlines=compute_deadlines(datetime.now(UTC), urgency, queue, ALWAYS),
        urgency=urgency,
        queue=queue,
        hours=ALWAYS,
    )


def test_no_staff_reply_escalates_twice_per_deadline(stack: Any, drain: Any, unique_email: Any) -> None:
    # GIVEN an open conversation with a 2s first response and 3s resolution target, second level after 1s
    conv = conversation(stack, drain, unique_email)
    # WHEN its SLA clock runs and nobody answers
    start_clock(stack, conv, fast_queue(first_response=2, resolution=3, again=1))
    run_until(
        stack,
        drain,
        lambda: (
            len(notices(stack, conv)) == 4 and all(status(stack, a) != "RUNNING" for a in sla_steps(stack, conv, 2))
        ),
        "four breaches announced and the clock ended",
    )
    # THEN four breaches are on the item, it is urgent and in the escalation queue
    got = item(stack, conv)
    breaches = sorted((b["M"]["kind"]["S"], b["M"]["level"]["N"]) for b in got["breaches"]["L"])
    assert breaches == [("first_response", "1"), ("first_response", "2"), ("resolution", "1"), ("resolution", "2")]
    assert got["urgency"]["S"] == "urgent"
    assert got["queue"]["S"] == "supervisors"
    assert [e["M"]["kind"]["S"] for e in got["timeline"]["L"]].count("sla_breached") == 4
    # AND every urgency the breaches set is explained in the conversation's reasons
    assert sorted(r["S"] for r in got["reasons"]["L"] if r["S"].startswith("urgency ")) == [
        "urgency high: first_response deadline missed (level 1)",
        "urgency high: resolution deadline missed (level 1)",
        "urgency urgent: first_response deadline missed (level 2)",
        "urgency urgent: resolution deadline missed (level 2)",
    ]
    # AND the supervisors got one notice per breach, naming the deadline and level, never what the customer wrote
    sent = notices(stack, conv)
    assert sorted((n["kind"], str(n["level"])) for n in sent) == breaches
    assert all(n["type"] == "sla_breached" and n["due"] and n["queue"] == "supervisors" for n in sent)
    # AND each timer was its own execution of one Wait and one send (2 billed transitions each)
    steps = sla_steps(stack, conv, 2)
    assert len(steps) == 4
    assert [states_entered(stack, a) for a in steps] == [["WaitForDeadline", "DeadlineDue"]] * 4


def test_staff_reply_before_the_deadline_means_no_breach(stack: Any, drain: Any, unique_email: Any) -> None:
    # GIVEN a conversation with a 2s first response and 5s resolution target (moto rounds each Wait down
    # to whole seconds, so a timer may fire up to 1s early: the gap leaves room to resolve in between)
    conv = conversation(stack, drain, unique_email)
    start_clock(stack, conv, fast_queue(first_response=2, resolution=5), urgency="high")
    # WHEN staff answer at once, and resolve it once the first-response timer has fired
    set_attrs(stack, conv, first_response_at={"S": datetime.now(UTC).isoformat()})
    run_until(stack, drain, lambda: len(sla_steps(stack, conv, 2)) == 2, "the resolution timer started")
    set_attrs(stack, conv, status={"S": "resolved"})
    run_until(
        stack,
        drain,
        lambda: all(status(stack, a) == "SUCCEEDED" for a in sla_steps(stack, conv, 2)),
        "both timers fired",
    )
    # THEN no breach, no notice, and the clock ended on the resolved conversation (no third step)
    assert item(stack, conv).get("breaches", {"L": []})["L"] == []
    assert notices(stack, conv) == []
    assert len(sla_steps(stack, conv, 2)) == 2


def test_newer_clock_version_supersedes_the_running_one(stack: Any, drain: Any, unique_email: Any) -> None:
    # GIVEN a running clock for version 2
    conv = conversation(stack, drain, unique_email)
    first = start_clock(stack, conv, fast_queue(first_response=2, resolution=3))
    # WHEN the conversation moves to version 3 (paused, resumed or re-prioritised) and its stop is lost
    set_attrs(stack, conv, workflow_version={"N": "3"})
    run_until(stack, drain, lambda: status(stack, first) == "SUCCEEDED", "the first timer fired")
    # THEN the old clock stands down at its first deadline without escalating or starting another timer
    assert item(stack, conv).get("breaches", {"L": []})["L"] == []
    assert notices(stack, conv) == []
    assert sla_steps(stack, conv, 2) == [first]


def test_duplicate_start_gives_one_execution_and_an_answer_stops_it_at_its_wait(
    stack: Any, drain: Any, unique_email: Any
) -> None:
    # GIVEN a conversation whose creation message is delivered twice, the second time a moment later
    conv = conversation(stack, drain, unique_email)
    queue = fast_queue(first_response=20, resolution=30)
    created = datetime.now(UTC)
    sfn = client(stack, "stepfunctions")
    machine = stack.env["SLA_STATE_MACHINE_ARN"]
    # WHEN the clock is started three times (same input twice, then a different input)
    arns = [
        start_sla_clock(
            sfn=sfn,
            state_machine_arn=machine,
            conversation_id=conv,
            version=2,
            deadlines=compute_deadlines(at, "normal", queue, ALWAYS),
            urgency="normal",
            queue=queue,
            hours=ALWAYS,
        )
        for at in (created, created, created + seconds(5))
    ]
    # THEN each start answers with the same execution, and only one exists
    name = execution_name(conv, 2, "sla")
    assert set(arns) == {execution_arn(machine, name)}
    assert [e["name"] for e in sfn.list_executions(stateMachineArn=machine)["executions"] if e["name"] == name] == [
        name
    ]
    # AND the staff answer that puts it on the customer stops it while it waits: one billed transition
    run_until(stack, drain, lambda: states_entered(stack, arns[0]) == ["WaitForDeadline"], "the clock waits")
    change = pause_sla_clock(
        sfn=sfn,
        state_machine_arn=machine,
        conversation_id=conv,
        version=2,
        deadlines=compute_deadlines(created, "normal", queue, ALWAYS),
        now=datetime.now(UTC),
    )
    assert change.version == 3
    run_until(stack, drain, lambda: status(stack, arns[0]) == "ABORTED", "the clock was stopped")
    assert states_entered(stack, arns[0]) == ["WaitForDeadline"]
    # AND a second stop finds nothing running
    assert not stop_sla_clock(sfn=sfn, state_machine_arn=machine, conversation_id=conv, version=2, cause="again")


def follow_up(stack: Any, conv: str, reply_id: str, *, delay: int = 1, resolve_after: int = 2) -> str:
    got = item(stack, conv)
    return start_follow_up(
        sfn=client(stack, "stepfunctions"),
        state_machine_arn=stack.env["FOLLOWUP_STATE_MACHINE_ARN"],
        conversation_id=conv,
        reply_id=reply_id,
        replied_at=datetime.now(UTC),
        inbound_count=int(got["inbound_count"]["N"]),
        policy=FollowUp(delay=seconds(delay), resolve_after=seconds(resolve_after)),
        resolved_status_due="resolved#9999-12-31T23:59:59+00:00",
    )


def follow_up_mails(stack: Any, conv: str) -> list[dict[str, Any]]:
    return [m for m in sent_emails(stack.moto_data()) if EMAILS[conv] in m["to"] and "solve" in m["text"]]


def test_follow_up_then_auto_resolve_without_customer_answer(stack: Any, drain: Any, unique_email: Any) -> None:
    # GIVEN staff replied (reply fu-1) and the conversation is pending on the customer
    reply_id = f"fu-{uuid.uuid4().hex[:8]}"
    conv = conversation(stack, drain, unique_email, status={"S": "pending_customer"}, follow_up_id={"S": reply_id})
    # WHEN the follow-up runs 1s after the reply, with 2s for the customer to answer it, and they stay silent
    arn = follow_up(stack, conv, reply_id)
    run_until(stack, drain, lambda: status(stack, arn) != "RUNNING", "the follow-up execution ended")
    drain()
    # THEN the customer got exactly one follow-up mail
    assert len(follow_up_mails(stack, conv)) == 1
    # AND the conversation is resolved, with its queue key and a timeline entry
    got = item(stack, conv)
    assert got["status"]["S"] == "resolved"
    assert got["status_due"]["S"] == "resolved#9999-12-31T23:59:59+00:00"
    assert "resolved_at" in got
    kinds = [e["M"]["kind"]["S"] for e in got["timeline"]["L"]]
    assert kinds.count("follow_up_sent") == 1 and kinds.count("auto_resolved") == 1
    # AND the machine billed three transitions: the wait, the follow-up task (its timeout is the
    # customer's time to answer), the auto-resolve request
    assert states_entered(stack, arn) == ["WaitForFollowUp", "FollowUpDue", "AutoResolveDue"]


def test_customer_answer_cancels_the_follow_up(stack: Any, drain: Any, unique_email: Any) -> None:
    # GIVEN a follow-up scheduled 1s after a staff reply
    reply_id = f"fu-{uuid.uuid4().hex[:8]}"
    conv = conversation(stack, drain, unique_email, status={"S": "pending_customer"}, follow_up_id={"S": reply_id})
    arn = follow_up(stack, conv, reply_id, resolve_after=60)
    # WHEN the customer writes again before it is due (the conversation reopens)
    got = item(stack, conv)
    set_attrs(stack, conv, inbound_count={"N": str(int(got["inbound_count"]["N"]) + 1)}, status={"S": "open"})
    run_until(stack, drain, lambda: status(stack, arn) != "RUNNING", "the follow-up execution ended")
    # THEN no follow-up is sent, the conversation stays open, and the execution ended at once (it does
    # not wait out the minute given to answer the follow-up): two billed transitions
    assert follow_up_mails(stack, conv) == []
    assert item(stack, conv)["status"]["S"] == "open"
    assert status(stack, arn) == "SUCCEEDED"
    assert states_entered(stack, arn) == ["WaitForFollowUp", "FollowUpDue"]


def test_later_staff_reply_supersedes_the_earlier_follow_up(stack: Any, drain: Any, unique_email: Any) -> None:
    # GIVEN a follow-up for reply fu-1, and staff then replied again (fu-2 now owns the follow-up)
    conv = conversation(stack, drain, unique_email, status={"S": "pending_customer"}, follow_up_id={"S": "fu-2"})
    arn = follow_up(stack, conv, "fu-1", resolve_after=60)
    # WHEN its time comes THEN it stands down without sending anything, and leaves the conversation be
    run_until(stack, drain, lambda: status(stack, arn) != "RUNNING", "the follow-up execution ended")
    assert follow_up_mails(stack, conv) == []
    assert item(stack, conv)["status"]["S"] == "pending_customer"
    output = json.loads(client(stack, "stepfunctions").describe_execution(executionArn=arn)["output"])
    assert output["outcome"] == {"follow_up": "skipped", "reason": "superseded"}


def test_a_timer_delivered_twice_records_one_breach_sends_one_notice_and_starts_one_next_step(
    stack: Any, drain: Any, unique_email: Any
) -> None:
    # GIVEN an unanswered conversation whose first-response timer fired: the machine's event, which
    # SQS may deliver more than once
    conv = conversation(stack, drain, unique_email)
    queue = fast_queue(first_response=1, resolution=600)
    deadlines = compute_deadlines(datetime.now(UTC) - seconds(5), "normal", queue, ALWAYS)
    timers = [t.to_input() for t in sla_timers(deadlines, urgency="normal", queue=queue, hours=ALWAYS)]
    event = {
        "action": "sla_due",
        "conversation_id": conv,
        "clock": sla_input(conv, 2, 0, timers),
        "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "execution": "delivered-by-the-test",
    }
    # WHEN it is delivered twice, the second time after the first was handled
    for _ in range(2):
        client(stack, "sqs").send_message(QueueUrl=stack.env["EVENTS_QUEUE_URL"], MessageBody=json.dumps(event))
        drain()
    # THEN the breach is on the item once, the supervisors got one notice, and the resolution timer
    # runs once, as step 1 of the clock
    got = item(stack, conv)
    assert [(b["M"]["kind"]["S"], b["M"]["level"]["N"]) for b in got["breaches"]["L"]] == [("first_response", "1")]
    assert [e["M"]["kind"]["S"] for e in got["timeline"]["L"]].count("sla_breached") == 1
    assert [(n["kind"], str(n["level"])) for n in notices(stack, conv)] == [("first_response", "1")]
    step1 = execution_arn(stack.env["SLA_STATE_MACHINE_ARN"], execution_name(conv, 2, "sla", 1))
    assert status(stack, step1) == "RUNNING"
    step1_input = json.loads(client(stack, "stepfunctions").describe_execution(executionArn=step1)["input"])
    assert step1_input["timer"]["kind"] == "resolution"
    stop_sla_clock(
        sfn=client(stack, "stepfunctions"),
        state_machine_arn=stack.env["SLA_STATE_MACHINE_ARN"],
        conversation_id=conv,
        version=2,
        cause="test over",
    )


def test_an_auto_resolve_delivered_twice_resolves_once(stack: Any, drain: Any, unique_email: Any) -> None:
    # GIVEN a conversation pending on the customer after a follow-up, and the machine's auto-resolve request
    reply_id = f"fu-{uuid.uuid4().hex[:8]}"
    conv = conversation(stack, drain, unique_email, status={"S": "pending_customer"}, follow_up_id={"S": reply_id})
    event = {
        "action": "auto_resolve",
        "conversation_id": conv,
        "reply_id": reply_id,
        "inbound_count": item(stack, conv)["inbound_count"]["N"],
        "resolved_status_due": "resolved#9999-12-31T23:59:59+00:00",
        "execution": "delivered-by-the-test",
    }
    # WHEN it is delivered twice
    for _ in range(2):
        client(stack, "sqs").send_message(QueueUrl=stack.env["EVENTS_QUEUE_URL"], MessageBody=json.dumps(event))
        drain()
    # THEN the conversation is resolved, with one auto_resolved entry on its timeline
    got = item(stack, conv)
    assert got["status"]["S"] == "resolved"
    assert [e["M"]["kind"]["S"] for e in got["timeline"]["L"]].count("auto_resolved") == 1
