"""Every raw email of the shared corpus through the email intake path of the local stack.

Each file goes where SES's receipt rule would put it (the raw bucket, then the receipt notification on
the inbound-email topic), in batches drained as they go. SMTP itself is covered by test_email_channel;
here it would only add line-length refusals for fixtures with overlong lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parseaddr
from typing import Any

import pytest

from local.outbox import sent_emails
from tests.conftest import dlq_messages
from tests.unit.mailcorpus import CONTENT_ONLY_SPAM, DATA, Row, rows

pytestmark = pytest.mark.integration

BATCH = 40

OUTLOOK_MSG = "emails_mail_parser/mail_outlook_1"
SES_HEADERS_CAP = 10 * 1024


@dataclass(frozen=True, slots=True)
class Delivery:
    row: Row
    ses_id: str
    raw: bytes


def envelope_sender(raw: bytes) -> str:
    """The SMTP MAIL FROM that delivered this file: its Return-Path (empty for bounces), else its From."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw[:200_000])
    if headers.get("Return-Path") is not None:
        return parseaddr(str(headers.get("Return-Path")))[1]
    return parseaddr(str(headers.get("From", "")))[1]


def chunks(items: list[Row], size: int) -> Iterator[list[Row]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def queue_in_flight(stack: Any, url: str) -> int:
    attrs = stack.sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(v) for v in attrs.values())


def dlq_reasons(stack: Any) -> dict[str, str]:
    """Every record parked in the intake DLQ (body → reason), made visible again for other readers."""
    return {
        m["Body"]: (m.get("MessageAttributes") or {}).get("reason", {}).get("StringValue", "")
        for m in dlq_messages(stack)
    }


def raw_keys(stack: Any) -> set[str]:
    s3 = stack.client("s3")
    return {
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.env["RAW_BUCKET"], Prefix="raw/email/")
        for o in page.get("Contents", [])
    }


def ses_receipt(
    raw: bytes, *, mail_from: str, recipient: str, ses_id: str, bucket: str, key: str, topic: str, spam: bool
) -> dict[str, Any]:
    """The SES receipt notification for one file, with SES's header cap applied.

    SES cuts `mail.headers` when they exceed 10 KB and says so in `headersTruncated` (SES docs,
    "Contents of notifications for Amazon SES email receiving"); flanker's long-header.eml has a
    200 KB subject, and the uncut list does not fit SNS's 256 KB message limit.
    """
    from local.smtp import receipt_notification

    note = receipt_notification(
        raw,
        mail_from=mail_from,
        recipients=[recipient],
        message_id=ses_id,
        bucket=bucket,
        key=key,
        topic_arn=topic,
        now=datetime.now(UTC),
    )
    headers = note["mail"]["headers"]
    if len(json.dumps(headers)) > SES_HEADERS_CAP:
        kept: list[dict[str, str]] = []
        for h in headers:
            if len(json.dumps([*kept, h])) > SES_HEADERS_CAP:
                break
            kept.append(h)
        note["mail"]["headers"] = kept
        note["mail"]["headersTruncated"] = True
    if spam:
        note["receipt"]["spamVerdict"] = {"status": "FAIL"}  # what SES's content filter says
    return note


def stored_inbound() -> dict[str, Any]:
    """Every stored inbound message by source id: one paginated scan instead of a query per file."""
    from chalicelib.models import MessageModel

    wanted = ["conversation_id", "source_id", "suppressed_reason", "rfc_message_id", "raw_key"]
    return {m.source_id: m for m in MessageModel.scan(MessageModel.direction == "in", attributes_to_get=wanted)}


def source_id(delivery: Delivery) -> str | None:
    """The source id the pipeline stores this delivery under; None if it is no email at all."""
    from chalicelib import store
    from chalicelib.errors import InvalidInput
    from chalicelib.intake.email import parse_email

    try:
        parsed = parse_email(
            delivery.raw,
            source_id=delivery.ses_id,
            raw_key=f"raw/email/{delivery.ses_id}",
            received_at=datetime.now(UTC),
            envelope_sender=envelope_sender(delivery.raw),
        )
    except InvalidInput:
        return None
    msg = parsed.message
    if msg.message_id:
        return "mid-" + store.stable_id(msg.message_id, msg.sender)
    return delivery.ses_id


# Bounces are two thirds of the corpus and take one code path: the stack sees every file of the other
# labels and every BOUNCE_STRIDE-th bounce (about 560 files). The unit tier (tests/unit/test_email_parse.py,
# test_guard.py over mailcorpus.py) runs every file through parse and guard.
BOUNCE_STRIDE = 3
OTHER_STRIDE = 1


def stack_sample(corpus: tuple[Row, ...]) -> list[Row]:
    bounces = [r for r in corpus if r.label == "bounce"]
    other = [r for r in corpus if r.label == "other"]
    rare = [r for r in corpus if r.label not in ("bounce", "other")]
    return rare + other[::OTHER_STRIDE] + bounces[::BOUNCE_STRIDE]


@pytest.mark.timeout(1500)  # hundreds of files through the stack
def test_corpus_emails_are_kept_and_nothing_automated_is_acknowledged(stack: Any, drain: Any) -> None:
    # GIVEN the labelled corpus (every file but two thirds of the bounces) and an empty intake queue
    from local.smtp import ses_message_id

    assert len(rows()) > 1000
    corpus = stack_sample(rows())
    assert {r.label for r in corpus} == {r.label for r in rows()}
    drain()
    s3, sns = stack.client("s3"), stack.client("sns")
    bucket, topic = stack.env["RAW_BUCKET"], stack.env["INBOUND_EMAIL_TOPIC_ARN"]
    recipient = stack.campaign.inbound_addresses[0]
    deliveries: list[Delivery] = []

    # WHEN each file is stored raw and announced as SES does, a batch at a time, processed as it goes
    for batch in chunks(corpus, BATCH):
        for row in batch:
            raw = (DATA / row.file).read_bytes()
            ses_id = ses_message_id()
            key = f"raw/email/{ses_id}"
            s3.put_object(Bucket=bucket, Key=key, Body=raw)
            note = ses_receipt(
                raw,
                mail_from=envelope_sender(raw),
                recipient=recipient,
                ses_id=ses_id,
                bucket=bucket,
                key=key,
                topic=topic,
                spam=row.file in CONTENT_ONLY_SPAM,
            )
            sns.publish(TopicArn=topic, Message=json.dumps(note), Subject="Amazon SES Email Receipt")
            deliveries.append(Delivery(row, ses_id, raw))
        drain()

    # THEN nothing crashed the pipeline: the intake queue is empty, no record is left in flight
    assert queue_in_flight(stack, stack.env["INTAKE_QUEUE_URL"]) == 0
    # AND every file is in the raw bucket
    keys = raw_keys(stack)
    missing_raw = [d.row.file for d in deliveries if f"raw/email/{d.ses_id}" not in keys]
    assert missing_raw == []

    # AND each is either a stored inbound message or parked in the DLQ with a reason
    messages = stored_inbound()
    dlq = dlq_reasons(stack)
    parked = {d.ses_id: reason for d in deliveries for body, reason in dlq.items() if d.ses_id in body}
    stored: dict[str, Any] = {}
    lost: list[str] = []
    for d in deliveries:
        if d.ses_id in parked:
            assert parked[d.ses_id].strip(), f"{d.row.file} parked without a reason"
            continue
        sid = source_id(d)
        hit = messages.get(sid) if sid else None
        if hit is None:
            lost.append(d.row.file)
        else:
            stored[d.row.file] = hit
    assert lost == [], f"{len(lost)} neither stored nor parked: {lost[:20]}"
    # AND the Outlook .msg binary was rejected cleanly, with the reason
    outlook = next(d for d in deliveries if d.row.file == OUTLOOK_MSG)
    assert "Outlook" in parked[outlook.ses_id] or "MIME" in parked[outlook.ses_id], parked[outlook.ses_id]

    # AND nothing automated or list mail was acknowledged: its stored message carries the reason,
    # no sent mail answers its Message-ID, and its sender got no mail at all (unless the same address
    # also sent a file that may be acknowledged)
    sent = sent_emails(stack.moto_data())
    answered = {m["in_reply_to"] for m in sent if m["in_reply_to"]}
    mailed = {addr.lower() for m in sent for addr in m["to"]}
    may_ack_senders = {s for d in deliveries if not d.row.must_not_ack for s in senders(d.raw)}
    acked_wrongly: list[str] = []
    for d in deliveries:
        if not d.row.must_not_ack or d.ses_id in parked:
            continue
        msg = stored[d.row.file]
        if msg.suppressed_reason is None or (msg.rfc_message_id and msg.rfc_message_id in answered):
            acked_wrongly.append(f"{d.row.file} ({d.row.label}): reason {msg.suppressed_reason}")
        elif (senders(d.raw) - may_ack_senders) & mailed:
            acked_wrongly.append(f"{d.row.file} ({d.row.label}): mail sent to its sender")
    assert acked_wrongly == []


def senders(raw: bytes) -> set[str]:
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw[:200_000])
    return {a.lower() for _, a in getaddresses([str(v) for v in headers.get_all("From", [])]) if "@" in a}
