"""The web-form channel end to end on the local stack: POST → raw in S3 → queue → stored → one ack."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from local.outbox import sent_emails
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def post(
    stack: Any, body: bytes, content_type: str = "application/json", accept: str = "application/json"
) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        f"{stack.api_url}/contact", data=body, method="POST", headers={"Content-Type": content_type, "Accept": accept}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def form(email: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "Ada Lovelace",
        "email": email,
        "topic": "order_status",
        "message": "Where is my order? It should have arrived on Monday.",
        "consent": True,
        **extra,
    }


@contextlib.contextmanager
def kept_log_lines() -> Iterator[list[dict[str, Any]]]:
    """The handlers' JSON log lines, formatted by Powertools in the thread that logs them (its keys
    are per thread), while the block runs."""
    from chalicelib.observability import logger

    lines: list[dict[str, Any]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(logger.registered_formatter.format(record)))

    handler = Keep()
    logging.getLogger(logger.name).addHandler(handler)
    try:
        yield lines
    finally:
        logging.getLogger(logger.name).removeHandler(handler)


def acks_to(stack: Any, address: str) -> list[dict[str, Any]]:
    return [m for m in sent_emails(stack.moto_data()) if address in m["to"]]


def queue_depth(stack: Any, url: str) -> int:
    attrs = stack.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_form_submission_is_stored_raw_and_acknowledged_once(stack: Any, drain: Any, unique_email: Any) -> None:
    # GIVEN a customer who fills in the contact form
    email = unique_email("web")
    # WHEN they submit it
    status, body = post(stack, json.dumps(form(email, phone="+46 70 123 45 67")).encode())
    # THEN they get 202 with a human-friendly reference
    assert status == 202, body
    reference = body["reference"]
    assert re.fullmatch(r"RD-[A-HJ-NP-Z2-9]{6}", reference)
    # AND the raw submission is in S3 before processing
    s3 = stack.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=stack.env["RAW_BUCKET"], Prefix="raw/web/").get("Contents", [])]
    raws = [json.loads(s3.get_object(Bucket=stack.env["RAW_BUCKET"], Key=k)["Body"].read()) for k in keys]
    assert any(r["email"] == email and r["reference"] == reference for r in raws)
    # WHEN the intake queue is processed
    with kept_log_lines() as lines:
        drain()
    # THEN the handler's log lines name the conversation (and nothing of the previous record)
    processed = [x for x in lines if x.get("message") == "message processed"]
    assert [x.get("correlation_id") for x in processed] == [reference]
    # AND exactly one ack went to that address, with the reference, marked as an auto-reply
    acks = acks_to(stack, email)
    assert len(acks) == 1, acks
    ack = acks[0]
    assert reference in ack["subject"] and reference in ack["text"]
    assert ack["auto_submitted"] == "auto-replied"
    assert ack["message_id"].endswith("@demo.replydesk.test")
    assert "<html" in ack["html"]
    # AND customer, conversation and message are stored
    from chalicelib import store
    from chalicelib.models import IdentityModel

    conv = store.get_conversation(reference)
    assert conv is not None and conv.channel == "web" and conv.ack_sent_at is not None
    messages = store.conversation_messages(reference)
    assert [m.direction for m in messages].count("in") == 1
    assert [m.direction for m in messages].count("out") == 1
    assert IdentityModel.get(f"email#{email}").customer_id == conv.customer_id
    # AND the phone from the form is kept on the customer as an unverified contact, not as an identity
    from chalicelib.models import CustomerModel

    assert "phone#+46701234567" in (CustomerModel.get(conv.customer_id).unverified_contacts or set())


def test_same_sqs_message_delivered_twice_gives_one_message_and_one_ack(
    stack: Any, drain: Any, unique_email: Any
) -> None:
    # GIVEN a submission whose queue message is delivered twice (SQS is at-least-once)
    email = unique_email("dup")
    status, body = post(stack, json.dumps(form(email)).encode())
    assert status == 202
    url = stack.env["INTAKE_QUEUE_URL"]
    msg = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1)["Messages"][0]
    stack.sqs.send_message(QueueUrl=url, MessageBody=msg["Body"])  # the duplicate delivery
    stack.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=0)
    # WHEN both are processed
    drain()
    # THEN one stored inbound message and one ack
    from chalicelib import store

    messages = store.conversation_messages(body["reference"])
    assert [m.direction for m in messages].count("in") == 1
    assert len(acks_to(stack, email)) == 1


@pytest.mark.parametrize(
    ("payload", "content_type", "status", "problem"),
    [
        (json.dumps({"name": "A", "message": "hi", "consent": True}).encode(), "application/json", 400, "email"),
        (
            json.dumps({"name": "A", "email": "a@b.test", "message": "x" * 100_000, "consent": True}).encode(),
            "application/json",
            413,
            "larger than",
        ),
        (
            json.dumps(
                {"name": "A", "email": "a@b.test", "message": "hi", "consent": True, "website": "http://spam.test"}
            ).encode(),
            "application/json",
            400,
            "automated",
        ),
        (b"{not json", "application/json", 400, "not valid JSON"),
        (
            json.dumps({"name": "A", "email": "not-an-address", "message": "hi", "consent": True}).encode(),
            "application/json",
            400,
            "email",
        ),
        (json.dumps({"name": "A", "email": "a@b.test", "message": "hi"}).encode(), "application/json", 400, "consent"),
    ],
    ids=["missing-email", "100kb-body", "honeypot", "bad-json", "bad-email", "no-consent"],
)
def test_invalid_submissions_are_rejected_and_nothing_is_enqueued(
    stack: Any, drain: Any, payload: bytes, content_type: str, status: int, problem: str
) -> None:
    # GIVEN an empty intake queue
    drain()
    url = stack.env["INTAKE_QUEUE_URL"]
    # WHEN an invalid submission arrives
    code, body = post(stack, payload, content_type)
    # THEN a 4xx names the problem and nothing was enqueued
    assert code == status, body
    assert problem in body.get("Message", ""), body
    assert queue_depth(stack, url) == 0


def test_form_encoded_submission_without_javascript(stack: Any, drain: Any, unique_email: Any) -> None:
    # GIVEN a browser without JavaScript posting the form encoded
    email = unique_email("nojs")
    body = (
        f"name=Grace+Hopper&email={email.replace('@', '%40')}&topic=returns&message=I+want+a+refund"
        "&consent=yes&website="
    ).encode()
    req = urllib.request.Request(
        f"{stack.api_url}/contact",
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"},
    )
    # WHEN it is submitted
    with urllib.request.urlopen(req, timeout=30) as resp:
        page = resp.read().decode()
        code = resp.status
    # THEN a thank-you page shows the reference
    assert code == 202
    reference = re.search(r"RD-[A-HJ-NP-Z2-9]{6}", page)
    assert reference is not None
    drain()
    assert len(acks_to(stack, email)) == 1


def test_contact_page_lists_campaign_topics(stack: Any) -> None:
    with urllib.request.urlopen(f"{stack.api_url}/", timeout=30) as resp:
        page = resp.read().decode()
    assert "Contact Northwind Outdoor" in page
    assert 'value="returns"' in page and 'name="website"' in page


@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("en", "Hello, my parcel has not arrived yet and I would like to know where it is."),
        ("sv", "Hej, mitt paket har inte kommit än och jag undrar var det är någonstans."),
        ("de", "Hallo, mein Paket ist noch nicht angekommen und ich möchte wissen, wo es ist."),
        ("fr", "Bonjour, mon colis n'est toujours pas arrivé et je voudrais savoir où il se trouve."),
        ("es", "Hola, mi paquete todavía no ha llegado y me gustaría saber dónde está."),
    ],
)
def test_ack_is_in_the_customers_language(stack: Any, drain: Any, unique_email: Any, lang: str, message: str) -> None:
    # GIVEN a customer writing in one of the campaign's languages (no language hint from the browser)
    email = unique_email(f"lang-{lang}")
    status, body = post(
        stack, json.dumps({"name": "Kim", "email": email, "message": message, "consent": True}).encode()
    )
    assert status == 202
    # WHEN it is processed
    drain()
    # THEN the acknowledgement is rendered from that language's templates
    (ack,) = acks_to(stack, email)
    assert ack["language"] == lang
    assert body["reference"] in ack["text"]


def test_concurrent_pollers_acknowledge_each_submission_once(stack: Any, drain: Any, unique_email: Any) -> None:
    # GIVEN a pump with four pollers per queue, as `make run` runs it (Lambda's concurrent batches),
    # whose intake handler records how many batches run at the same time
    import threading

    from local.pump import EventPump, Mapping

    drain()
    in_flight, most, lock = [0], [0], threading.Lock()

    def counting(handler: Any) -> Any:
        def run(event: dict[str, Any], context: Any) -> Any:
            with lock:
                in_flight[0] += 1
                most[0] = max(most[0], in_flight[0])
            try:
                return handler(event, context)
            finally:
                with lock:
                    in_flight[0] -= 1

        return run

    mappings = [
        Mapping(m.name, m.queue_url, m.queue_arn, 2, counting(m.handler) if m.name == "process_intake" else m.handler)
        for m in stack.pump.mappings
    ]
    pump = EventPump(mappings, stack.sqs, stack.region, wait_seconds=1, concurrency=4)
    # WHEN a burst of submissions arrives while it runs
    addresses = [unique_email("burst") for _ in range(12)]
    references = []
    for address in addresses:
        status, body = post(stack, json.dumps(form(address)).encode())
        assert status == 202
        references.append(body["reference"])
    with kept_log_lines() as lines:
        pump.start()
        try:
            wait_for(lambda: all(acks_to(stack, a) for a in addresses), timeout=120, interval=1.0)
        finally:
            pump.stop()
    # THEN batches ran side by side, and every customer got exactly one ack
    assert most[0] >= 2
    # AND each record's log line names its own conversation, whichever batch ran beside it
    processed = [x.get("correlation_id") for x in lines if x.get("message") == "message processed"]
    assert sorted(processed, key=str) == sorted(references)
    assert {a: len(acks_to(stack, a)) for a in addresses} == dict.fromkeys(addresses, 1)
    assert pump.failures == 0


def test_the_cold_start_leaves_the_cyclic_collector_on(stack: Any, drain: Any, unique_email: Any) -> None:
    # GIVEN the app imported and its intake path built with the collector paused (chalicelib/coldstart.py)
    import gc

    from chalicelib import pipeline

    status, _ = post(stack, json.dumps(form(unique_email("gc"))).encode())
    assert status == 202
    # WHEN a contact has been processed
    drain()
    # THEN the handler used the processing path's module, and collection is back on for every later batch
    assert stack.app_module.intake_path() is pipeline
    assert gc.isenabled()
