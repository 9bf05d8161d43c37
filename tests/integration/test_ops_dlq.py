"""`replydesk dlq` against the local stack: a poisoned message is parked with its reason, listed without its
body, and processed exactly once when replayed after the fix, however often it is replayed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest

from cli.main import main
from local.outbox import sent_emails
from local.phone import inbound_payload, replies_for
from local.smtp import receipt_notification, ses_message_id

pytestmark = pytest.mark.integration


def dlq(stack: Any, capsys: Any, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(["dlq", *args, "--endpoint", stack.endpoint])
    out = capsys.readouterr()
    return rc, out.out + out.err


def listed(stack: Any, capsys: Any, queue: str = "intake") -> tuple[list[dict[str, Any]], str]:
    rc, out = dlq(stack, capsys, "list", queue, "--json")
    assert rc == 0, out
    return [json.loads(line) for line in out.splitlines() if line.strip()], out


def customer_mail(stack: Any, sender: str, body: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Grace Hopper <{sender}>"
    msg["To"] = stack.campaign.inbound_addresses[0]
    msg["Subject"] = "Broken kettle"
    msg["Date"] = "Fri, 01 May 2026 12:00:00 +0000"
    msg["Message-ID"] = make_msgid(domain="customer.test")
    msg.set_content(body)
    return msg.as_bytes()


def inbound_reasons(address_identity: str) -> list[str | None]:
    from chalicelib import store
    from chalicelib.models import IdentityModel

    customer_id = IdentityModel.get(address_identity).customer_id
    return [
        m.suppressed_reason
        for conv in store.customer_conversations(customer_id)
        for m in store.conversation_messages(conv.conversation_id)
        if m.direction == "in"
    ]


def inbound_count(address_identity: str) -> int:
    from chalicelib import store
    from chalicelib.models import IdentityModel

    customer_id = IdentityModel.get(address_identity).customer_id
    return sum(
        1
        for conv in store.customer_conversations(customer_id)
        for m in store.conversation_messages(conv.conversation_id)
        if m.direction == "in"
    )


def test_poisoned_email_is_parked_listed_without_body_and_replayed_once(stack: Any, drain: Any, capsys: Any) -> None:
    # GIVEN an SES receipt notification whose raw object is not in the bucket (a wrong key, a late write)
    sender = f"dlq-{uuid.uuid4().hex[:10]}@customer.test"
    body = f"My kettle {uuid.uuid4().hex[:8]} leaks from the bottom."
    raw = customer_mail(stack, sender, body)
    ses_id = ses_message_id()
    key = f"raw/email/{ses_id}"
    topic = stack.env["INBOUND_EMAIL_TOPIC_ARN"]
    note = receipt_notification(
        raw,
        mail_from=sender,
        recipients=[stack.campaign.inbound_addresses[0]],
        message_id=ses_id,
        bucket=stack.env["RAW_BUCKET"],
        key=key,
        topic_arn=topic,
        now=datetime.now(UTC),
    )
    stack.client("sns").publish(TopicArn=topic, Message=json.dumps(note))
    # WHEN the intake processes it
    drain()
    # THEN it lands in the intake DLQ with its reason, and `dlq list` shows reason, channel and source id
    entries, out = listed(stack, capsys)
    mine = [e for e in entries if e["source_id"] == ses_id]
    assert len(mine) == 1, entries
    entry = mine[0]
    assert entry["channel"] == "email"
    assert "raw object is missing" in entry["reason"]
    assert entry["raw_key"] == key
    # AND nothing the customer wrote or who they are is printed (the parked body holds the SES headers)
    assert sender not in out and "kettle" not in out and "Broken" not in out
    rc, shown = dlq(stack, capsys, "show", "intake", entry["message_id"])
    assert rc == 0 and ses_id in shown
    assert sender not in shown and "Broken" not in shown
    assert not [m for m in sent_emails(stack.moto_data()) if sender in m["to"]]

    # WHEN the fault is fixed (the raw object is written) and the entry is replayed
    stack.client("s3").put_object(Bucket=stack.env["RAW_BUCKET"], Key=key, Body=raw)
    rc, out = dlq(stack, capsys, "replay", "intake", "--id", entry["message_id"])
    assert rc == 0, out
    drain()
    # THEN the message is processed: stored once, acknowledged once, and gone from the DLQ
    assert inbound_count(f"email#{sender}") == 1
    acks = [m for m in sent_emails(stack.moto_data()) if sender in m["to"]]
    assert len(acks) == 1, inbound_reasons(f"email#{sender}")
    assert not [e for e in listed(stack, capsys)[0] if e["source_id"] == ses_id]

    # WHEN the same entry is replayed again (a replay that crashed before deleting it leaves a copy)
    stack.sqs.send_message(
        QueueUrl=stack.env["INTAKE_DLQ_URL"],
        MessageBody=json.dumps({"Type": "Notification", "TopicArn": topic, "Message": json.dumps(note)}),
        MessageAttributes={"reason": {"DataType": "String", "StringValue": "raw object is missing (NoSuchKey)"}},
    )
    again = [e for e in listed(stack, capsys)[0] if e["source_id"] == ses_id]
    assert len(again) == 1
    rc, out = dlq(stack, capsys, "replay", "intake", "--id", again[0]["message_id"])
    assert rc == 0, out
    drain()
    # THEN it does nothing twice: still one message and one ack
    assert inbound_count(f"email#{sender}") == 1
    assert len([m for m in sent_emails(stack.moto_data()) if sender in m["to"]]) == 1


def test_redriven_sms_keeps_its_body_hidden_and_replays_once(stack: Any, drain: Any, capsys: Any) -> None:
    # GIVEN an inbound SMS that SQS's redrive moved to the DLQ after maxReceiveCount (original body, no reason)
    phone = "+1425556" + f"{uuid.uuid4().int % 10000:04d}".replace("99", "98")
    payload = inbound_payload(phone, "Parcel 5521 never came", destination=stack.campaign.sms.number)
    body = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": stack.env["INBOUND_SMS_TOPIC_ARN"],
        "Message": json.dumps(payload),
    }
    stack.sqs.send_message(QueueUrl=stack.env["INTAKE_DLQ_URL"], MessageBody=json.dumps(body))
    # WHEN the operator lists the DLQ
    entries, out = listed(stack, capsys)
    mine = [e for e in entries if e["source_id"] == payload["inboundMessageId"]]
    # THEN it shows as an SMS redriven after repeated failures, without the number or the text
    assert len(mine) == 1, entries
    assert mine[0]["channel"] == "sms" and mine[0]["reason"] == "max_receives" and mine[0]["shape"] == "sns"
    assert phone not in out and "Parcel" not in out
    rc, table = dlq(stack, capsys, "list", "intake")
    assert rc == 0 and payload["inboundMessageId"] in table and phone not in table

    # WHEN it is replayed twice in a row (the second time from a leftover copy)
    for _ in range(2):
        stack.sqs.send_message(QueueUrl=stack.env["INTAKE_DLQ_URL"], MessageBody=json.dumps(body))
        copies = [e for e in listed(stack, capsys)[0] if e["source_id"] == payload["inboundMessageId"]]
        rc, out = dlq(stack, capsys, "replay", "intake", *[a for e in copies for a in ("--id", e["message_id"])])
        assert rc == 0, out
        drain()
    # THEN the SMS is stored once and acknowledged once
    assert inbound_count(f"phone#{phone}") == 1
    assert len(replies_for(stack.moto_data(), phone)) == 1
    assert not [e for e in listed(stack, capsys)[0] if e["source_id"] == payload["inboundMessageId"]]


def test_purge_removes_only_the_chosen_entry(stack: Any, capsys: Any) -> None:
    # GIVEN two unreadable records in the events DLQ
    url = stack.sqs.get_queue_url(QueueName=f"replydesk-{stack.campaign_name}-{stack.stage}-events-dlq")["QueueUrl"]
    for _ in range(2):
        stack.sqs.send_message(QueueUrl=url, MessageBody="not json " + uuid.uuid4().hex)
    entries, _ = listed(stack, capsys, "events")
    unreadable = [e for e in entries if e["shape"] == "unreadable"]
    assert len(unreadable) >= 2
    # WHEN one is purged
    rc, out = dlq(stack, capsys, "purge", "events", "--id", unreadable[0]["message_id"])
    # THEN it is gone and the other stays
    assert rc == 0, out
    left = {e["message_id"] for e in listed(stack, capsys, "events")[0]}
    assert unreadable[0]["message_id"] not in left
    assert unreadable[1]["message_id"] in left
    # AND an unreadable entry cannot be replayed: a clear refusal, not a silent drop
    rc, out = dlq(stack, capsys, "replay", "events", "--id", unreadable[1]["message_id"])
    assert rc == 1 and "cannot be replayed" in out
    assert unreadable[1]["message_id"] in {e["message_id"] for e in listed(stack, capsys, "events")[0]}


def _web_envelope_from(stack: Any, body: str) -> str | None:
    """The address a web envelope's raw submission was sent from (None for any other record)."""
    envelope = json.loads(body)
    if envelope.get("channel") != "web":
        return None
    raw = stack.client("s3").get_object(Bucket=envelope["bucket"], Key=envelope["key"])["Body"].read()
    return str(json.loads(raw).get("email"))


def test_slim_entries_are_rebuilt_from_their_raw_objects_and_replayed_once(stack: Any, drain: Any, capsys: Any) -> None:
    # GIVEN slim DLQ entries (reason, channel, source id, raw key: no body) for a web submission and an SMS
    # whose raw objects are in the raw bucket
    import urllib.request

    drain()  # other tests' records off the intake queue first
    email = f"slim-{uuid.uuid4().hex[:10]}@customer.test"
    req = urllib.request.Request(
        f"{stack.api_url}/contact",
        data=json.dumps(
            {"name": "Sam Slim", "email": email, "topic": "order_status", "message": "Where is it?", "consent": True}
        ).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 202
    # the intake record is taken off the queue, as if processing had parked it in the slim shape (the
    # queue may hold other tests' records too: only this submission's envelope is taken)
    got = stack.sqs.receive_message(QueueUrl=stack.env["INTAKE_QUEUE_URL"], MaxNumberOfMessages=10, WaitTimeSeconds=1)
    envelopes = [m for m in got.get("Messages", []) if _web_envelope_from(stack, m["Body"]) == email]
    assert len(envelopes) == 1
    envelope = json.loads(envelopes[0]["Body"])
    stack.sqs.delete_message(QueueUrl=stack.env["INTAKE_QUEUE_URL"], ReceiptHandle=envelopes[0]["ReceiptHandle"])
    phone = "+1425557" + f"{uuid.uuid4().int % 10000:04d}".replace("99", "98")
    payload = inbound_payload(phone, "Slim SMS body", destination=stack.campaign.sms.number)
    sms_key = f"raw/sms/{datetime.now(UTC).date().isoformat()}/{payload['inboundMessageId']}.json"
    stack.client("s3").put_object(Bucket=stack.env["RAW_BUCKET"], Key=sms_key, Body=json.dumps(payload).encode())
    lost = f"web-lost-{uuid.uuid4().hex}"  # a slim entry whose raw object was never written
    for channel, source_id, key in (
        ("web", envelope["source_id"], envelope["key"]),
        ("sms", payload["inboundMessageId"], sms_key),
        ("web", lost, ""),
    ):
        slim = {"reason": "TransientError: throttled", "channel": channel, "source_id": source_id, "raw_key": key}
        stack.sqs.send_message(QueueUrl=stack.env["INTAKE_DLQ_URL"], MessageBody=json.dumps(slim))
    entries, out = listed(stack, capsys)
    mine = {
        e["source_id"]: e
        for e in entries
        if e["source_id"] in (envelope["source_id"], payload["inboundMessageId"], lost)
    }
    assert {e["shape"] for e in mine.values()} == {"slim"} and len(mine) == 3
    assert email not in out and phone not in out

    # WHEN all three are replayed
    ids = [a for e in mine.values() for a in ("--id", e["message_id"])]
    rc, out = dlq(stack, capsys, "replay", "intake", *ids)
    # THEN the one without a raw object is named with its reason and stays, and the replay went on past it
    assert rc == 1 and f"entry {mine[lost]['message_id']} has no raw object" in out, out
    assert out.count("replayed ") == 2, out
    assert [e["source_id"] for e in listed(stack, capsys)[0] if e["source_id"] in mine] == [lost]
    drain()
    # THEN each is processed once from its raw object: stored and acknowledged on its channel
    assert inbound_count(f"email#{email}") == 1
    assert len([m for m in sent_emails(stack.moto_data()) if email in m["to"]]) == 1
    assert inbound_count(f"phone#{phone}") == 1
    assert len(replies_for(stack.moto_data(), phone)) == 1
