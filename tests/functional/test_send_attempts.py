"""The sending clients (SES, SNS) make one attempt per call: botocore never repeats a send on its own.

A hook on botocore's `before-send` event sits where the HTTP request leaves the real client, inside
botocore's retry loop, so what it counts is attempts on the wire. The other clients keep their retries.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.httpsession import URLLib3Session

from local.outbox import sent_emails, sent_sms

pytestmark = pytest.mark.functional


class Wire:
    """Counts the attempts of one operation and answers the first one as it is told to."""

    def __init__(self, first: Callable[[Any], AWSResponse | None]) -> None:
        self.attempts = 0
        self._first = first

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        self.attempts += 1
        return self._first(request) if self.attempts == 1 else None  # later attempts reach moto


def server_error(request: Any) -> AWSResponse:
    """The front door answers 503 before the service did anything."""
    return AWSResponse(request.url, 503, {}, _Raw(b""))


def done_then_lost(request: Any) -> AWSResponse:
    """The request reaches the service and is carried out; its answer never arrives."""
    URLLib3Session().send(request)
    raise ReadTimeoutError(endpoint_url=request.url)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@pytest.fixture
def hooked(stack: Any) -> Iterator[Callable[[Any, str, Wire], None]]:
    registered: list[tuple[Any, str, Wire]] = []

    def hook(client: Any, operation: str, wire: Wire) -> None:
        event = f"before-send.{client.meta.service_model.service_id.hyphenize()}.{operation}"
        client.meta.events.register_first(event, wire)
        registered.append((client, event, wire))

    yield hook
    for client, event, wire in registered:
        client.meta.events.unregister(event, wire)


def raw_mail(stack: Any, to: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = stack.campaign.sender_email
    msg["To"] = to
    msg["Subject"] = "Your reference"
    msg.set_content("We have your message.")
    return msg.as_bytes()


def test_a_mail_whose_answer_is_lost_is_sent_once(stack: Any, hooked: Callable[[Any, str, Wire], None]) -> None:
    from chalicelib import pipeline

    ses = pipeline.get_runtime().ses
    to = f"once-{uuid.uuid4().hex[:10]}@customer.test"
    # GIVEN SES carries out the first SendRawEmail but its answer is lost on the way back
    wire = Wire(done_then_lost)
    hooked(ses, "SendRawEmail", wire)
    # WHEN the runtime's SES client sends one mail
    with pytest.raises(ReadTimeoutError):
        ses.send_raw_email(
            Source=stack.campaign.sender_email, Destinations=[to], RawMessage={"Data": raw_mail(stack, to)}
        )
    # THEN it tried once and the customer got one mail (the outbox, not botocore, decides what comes next)
    assert wire.attempts == 1
    assert len([m for m in sent_emails(stack.moto_data()) if to in m["to"]]) == 1


def test_a_mail_answered_with_a_5xx_is_not_repeated_by_botocore(
    stack: Any, hooked: Callable[[Any, str, Wire], None]
) -> None:
    from chalicelib import pipeline

    ses = pipeline.get_runtime().ses
    to = f"fivexx-{uuid.uuid4().hex[:10]}@customer.test"
    # GIVEN the first answer to SendRawEmail is a 503
    wire = Wire(server_error)
    hooked(ses, "SendRawEmail", wire)
    # WHEN the runtime's SES client sends
    with pytest.raises(ClientError) as caught:
        ses.send_raw_email(
            Source=stack.campaign.sender_email, Destinations=[to], RawMessage={"Data": raw_mail(stack, to)}
        )
    # THEN the 503 reaches the caller after one attempt, and nothing was sent
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert wire.attempts == 1
    assert [m for m in sent_emails(stack.moto_data()) if to in m["to"]] == []


def test_an_sms_whose_answer_is_lost_is_published_once(stack: Any, hooked: Callable[[Any, str, Wire], None]) -> None:
    from chalicelib import pipeline

    sns = pipeline.get_runtime().sns
    phone = f"+1425{uuid.uuid4().int % 10**7:07d}"
    if phone.endswith("99"):  # moto reports numbers ending in 99 as opted out
        phone = phone[:-2] + "11"
    # GIVEN SNS publishes the first SMS but its answer is lost
    wire = Wire(done_then_lost)
    hooked(sns, "Publish", wire)
    # WHEN the runtime's SNS client publishes one SMS
    with pytest.raises(ReadTimeoutError):
        sns.publish(PhoneNumber=phone, Message="We have your message.")
    # THEN one attempt, one SMS
    assert wire.attempts == 1
    assert len([m for m in sent_sms(stack.moto_data()) if m["to"] == phone]) == 1


def test_clients_that_do_not_send_keep_their_retries(stack: Any, hooked: Callable[[Any, str, Wire], None]) -> None:
    from chalicelib import aws

    # GIVEN the first answer to a DynamoDB read is a 503 (a read is safe to repeat)
    dynamodb = aws.dynamodb()
    wire = Wire(server_error)
    hooked(dynamodb, "ListTables", wire)
    # WHEN it is called THEN botocore retried it and the second attempt succeeded
    dynamodb.list_tables(Limit=1)
    assert wire.attempts == 2
