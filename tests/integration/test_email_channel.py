"""The email channel end to end on the local stack: SMTP → raw in S3 → queue → stored → one threaded ack."""

from __future__ import annotations

import csv
import json
import re
import smtplib
import uuid
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest

from local.outbox import sent_emails

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
RT_SERIES = DATA / "emails_rt" / "8859-15-message-series"
REFERENCE = re.compile(r"\[(RD-[A-HJ-NP-Z2-9]{6})\]")


# ------------------------------------------------------------------ helpers


def mailbox(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@customer.test"


def support(stack: Any) -> str:
    return str(stack.campaign.inbound_addresses[0])


def customer_mail(
    stack: Any,
    sender: str,
    subject: str,
    body: str = "Where is my order? It has not arrived.",
    *,
    in_reply_to: str | None = None,
    references: tuple[str, ...] = (),
    headers: dict[str, str] | None = None,
) -> tuple[bytes, str]:
    """A plain customer mail as a mail client writes it; returns the raw bytes and its Message-ID."""
    msg = EmailMessage()
    msg["From"] = f"Ada Lovelace <{sender}>"
    msg["To"] = support(stack)
    msg["Subject"] = subject
    msg["Date"] = "Fri, 01 May 2026 12:00:00 +0000"
    message_id = make_msgid(domain="customer.test")
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        msg["References"] = " ".join(f"<{r}>" for r in references)
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes(), message_id.strip("<>")


def smtp_send(stack: Any, raw: bytes, mail_from: str, rcpt: str) -> str:
    """Deliver over SMTP the way an MTA does; returns the SES message id the server queued it as."""
    # SMTP lines end in CRLF (RFC 5321 2.3.8); smtplib converts str but sends bytes as they are.
    raw = re.sub(rb"\r\n|\r|\n", b"\r\n", raw)
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=60) as smtp:
        smtp.ehlo()
        code, _ = smtp.mail(mail_from)
        assert code == 250
        code, reply = smtp.rcpt(rcpt)
        assert code == 250, reply
        code, reply = smtp.data(raw)
        assert code == 250, reply
    queued = re.search(rb"queued as (\w+)", reply)
    assert queued is not None, reply
    return queued.group(1).decode()


def send(stack: Any, raw: bytes, sender: str) -> str:
    return smtp_send(stack, raw, sender, support(stack))


def deliver_via_ses(stack: Any, raw: bytes, mail_from: str) -> str:
    """What SES's receipt rule does, without SMTP's line-length limit: raw to S3, then the notification.

    Fixture mail may hold lines longer than SMTP allows; SES receives such mail from MTAs that re-encode.
    """
    from local.smtp import receipt_notification, ses_message_id

    ses_id = ses_message_id()
    key = f"raw/email/{ses_id}"
    bucket = stack.env["RAW_BUCKET"]
    topic = stack.env["INBOUND_EMAIL_TOPIC_ARN"]
    stack.client("s3").put_object(Bucket=bucket, Key=key, Body=raw)
    note = receipt_notification(
        raw,
        mail_from=mail_from,
        recipients=[support(stack)],
        message_id=ses_id,
        bucket=bucket,
        key=key,
        topic_arn=topic,
        now=datetime.now(UTC),
    )
    stack.client("sns").publish(TopicArn=topic, Message=json.dumps(note), Subject="Amazon SES Email Receipt")
    return ses_id


def lines(raw: bytes) -> list[bytes]:
    return raw.replace(b"\r\n", b"\n").rstrip(b"\n").split(b"\n")


def acks_to(stack: Any, address: str) -> list[dict[str, Any]]:
    return [m for m in sent_emails(stack.moto_data()) if address in m["to"]]


def raw_object(stack: Any, key: str) -> bytes:
    body: bytes = stack.client("s3").get_object(Bucket=stack.env["RAW_BUCKET"], Key=key)["Body"].read()
    return body


def customer_id(address: str) -> str:
    from chalicelib.models import IdentityModel

    return str(IdentityModel.get(f"email#{address.lower()}").customer_id)


def email_conversations(address: str) -> list[Any]:
    from chalicelib import store

    return [c for c in store.customer_conversations(customer_id(address)) if c.channel == "email"]


def inbound_messages(address: str) -> list[Any]:
    """Every stored inbound message of this customer, oldest first."""
    from chalicelib import store

    out = [
        m
        for c in email_conversations(address)
        for m in store.conversation_messages(c.conversation_id)
        if m.direction == "in"
    ]
    return sorted(out, key=lambda m: m.created_at)


def inbound(message_id: str | None, sender: str, ses_id: str = "") -> Any:
    """The stored inbound message, found by the source id the pipeline gives it.

    That is the Message-ID with the sender (so a second delivery dedupes), else SES's message id.
    """
    from chalicelib import store
    from chalicelib.models import MessageModel

    source_id = "mid-" + store.stable_id(message_id, sender.lower()) if message_id else ses_id
    hit = store.find_message_by_source(source_id)
    assert hit is not None, f"inbound message <{message_id or ses_id}> was not stored"
    return MessageModel.get(hit.conversation_id, hit.sort, consistent_read=True)


def with_sender(raw: bytes, address: str) -> bytes:
    """The raw mail with its From header (and Return-Path) replaced; every other byte unchanged."""
    head, sep, body = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw[:20000] else raw.partition(b"\n\n")
    eol = b"\r\n" if sep == b"\r\n\r\n" else b"\n"
    out: list[bytes] = []
    skipping = False
    for line in head.split(eol):
        if skipping and line[:1] in (b" ", b"\t"):
            continue  # a folded continuation of the header being replaced
        skipping = False
        name = line.split(b":", 1)[0].strip().lower()
        if name in (b"from", b"return-path"):
            out.append(b"From: " + address.encode() if name == b"from" else b"Return-Path: <" + address.encode() + b">")
            skipping = True
            continue
        out.append(line)
    return eol.join(out) + sep + body


def label_rows(label: str) -> list[str]:
    with (DATA / "email_labels.csv").open(encoding="utf-8", newline="") as fh:
        return [r["file"] for r in csv.DictReader(fh) if r["label"] == label]


# ------------------------------------------------------------------ SMTP end to end and threading


def test_mail_is_stored_raw_and_acknowledged_once_in_thread(stack: Any, drain: Any) -> None:
    # GIVEN a customer who writes to the campaign's address over SMTP
    sender = mailbox("smtp")
    raw, message_id = customer_mail(stack, sender, "My boots have not arrived")
    ses_id = send(stack, raw, sender)
    # THEN the raw bytes are in the raw bucket before anything is processed, as sent (SMTP's CRLF and
    # final line ending aside)
    key = f"raw/email/{ses_id}"
    assert lines(raw_object(stack, key)) == lines(raw)
    # WHEN the intake queue is processed
    drain()
    # THEN exactly one ack went to the customer, threaded on their message
    acks = acks_to(stack, sender)
    assert len(acks) == 1, acks
    ack = acks[0]
    assert ack["in_reply_to"] == message_id
    assert f"<{message_id}>" in ack["references"]
    token = REFERENCE.search(ack["subject"])
    assert token is not None, ack["subject"]
    reference = token.group(1)
    assert ack["subject"] == f"Re: My boots have not arrived [{reference}]"
    assert ack["auto_submitted"] == "auto-replied"
    assert reference in ack["text"] and "<html" in ack["html"]
    assert ack["message_id"].endswith(f"@{stack.campaign.message_id_domain}")
    # AND the stored message points at its raw object, in the conversation the reference names
    msg = inbound(message_id, sender)
    assert msg.raw_key == key
    assert msg.conversation_id == reference
    from chalicelib import store

    conv = store.get_conversation(reference)
    assert conv is not None and conv.channel == "email" and conv.ack_sent_at is not None

    # WHEN the customer answers the ack (In-Reply-To = our ack's Message-ID), keeping the subject
    reply, reply_id = customer_mail(
        stack,
        sender,
        f"Re: {ack['subject']}",
        "It is order 4471.",
        in_reply_to=ack["message_id"],
        references=(message_id, ack["message_id"]),
    )
    send(stack, reply, sender)
    drain()
    # THEN it joins the same conversation and no second ack goes out
    assert inbound(reply_id, sender).conversation_id == reference
    assert len(acks_to(stack, sender)) == 1
    directions = [m.direction for m in store.conversation_messages(reference)]
    assert directions.count("in") == 2 and directions.count("out") == 1


def test_reply_with_only_the_reference_token_threads(stack: Any, drain: Any) -> None:
    # GIVEN a conversation that was acknowledged with its reference in the subject
    sender = mailbox("token")
    raw, _ = customer_mail(stack, sender, "Wrong size delivered")
    send(stack, raw, sender)
    drain()
    (ack,) = acks_to(stack, sender)
    reference = REFERENCE.search(ack["subject"]).group(1)  # type: ignore[union-attr]
    # WHEN the customer writes a new mail (no In-Reply-To, no References) with just the token in the subject
    again, again_id = customer_mail(stack, sender, f"About [{reference}]", "Any news on the exchange?")
    send(stack, again, sender)
    drain()
    # THEN it joins that conversation, without a second ack
    assert inbound(again_id, sender).conversation_id == reference
    assert len(acks_to(stack, sender)) == 1


def test_reference_token_of_another_customer_does_not_thread(stack: Any, drain: Any) -> None:
    # GIVEN someone else's acknowledged conversation
    owner = mailbox("owner")
    raw, _ = customer_mail(stack, owner, "Broken zip on my jacket")
    send(stack, raw, owner)
    drain()
    reference = REFERENCE.search(acks_to(stack, owner)[0]["subject"]).group(1)  # type: ignore[union-attr]
    # WHEN a different address writes with that token in the subject
    stranger = mailbox("stranger")
    guess, guess_id = customer_mail(stack, stranger, f"Re: [{reference}]", "Hello")
    send(stack, guess, stranger)
    drain()
    # THEN it opens its own conversation (a token alone is guessable) and gets its own ack
    assert inbound(guess_id, stranger).conversation_id != reference
    assert len(acks_to(stack, stranger)) == 1


def test_stacked_reply_prefixes_do_not_stack_in_our_subject(stack: Any, drain: Any) -> None:
    # GIVEN a customer whose client stacks reply prefixes on a new thread
    sender = mailbox("rere")
    raw, _ = customer_mail(stack, sender, "Re: Re: RE: Question about my invoice")
    # WHEN it is delivered and processed
    send(stack, raw, sender)
    drain()
    # THEN the ack's subject has one "Re:" and the reference token once
    (ack,) = acks_to(stack, sender)
    reference = REFERENCE.search(ack["subject"]).group(1)  # type: ignore[union-attr]
    assert ack["subject"] == f"Re: Question about my invoice [{reference}]"

    # WHEN the customer replies to the ack with "Re: Re:" in front of our subject
    reply, reply_id = customer_mail(stack, sender, f"Re: Re: {ack['subject']}", "Thanks", in_reply_to=ack["message_id"])
    send(stack, reply, sender)
    drain()
    # THEN it threads, and no ack is added
    assert inbound(reply_id, sender).conversation_id == reference
    assert len(acks_to(stack, sender)) == 1


def test_a_reply_by_subject_joins_the_older_open_question_not_the_latest(stack: Any, drain: Any) -> None:
    # GIVEN a customer with two open questions, the second asked after the first
    sender = mailbox("twoq")
    for subject in ("Question number 1", "Question number 2"):
        raw, _ = customer_mail(stack, sender, subject)
        send(stack, raw, sender)
        drain()
    by_subject = {c.subject: c.conversation_id for c in email_conversations(sender)}
    assert set(by_subject) == {"Question number 1", "Question number 2"}
    # WHEN their client answers the first one with a German prefix and no In-Reply-To
    raw, reply_id = customer_mail(stack, sender, "AW: Question number 1", "Any news on this?")
    send(stack, raw, sender)
    drain()
    # THEN it joins the first question's conversation, not the latest one and not a new one
    assert inbound(reply_id, sender).conversation_id == by_subject["Question number 1"]
    assert len(email_conversations(sender)) == 2


def test_same_raw_message_delivered_twice_is_stored_and_acknowledged_once(stack: Any, drain: Any) -> None:
    # GIVEN one raw message that reaches us twice (a retrying MTA): same bytes, same Message-ID
    sender = mailbox("twice")
    raw, message_id = customer_mail(stack, sender, "Do you ship to Norway?")
    first = send(stack, raw, sender)
    second = send(stack, raw, sender)
    # THEN SES-like, each delivery is its own raw object
    assert first != second
    # WHEN both are processed
    drain()
    # THEN one stored message and one ack
    msgs = inbound_messages(sender)
    assert len(msgs) == 1, [m.raw_key for m in msgs]
    assert msgs[0].rfc_message_id == message_id
    assert len(acks_to(stack, sender)) == 1


# ------------------------------------------------------------------ what the SMTP server refuses


def test_unknown_recipient_is_refused_with_550(stack: Any) -> None:
    # GIVEN a mail to an address that is not one of the campaign's mailboxes
    sender = mailbox("nobody")
    raw, _ = customer_mail(stack, sender, "Hello")
    received = stack.smtp_handler.received
    # WHEN it is offered over SMTP
    with (
        smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as smtp,
        pytest.raises(smtplib.SMTPRecipientsRefused) as refused,
    ):
        smtp.sendmail(sender, [f"sales@{stack.campaign.inbound_domain}"], raw)
    # THEN the recipient is refused with a permanent 550 and nothing was accepted
    ((code, _text),) = refused.value.recipients.values()
    assert code == 550
    assert stack.smtp_handler.received == received


def test_mail_over_40_mb_is_refused_with_552(stack: Any) -> None:
    # GIVEN a mail just over SES's 40 MB receiving limit (built in memory, 998-character lines)
    sender = mailbox("huge")
    line = b"A" * 998 + b"\r\n"
    head = (
        f"From: {sender}\r\nTo: {support(stack)}\r\nSubject: big\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@customer.test>\r\n\r\n"
    ).encode()
    raw = head + line * (40 * 1024 * 1024 // len(line) + 10)
    assert len(raw) > 40 * 1024 * 1024
    received = stack.smtp_handler.received
    # WHEN a client that declares the size (ESMTP SIZE) offers it
    with (
        smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=120) as smtp,
        pytest.raises(smtplib.SMTPSenderRefused) as declared,
    ):
        smtp.sendmail(sender, [support(stack)], raw)
    # THEN MAIL FROM is refused with 552 before any data is sent
    assert declared.value.smtp_code == 552
    # WHEN a client that does not declare it sends the data anyway
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=120) as smtp:
        smtp.ehlo()
        assert smtp.mail(sender)[0] == 250
        assert smtp.rcpt(support(stack))[0] == 250
        code, _reply = smtp.data(raw)  # smtplib returns the reply after the data rather than raising
    # THEN the data is refused with 552 too, and nothing was stored or published
    assert code == 552
    assert stack.smtp_handler.received == received


# ------------------------------------------------------------------ SES feedback and suppressions


def publish_feedback(stack: Any, notification: dict[str, Any]) -> None:
    stack.client("sns").publish(TopicArn=stack.env["SES_FEEDBACK_TOPIC_ARN"], Message=json.dumps(notification))


def bounce(address: str, bounce_type: str) -> dict[str, Any]:
    """An SES bounce notification (SES docs, 'Amazon SNS notification contents')."""
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General" if bounce_type == "Permanent" else "MailboxFull",
            "bouncedRecipients": [
                {
                    "emailAddress": address,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": "2026-05-01T12:00:00.000Z",
            "feedbackId": uuid.uuid4().hex,
        },
        "mail": {
            "timestamp": "2026-05-01T11:59:59.000Z",
            "source": "support@demo.replydesk.test",
            "messageId": uuid.uuid4().hex,
            "destination": [address],
        },
    }


def complaint(address: str) -> dict[str, Any]:
    return {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": address}],
            "complaintFeedbackType": "abuse",
            "timestamp": "2026-05-01T12:00:00.000Z",
            "feedbackId": uuid.uuid4().hex,
        },
        "mail": {
            "timestamp": "2026-05-01T11:59:59.000Z",
            "source": "support@demo.replydesk.test",
            "messageId": uuid.uuid4().hex,
            "destination": [address],
        },
    }


@pytest.mark.parametrize(("kind", "reason"), [("bounce", "bounce"), ("complaint", "complaint")])
def test_ses_feedback_suppresses_later_acks(stack: Any, drain: Any, kind: str, reason: str) -> None:
    # GIVEN SES reports a permanent bounce (or a complaint) for an address (a person's, not a bounce handler's)
    address = mailbox(f"feedback-{kind}")
    publish_feedback(stack, bounce(address, "Permanent") if kind == "bounce" else complaint(address))
    # WHEN the events queue is processed
    drain()
    # THEN the address is suppressed, with the reason
    from chalicelib.models import SuppressionModel

    suppression = SuppressionModel.get(f"email#{address}", consistent_read=True)
    assert suppression.reason == reason
    # WHEN that address later writes to us
    raw, message_id = customer_mail(stack, address, "Please call me back")
    send(stack, raw, address)
    drain()
    # THEN the mail is stored with the reason, and nothing is sent to it
    assert inbound(message_id, address).suppressed_reason == "suppressed"
    assert acks_to(stack, address) == []


def test_transient_bounce_suppresses_nothing(stack: Any, drain: Any) -> None:
    # GIVEN SES reports a transient bounce (a full mailbox) for an address
    address = mailbox("transient")
    publish_feedback(stack, bounce(address, "Transient"))
    drain()
    # THEN no suppression is stored
    from chalicelib import store

    assert store.suppression_reason(f"email#{address}") is None
    # AND a later mail from it is acknowledged as usual
    raw, message_id = customer_mail(stack, address, "Is my order on its way?")
    send(stack, raw, address)
    drain()
    assert inbound(message_id, address).suppressed_reason is None
    assert len(acks_to(stack, address)) == 1


# ------------------------------------------------------------------ guard decisions on the live path


def test_ack_rate_limit_per_address(stack: Any, drain: Any) -> None:
    # GIVEN the demo campaign's limit of 3 acks per address per 24 h
    limit = stack.campaign.ack_rate_limit
    assert limit.max_acks == 3
    sender = mailbox("ratelimit")
    # WHEN one address opens 4 new conversations (different subjects), processed one after another
    ids = []
    for subject in ("Order 1 missing", "Invoice question", "Boot size", "Gift card balance"):
        raw, message_id = customer_mail(stack, sender, subject)
        send(stack, raw, sender)
        drain()
        ids.append(message_id)
    # THEN 4 conversations exist and exactly 3 acks went out, none for the 4th
    convs = {inbound(mid, sender).conversation_id for mid in ids}
    assert len(convs) == 4
    acks = acks_to(stack, sender)
    assert len(acks) == 3, [a["subject"] for a in acks]
    assert {a["in_reply_to"] for a in acks} == set(ids[:3])
    from chalicelib import store

    fourth = inbound(ids[3], sender)
    assert [m.direction for m in store.conversation_messages(fourth.conversation_id)] == ["in"]
    # AND the 4th message says why, and its conversation is not marked acknowledged
    assert fourth.suppressed_reason == "rate_limited"
    conv = store.get_conversation(fourth.conversation_id)
    assert conv is not None and conv.ack_sent_at is None


def test_forged_sender_gets_no_ack(stack: Any, drain: Any) -> None:
    # GIVEN a mail whose SPF, DKIM and DMARC verdicts fail (set through the local server's test header)
    sender = mailbox("forged")
    raw, message_id = customer_mail(
        stack, sender, "Reset my password", headers={"X-Replydesk-Test-Verdicts": "spf=FAIL; dkim=FAIL; dmarc=FAIL"}
    )
    # WHEN it is delivered and processed
    send(stack, raw, sender)
    drain()
    # THEN it is stored with the reason, and nothing is sent
    assert inbound(message_id, sender).suppressed_reason == "forged_sender"
    assert acks_to(stack, sender) == []


def test_auto_reply_over_smtp_gets_no_ack(stack: Any, drain: Any) -> None:
    # GIVEN an out-of-office reply (RFC 3834 Auto-Submitted) to the campaign address
    sender = mailbox("ooo")
    raw, message_id = customer_mail(
        stack, sender, "Out of Office: back on Monday", "I am away.", headers={"Auto-Submitted": "auto-replied"}
    )
    # WHEN it is delivered and processed
    send(stack, raw, sender)
    drain()
    # THEN it is stored with the reason, and no ack goes back (no mail loop)
    assert inbound(message_id, sender).suppressed_reason == "auto_reply"
    assert acks_to(stack, sender) == []


# ------------------------------------------------------------------ shared corpus: real threads and replies


def test_talon_replies_keep_the_new_text_apart_from_the_quote(stack: Any, drain: Any) -> None:
    # GIVEN the human replies (with quoted originals) from talon's fixtures, each from its own address
    files = label_rows("reply")
    assert len(files) >= 10
    sent: list[tuple[str, str | None, str]] = []
    from chalicelib.intake.email import normalise_message_id

    for name in files:
        sender = mailbox("talon")
        raw = with_sender((DATA / name).read_bytes(), sender)
        mid = normalise_message_id(message_from_bytes(raw).get("Message-ID"))
        # WHEN each reaches the receipt rule (some have base64 lines longer than SMTP allows) and is processed
        sent.append((sender, mid, deliver_via_ses(stack, raw, sender)))
    drain()
    # THEN each stored message keeps the full text, and its new text is shorter and without the quote
    for (sender, mid, ses_id), name in zip(sent, files, strict=True):
        msg = inbound(mid, sender, ses_id)
        assert msg.new_text, name
        # The split tidies whitespace, so compare word sequences.
        new, full = " ".join(msg.new_text.split()), " ".join(msg.text.split())
        assert new in full, name
        assert len(new) < len(full), name
        assert not any(line.lstrip().startswith(">") for line in msg.new_text.splitlines()), name


def test_rt_iso_8859_15_series_is_stored_decoded(stack: Any, drain: Any) -> None:
    # GIVEN the RT ISO-8859-15 series (msg4..msg7: the same subject, no In-Reply-To), from one address
    files = sorted(RT_SERIES.iterdir(), key=lambda p: int(p.name.removeprefix("msg")))
    assert len(files) >= 4
    sender = mailbox("rt")
    # WHEN they are delivered over SMTP in order and each is processed before the next
    for path in files:
        send(stack, with_sender(path.read_bytes(), sender), sender)
        drain()
    # THEN every message is stored once, with subject and text decoded from ISO-8859-15 (=A4 is the euro sign)
    msgs = inbound_messages(sender)
    assert len(msgs) == len(files)
    assert all(m.subject == "test äöüßÄÖÜß€" for m in msgs), [m.subject for m in msgs]
    assert all("äöüßÄÖÜß€" in m.text for m in msgs), [m.text for m in msgs]
    # AND they are one conversation: same customer, same subject, the first still open
    assert len({m.conversation_id for m in msgs}) == 1
