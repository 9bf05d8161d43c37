"""State transitions per conversation on the common workflow paths, and the Step Functions cost they imply.

Runs the real ASL from infra/statemachines/ in moto server mode with second-scale deadlines, counts the
states entered in each execution's history (what Standard workflows bill as transitions), and prints
the cost per 1,000 conversations at $0.025 per 1,000 transitions.
Run: .venv/bin/python bench/bench_workflow.py (BENCH_VERBOSE=1 lists the states of each path).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import requests
from moto.server import ThreadedMotoServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chalicelib.config import BusinessHours, FollowUp, Queue, SlaPolicy
from chalicelib.workflow import compute_deadlines, pause_sla_clock, start_follow_up, start_sla_clock
from local.statemachines import load_state_machine

PRICE_PER_1000_TRANSITIONS = 0.025
ALWAYS = BusinessHours(timezone="UTC", weekly={}, holidays=frozenset(), always_open=True)
TIMEOUT_S = 40
PAUSED = "answered: the staff reply pauses the clock"
FOLLOW_UP = "follow-up sent, then auto-resolved"


def _queue(again: bool) -> Queue:
    urg = ("low", "normal", "high", "urgent")
    sla = SlaPolicy(
        first_response=dict.fromkeys(urg, timedelta(seconds=1)), resolution=dict.fromkeys(urg, timedelta(seconds=5))
    )
    return Queue(
        id="general",
        label="General",
        sla=sla,
        escalation_queue="supervisors",
        escalate_again_after=timedelta(seconds=1) if again else None,
    )


def measure() -> dict[str, tuple[str, int, list[str]]]:
    """Per path: the execution's final status, its state transitions and the states it entered."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ["MOTO_PORT"] = str(port)  # moto's ASL interpreter calls the integrations back on this port
    url = f"http://{host}:{port}"
    config = {"stepfunctions": {"execute_state_machine": True}}
    requests.post(f"{url}/moto-api/config", json=config, timeout=5)
    kw: dict[str, Any] = {
        "endpoint_url": url,
        "region_name": "us-east-1",
        "aws_access_key_id": "bench",
        "aws_secret_access_key": "bench",
    }
    clients: list[Any] = [boto3.client(s, **kw) for s in ("dynamodb", "sqs", "sns", "stepfunctions")]
    ddb, sqs, sns, sfn = clients
    key = [{"AttributeName": "conversation_id", "KeyType": "HASH"}]
    ddb.create_table(
        TableName="conversations",
        KeySchema=key,
        AttributeDefinitions=[{"AttributeName": "conversation_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    subs = {
        "ConversationsTable": "conversations",
        "EscalationTopicArn": sns.create_topic(Name="escalation")["TopicArn"],
        "EventsQueueUrl": sqs.create_queue(QueueName="events")["QueueUrl"],
    }
    role = "arn:aws:iam::123456789012:role/bench"
    sla_arn = sfn.create_state_machine(name="sla", definition=load_state_machine("sla", subs), roleArn=role)[
        "stateMachineArn"
    ]
    fu_arn = sfn.create_state_machine(name="followup", definition=load_state_machine("followup", subs), roleArn=role)[
        "stateMachineArn"
    ]

    def put(conv: str, **extra: Any) -> None:
        item = {
            "conversation_id": {"S": conv},
            "status": {"S": "open"},
            "workflow_version": {"N": "1"},
            "inbound_count": {"N": "1"},
            "queue": {"S": "general"},
            "urgency": {"S": "normal"},
        }
        ddb.put_item(TableName="conversations", Item={**item, **extra})

    def sla(conv: str, again: bool) -> str:
        q = _queue(again)
        return start_sla_clock(
            sfn=sfn,
            state_machine_arn=sla_arn,
            conversation_id=conv,
            version=1,
            deadlines=compute_deadlines(datetime.now(UTC), "normal", q, ALWAYS),
            urgency="normal",
            queue=q,
            hours=ALWAYS,
        )

    runs: dict[str, str] = {}
    # (conversation, execution label, first-response checks after which staff resolve it)
    pending_resolves: list[tuple[str, str, int]] = []
    for again in (False, True):
        label = "second level on" if again else "one level"
        # Answered in time: staff reply at once and resolve it before the resolution deadline; nobody
        # stops the clock, so it ends at its next check (stopping it on resolve saves those transitions).
        conv = f"RD-A{uuid.uuid4().hex[:5]}"
        put(conv, first_response_at={"S": datetime.now(UTC).isoformat()})
        runs[f"answered in time ({label})"] = sla(conv, again)
        pending_resolves.append((conv, f"answered in time ({label})", 2 if again else 1))
        # Breached: nobody answers, every timer escalates.
        conv = f"RD-B{uuid.uuid4().hex[:5]}"
        put(conv)
        runs[f"breached, never answered ({label})"] = sla(conv, again)
    # As the system runs it: the staff reply puts the conversation on the customer and pauses the clock
    # (StopExecution while it waits), so the answered clock bills only the states before the stop.
    conv = f"RD-P{uuid.uuid4().hex[:5]}"
    put(conv)
    runs[PAUSED] = sla(conv, False)
    started = time.monotonic()
    while time.monotonic() - started < TIMEOUT_S:
        events = sfn.get_execution_history(executionArn=runs[PAUSED], maxResults=1000)["events"]
        if any(e.get("stateEnteredEventDetails", {}).get("name") == "WaitForDeadline" for e in events):
            break
        time.sleep(0.05)
    q = _queue(False)
    pause_sla_clock(
        sfn=sfn,
        state_machine_arn=sla_arn,
        conversation_id=conv,
        version=1,
        deadlines=compute_deadlines(datetime.now(UTC), "normal", q, ALWAYS),
        now=datetime.now(UTC),
    )
    conv = f"RD-F{uuid.uuid4().hex[:5]}"
    put(conv, status={"S": "pending_customer"}, follow_up_id={"S": "msg-1"})
    policy = FollowUp(delay=timedelta(seconds=1), resolve_after=timedelta(seconds=1))
    runs[FOLLOW_UP] = start_follow_up(
        sfn=sfn,
        state_machine_arn=fu_arn,
        conversation_id=conv,
        reply_id="msg-1",
        replied_at=datetime.now(UTC),
        inbound_count=1,
        policy=policy,
        resolved_status_due="resolved#9999",
    )

    # Wait for all executions (bounded), resolving the answered conversations between their deadlines.
    deadline = time.monotonic() + TIMEOUT_S
    statuses: dict[str, str] = {}
    while time.monotonic() < deadline:
        for pending in list(pending_resolves):
            conv_id, run, checks = pending
            events = sfn.get_execution_history(executionArn=runs[run], maxResults=1000)["events"]
            exits = [e["stateExitedEventDetails"]["name"] for e in events if "stateExitedEventDetails" in e]
            exited = exits.count("DeadlineMet")
            if exited >= checks:
                ddb.update_item(
                    TableName="conversations",
                    Key={"conversation_id": {"S": conv_id}},
                    UpdateExpression="SET #s = :r",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":r": {"S": "resolved"}},
                )
                pending_resolves.remove(pending)
        statuses = {k: sfn.describe_execution(executionArn=a)["status"] for k, a in runs.items()}
        if all(s != "RUNNING" for s in statuses.values()):
            break
        time.sleep(0.2)

    results: dict[str, tuple[str, int, list[str]]] = {}
    for label, arn in runs.items():
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        names = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
        results[label] = (statuses.get(label, "?"), len(names), names)
    server.stop()
    return results


def main() -> None:
    results = measure()
    print(f"{'path':<42} {'status':<10} {'transitions':>11} {'USD per 1,000 conversations':>28}")
    for label, (status, transitions, names) in results.items():
        cost = transitions * PRICE_PER_1000_TRANSITIONS
        print(f"{label:<42} {status:<10} {transitions:>11} {cost:>28.3f}")
        if os.environ.get("BENCH_VERBOSE"):
            print("   ", json.dumps(names))
    answered = results[PAUSED][1] + results[FOLLOW_UP][1]
    print(
        f"answered conversation incl. its follow-up (reply pauses the clock, then the follow-up): {answered} "
        f"transitions (target <= 4), ${answered * PRICE_PER_1000_TRANSITIONS:.3f} per 1,000 conversations"
    )
    print(
        f"(Standard workflows, ${PRICE_PER_1000_TRANSITIONS} per 1,000 state transitions; "
        "a stopped clock bills only the transitions before the stop)"
    )


if __name__ == "__main__":
    main()
