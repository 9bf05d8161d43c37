"""The real SLA and follow-up state machines running in moto server mode, with second-scale deadlines."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from chalicelib.config import BusinessHours, FollowUp, Queue, SlaPolicy
from chalicelib.workflow import (
    compute_deadlines,
    execution_arn,
    execution_name,
    start_follow_up,
    start_sla_clock,
    stop_sla_clock,
)
from local.statemachines import load_state_machine

pytestmark = pytest.mark.integration

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/replydesk-statemachines"
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


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # moto's ASL interpreter calls the service integrations back over HTTP on localhost:$MOTO_PORT,
    # read when each task runs; port 0 means we only know it now.
    previous = os.environ.get("MOTO_PORT")
    os.environ["MOTO_PORT"] = str(port)
    url = f"http://{host}:{port}"
    requests.post(f"{url}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}, timeout=5)
    yield url
    server.stop()
    if previous is None:
        os.environ.pop("MOTO_PORT", None)
    else:
        os.environ["MOTO_PORT"] = previous


@dataclass(frozen=True)
class Stack:
    ddb: Any
    sqs: Any
    sns: Any
    sfn: Any
    table: str
    events_queue_url: str
    escalation_inbox_url: str
    sla_arn: str
    followup_arn: str


@pytest.fixture
def stack(moto_url: str) -> Stack:
    """Fresh table, topic (with an SQS subscription to read escalations back), events queue and machines."""
    kw: dict[str, Any] = {
        "endpoint_url": moto_url,
        "region_name": REGION,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    clients: list[Any] = [boto3.client(s, **kw) for s in ("dynamodb", "sqs", "sns", "stepfunctions")]
    ddb, sqs, sns, sfn = clients
    suffix = uuid.uuid4().hex[:8]
    table = f"conversations-{suffix}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "conversation_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "conversation_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    topic = sns.create_topic(Name=f"escalation-{suffix}")["TopicArn"]
    events = sqs.create_queue(QueueName=f"events-{suffix}")["QueueUrl"]
    inbox = sqs.create_queue(QueueName=f"escalation-inbox-{suffix}")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    subs = {"ConversationsTable": table, "EscalationTopicArn": topic, "EventsQueueUrl": events}
    sla = sfn.create_state_machine(name=f"sla-{suffix}", definition=load_state_machine("sla", subs), roleArn=ROLE)[
        "stateMachineArn"
    ]
    followup = sfn.create_state_machine(
        name=f"followup-{suffix}", definition=load_state_machine("followup", subs), roleArn=ROLE
    )["stateMachineArn"]
    return Stack(ddb, sqs, sns, sfn, table, events, inbox, sla, followup)


def put_conversation(stack: Stack, conversation_id: str, **extra: dict[str, Any]) -> None:
    """A conversation item as the store writes it (PynamoDB writes defaults, so these are always present)."""
    item: dict[str, Any] = {
        "conversation_id": {"S": conversation_id},
        "status": {"S": "open"},
        "queue": {"S": "general"},
        "urgency": {"S": "normal"},
        "workflow_version": {"N": "1"},
        "inbound_count": {"N": "1"},
        "breaches": {"L": []},
        "timeline": {"L": []},
    }
    item.update(extra)
    stack.ddb.put_item(TableName=stack.table, Item=item)


def get_conversation(stack: Stack, conversation_id: str) -> dict[str, Any]:
    item: dict[str, Any] = stack.ddb.get_item(TableName=stack.table, Key={"conversation_id": {"S": conversation_id}})[
        "Item"
    ]
    return item


def history(stack: Stack, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = stack.sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def states_entered(events: list[dict[str, Any]]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def wait_for_end(stack: Stack, arn: str, expected: str = "SUCCEEDED") -> list[dict[str, Any]]:
    """Poll until the execution ends (bounded); on a wrong or missing end, fail with its history."""
    deadline = time.monotonic() + EXECUTION_TIMEOUT_S
    status = "RUNNING"
    while time.monotonic() < deadline:
        status = stack.sfn.describe_execution(executionArn=arn)["status"]
        if status != "RUNNING":
            break
        time.sleep(0.25)
    events = history(stack, arn)
    if status != expected:
        details = [json.dumps({k: v for k, v in e.items() if k.endswith("Details")})[:300] for e in events]
        lines = [f"{e['id']:>3} {e['type']} {d}" for e, d in zip(events, details, strict=True)]
        pytest.fail(f"execution {status}, expected {expected}; history:\n" + "\n".join(lines))
    return events


def wait_for_state(stack: Stack, arn: str, state: str) -> None:
    """Poll (bounded) until the execution has entered `state`, e.g. to act between two deadlines."""
    deadline = time.monotonic() + EXECUTION_TIMEOUT_S
    while time.monotonic() < deadline:
        if state in states_entered(history(stack, arn)):
            return
        time.sleep(0.1)
    pytest.fail(f"execution never entered {state}; entered: {states_entered(history(stack, arn))}")


def drain(stack: Stack, queue_url: str) -> list[dict[str, Any]]:
    """Every message now in the queue, bodies parsed (SNS envelopes unwrapped)."""
    out: list[dict[str, Any]] = []
    while True:
        batch = stack.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return out
        for m in batch:
            body = json.loads(m["Body"])
            if "TopicArn" in body and "Message" in body:
                # moto may hand the SNS Message over as an object rather than a string
                msg = body["Message"]
                body = {"Subject": body.get("Subject"), **(json.loads(msg) if isinstance(msg, str) else msg)}
            out.append(body)
            stack.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def test_no_staff_reply_escalates_twice_per_deadline(stack: Stack) -> None:
    # GIVEN an open conversation with a 2s first response and 3s resolution target, second level after 1s
    conv = f"RD-{uuid.uuid4().hex[:6].upper()}"
    put_conversation(stack, conv)
    queue = fast_queue(first_response=2, resolution=3, again=1)
    deadlines = compute_deadlines(datetime.now(UTC), "normal", queue, ALWAYS)
    # WHEN its SLA clock runs and nobody answers
    arn = start_sla_clock(
        sfn=stack.sfn,
        state_machine_arn=stack.sla_arn,
        conversation_id=conv,
        version=1,
        deadlines=deadlines,
        urgency="normal",
        queue=queue,
        hours=ALWAYS,
    )
    events = wait_for_end(stack, arn)
    # THEN four breaches are on the item, it is urgent and in the escalation queue
    item = get_conversation(stack, conv)
    breaches = [(b["M"]["kind"]["S"], b["M"]["level"]["N"]) for b in item["breaches"]["L"]]
    assert sorted(breaches) == [
        ("first_response", "1"),
        ("first_response", "2"),
        ("resolution", "1"),
        ("resolution", "2"),
    ]
    assert item["urgency"]["S"] == "urgent"
    assert item["queue"]["S"] == "supervisors"
    assert [e["M"]["kind"]["S"] for e in item["timeline"]["L"]] == ["sla_breached"] * 4
    # AND every urgency the breaches set is explained in the conversation's reasons
    assert sorted(r["S"] for r in item["reasons"]["L"]) == [
        "urgency high: first_response deadline missed (level 1)",
        "urgency high: resolution deadline missed (level 1)",
        "urgency urgent: first_response deadline missed (level 2)",
        "urgency urgent: resolution deadline missed (level 2)",
    ]
    # AND the events queue got one sla_breached event per breach, carrying what the supervisors'
    # notice says; the machine itself publishes nothing (our code sends the notice once, through the outbox)
    emitted = drain(stack, stack.events_queue_url)
    assert sorted((e["action"], e["kind"], e["level"]) for e in emitted) == sorted(
        ("sla_breached", k, lvl) for k, lvl in breaches
    )
    assert {e["execution"] for e in emitted} == {arn}
    assert all(e["conversation_id"] == conv and str(e["version"]) == "1" and e["due"] and e["queue"] for e in emitted)
    assert drain(stack, stack.escalation_inbox_url) == []
    # AND the history shows each timer waited, checked and escalated
    entered = states_entered(events)
    assert entered.count("WaitForDeadline") == 4
    assert entered.count("EmitBreachEvent") == 4
    assert entered[-1] == "AllTimersDone"


def test_staff_reply_before_the_deadline_means_no_breach(stack: Stack) -> None:
    # GIVEN a conversation with a 2s first response and 5s resolution target (moto rounds each Wait down
    # to whole seconds, so a timer may fire up to 1s early: the gap leaves room to resolve in between)
    conv = f"RD-{uuid.uuid4().hex[:6].upper()}"
    put_conversation(stack, conv)
    queue = fast_queue(first_response=2, resolution=5)
    deadlines = compute_deadlines(datetime.now(UTC), "high", queue, ALWAYS)
    arn = start_sla_clock(
        sfn=stack.sfn,
        state_machine_arn=stack.sla_arn,
        conversation_id=conv,
        version=1,
        deadlines=deadlines,
        urgency="high",
        queue=queue,
        hours=ALWAYS,
    )
    # WHEN staff answer at once and resolve it before the resolution deadline
    stack.ddb.update_item(
        TableName=stack.table,
        Key={"conversation_id": {"S": conv}},
        UpdateExpression="SET first_response_at = :t",
        ExpressionAttributeValues={":t": {"S": datetime.now(UTC).isoformat()}},
    )
    wait_for_state(stack, arn, "DeadlineMet")
    stack.ddb.update_item(
        TableName=stack.table,
        Key={"conversation_id": {"S": conv}},
        UpdateExpression="SET #s = :r",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":r": {"S": "resolved"}},
    )
    events = wait_for_end(stack, arn)
    # THEN no breach, no escalation, no event, and the clock ended on the resolved conversation
    assert get_conversation(stack, conv)["breaches"]["L"] == []
    assert drain(stack, stack.escalation_inbox_url) == []
    assert drain(stack, stack.events_queue_url) == []
    entered = states_entered(events)
    assert "RecordFirstResponseBreach" not in entered
    assert "RecordResolutionBreach" not in entered
    assert entered[-1] == "ConversationDone"


def test_newer_clock_version_supersedes_the_running_one(stack: Stack) -> None:
    # GIVEN a running clock for version 1
    conv = f"RD-{uuid.uuid4().hex[:6].upper()}"
    put_conversation(stack, conv)
    queue = fast_queue(first_response=2, resolution=3)
    deadlines = compute_deadlines(datetime.now(UTC), "normal", queue, ALWAYS)
    arn = start_sla_clock(
        sfn=stack.sfn,
        state_machine_arn=stack.sla_arn,
        conversation_id=conv,
        version=1,
        deadlines=deadlines,
        urgency="normal",
        queue=queue,
        hours=ALWAYS,
    )
    # WHEN the conversation moves to version 2 (paused, resumed or re-prioritised) and its stop is lost
    stack.ddb.update_item(
        TableName=stack.table,
        Key={"conversation_id": {"S": conv}},
        UpdateExpression="SET workflow_version = :v",
        ExpressionAttributeValues={":v": {"N": "2"}},
    )
    events = wait_for_end(stack, arn)
    # THEN the old clock stands down at its first deadline without escalating
    assert states_entered(events)[-1] == "Superseded"
    assert get_conversation(stack, conv)["breaches"]["L"] == []
    assert drain(stack, stack.events_queue_url) == []


def test_duplicate_start_gives_one_execution(stack: Stack) -> None:
    # GIVEN a conversation whose creation message is delivered twice, the second time a moment later
    conv = f"RD-{uuid.uuid4().hex[:6].upper()}"
    put_conversation(stack, conv)
    queue = fast_queue(first_response=20, resolution=30)
    created = datetime.now(UTC)
    first = compute_deadlines(created, "normal", queue, ALWAYS)
    later = compute_deadlines(created + seconds(5), "normal", queue, ALWAYS)
    # WHEN the clock is started three times (same input twice, then a different input)
    arns = [
        start_sla_clock(
            sfn=stack.sfn,
            state_machine_arn=stack.sla_arn,
            conversation_id=conv,
            version=1,
            deadlines=d,
            urgency="normal",
            queue=queue,
            hours=ALWAYS,
        )
        for d in (first, first, later)
    ]
    # THEN each start answers with the same execution, and only one exists
    name = execution_name(conv, 1, "sla")
    assert set(arns) == {execution_arn(stack.sla_arn, name)}
    executions = stack.sfn.list_executions(stateMachineArn=stack.sla_arn)["executions"]
    assert [e["name"] for e in executions if e["name"] == name] == [name]
    # AND stopping it (resolved by staff) ends it
    assert stop_sla_clock(
        sfn=stack.sfn, state_machine_arn=stack.sla_arn, conversation_id=conv, version=1, cause="resolved"
    )
    # (moto applies a stop from its worker thread, so the status follows a moment later)
    wait_for_end(stack, arns[0], expected="ABORTED")


def test_follow_up_then_auto_resolve_without_customer_answer(stack: Stack) -> None:
    # GIVEN staff replied (reply msg-1) and the conversation is pending on the customer
    conv = f"RD-{uuid.uuid4().hex[:6].upper()}"
    put_conversation(stack, conv, status={"S": "pending_customer"}, follow_up_id={"S": "msg-1"})
    # WHEN the follow-up runs with a 2s delay and auto-resolve 1s later, and the customer stays silent
    arn = start_follow_up(
        sfn=stack.sfn,
        state_machine_arn=stack.followup_arn,
        conversation_id=conv,
        reply_id="msg-1",
        replied_at=datetime.now(UTC),
        inbound_count=1,
        policy=FollowUp(delay=seconds(2), resolve_after=seconds(1)),
        resolved_status_due="resolved#9999-12-31T23:59:59+00:00",
    )
    events = wait_for_end(stack, arn)
    # THEN the handler was asked to send the follow-up, then told the conversation was auto-resolved
    emitted = drain(stack, stack.events_queue_url)
    assert [e["action"] for e in emitted] == ["send_follow_up", "auto_resolved"]
    assert all(e["conversation_id"] == conv and e["reply_id"] == "msg-1" for e in emitted)
    # AND the item is resolved with its queue key and a timeline entry
    item = get_conversation(stack, conv)
    assert item["status"]["S"] == "resolved"
    assert item["status_due"]["S"] == "resolved#9999-12-31T23:59:59+00:00"
    assert "resolved_at" in item
    assert [e["M"]["kind"]["S"] for e in item["timeline"]["L"]] == ["auto_resolved"]
    assert states_entered(events) == [
        "WaitForFollowUp",
        "LoadConversation",
        "StillWaitingOnCustomer",
        "SendFollowUp",
        "WaitToAutoResolve",
        "ReloadConversation",
        "StillNoAnswer",
        "AutoResolve",
        "EmitAutoResolved",
    ]


def test_customer_answer_cancels_the_follow_up(stack: Stack) -> None:
    # GIVEN a follow-up scheduled 2s after a staff reply
    conv = f"RD-{uuid.uuid4().hex[:6].upper()}"
    put_conversation(stack, conv, status={"S": "pending_customer"}, follow_up_id={"S": "msg-1"})
    arn = start_follow_up(
        sfn=stack.sfn,
        state_machine_arn=stack.followup_arn,
        conversation_id=conv,
        reply_id="msg-1",
        replied_at=datetime.now(UTC),
        inbound_count=1,
        policy=FollowUp(delay=seconds(2), resolve_after=seconds(1)),
        resolved_status_due="resolved#x",
    )
    # WHEN the customer writes again before it is due (the conversation reopens)
    stack.ddb.update_item(
        TableName=stack.table,
        Key={"conversation_id": {"S": conv}},
        UpdateExpression="SET inbound_count = :n, #s = :o",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":n": {"N": "2"}, ":o": {"S": "open"}},
    )
    events = wait_for_end(stack, arn)
    # THEN no follow-up is sent and the conversation stays open
    assert states_entered(events)[-1] == "CustomerReplied"
    assert drain(stack, stack.events_queue_url) == []
    assert get_conversation(stack, conv)["status"]["S"] == "open"


def test_later_staff_reply_supersedes_the_earlier_follow_up(stack: Stack) -> None:
    # GIVEN a follow-up for reply msg-1, and staff then replied again (msg-2 now owns the follow-up)
    conv = f"RD-{uuid.uuid4().hex[:6].upper()}"
    put_conversation(stack, conv, status={"S": "pending_customer"}, follow_up_id={"S": "msg-2"})
    arn = start_follow_up(
        sfn=stack.sfn,
        state_machine_arn=stack.followup_arn,
        conversation_id=conv,
        reply_id="msg-1",
        replied_at=datetime.now(UTC) - seconds(10),
        inbound_count=1,
        policy=FollowUp(delay=seconds(1), resolve_after=seconds(1)),
        resolved_status_due="resolved#x",
    )
    # WHEN its time comes THEN it stands down without sending anything
    events = wait_for_end(stack, arn)
    assert states_entered(events)[-1] == "Superseded"
    assert drain(stack, stack.events_queue_url) == []
