"""One handler at a time through chalice.test.Client, with the session's moto server behind it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from tests.conftest import load_event

pytestmark = pytest.mark.functional


def test_contact_route_returns_202_and_enqueues(stack: Any) -> None:
    # GIVEN the app's HTTP handler
    with Client(stack.app_module.app) as client:
        body = {"name": "Ada", "email": "fn-handler@customer.test", "message": "Hello", "consent": True}
        # WHEN a submission is posted
        resp = client.http.post("/contact", headers={"Content-Type": "application/json"}, body=json.dumps(body))
    # THEN it is accepted with a reference and lies in the intake queue
    assert resp.status_code == 202
    reference = resp.json_body["reference"]
    msgs = stack.sqs.receive_message(
        QueueUrl=stack.env["INTAKE_QUEUE_URL"], MaxNumberOfMessages=10, WaitTimeSeconds=1
    ).get("Messages", [])
    assert any(json.loads(m["Body"]).get("channel") == "web" for m in msgs)
    for m in msgs:  # hand them back for the pump
        stack.sqs.change_message_visibility(
            QueueUrl=stack.env["INTAKE_QUEUE_URL"], ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
        )
    stack.pump.drain()
    from chalicelib import store

    assert store.get_conversation(reference) is not None


def test_unsupported_content_type_is_415(stack: Any) -> None:
    with Client(stack.app_module.app) as client:
        resp = client.http.post("/contact", headers={"Content-Type": "text/plain"}, body="hi")
    assert resp.status_code == 415


def test_intake_handler_reports_nothing_failed_for_an_unparseable_record(stack: Any) -> None:
    # GIVEN the powertools sample SQS event, whose bodies are not our envelopes
    event = load_event("powertools/sqsEvent.json")
    # WHEN the intake handler gets it
    with Client(stack.app_module.app) as client:
        result = client.lambda_.invoke("process_intake", event)
    # THEN the records are parked in the DLQ with a reason, not retried forever
    assert result.payload == {"batchItemFailures": []}
    dlq = stack.sqs.receive_message(
        QueueUrl=stack.env["INTAKE_DLQ_URL"], MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=1
    ).get("Messages", [])
    sample_ids = {r["messageId"] for r in event["Records"]}
    parked = [m for m in dlq if m["MessageAttributes"]["source_queue_message_id"]["StringValue"] in sample_ids]
    assert parked and all(m["MessageAttributes"]["reason"]["StringValue"] for m in parked)
    for m in dlq:
        stack.sqs.delete_message(QueueUrl=stack.env["INTAKE_DLQ_URL"], ReceiptHandle=m["ReceiptHandle"])
