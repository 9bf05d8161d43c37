"""Hostile input on the local stack: spoofed senders, crashing charsets, nested JSON, oversized parts."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_email_channel import (
    acks_to,
    customer_mail,
    email_conversations,
    inbound,
    mailbox,
    send,
)

pytestmark = pytest.mark.integration


def test_spoofed_from_display_name_is_the_real_sender_and_leaves_the_victim_alone(stack: Any, drain: Any) -> None:
    # GIVEN a victim with one acknowledged conversation
    victim = mailbox("victim")
    raw, victim_mid = customer_mail(stack, victim, "My order is late")
    send(stack, raw, victim)
    drain()
    assert len(acks_to(stack, victim)) == 1
    # WHEN mallory writes twice on the victim's subject: once with an RFC 2047 display name that decodes to a
    # line break and the victim's address, once with the victim's address as a plain display name
    mallory = mailbox("mallory")
    local, domain = victim.split("@")
    encoded = f"=?utf-8?q?Bob=0D=0ABcc=3A_{local.replace('-', '=2D')}=40{domain.replace('.', '=2E')}?="
    mids = []
    for display in (encoded, victim):
        spoof, mid = customer_mail(stack, mallory, "Re: My order is late", "WIN A PRIZE at http://evil.example")
        spoof = spoof.replace(f"From: Ada Lovelace <{mallory}>".encode(), f"From: {display} <{mallory}>".encode())
        assert display.encode() in spoof
        send(stack, spoof, mallory)
        mids.append(mid)
    drain()
    # THEN both are stored as mallory's, outside the victim's conversation
    victim_conv = inbound(victim_mid, victim).conversation_id
    for mid in mids:
        stored = inbound(mid, mallory)
        assert stored.conversation_id != victim_conv
    assert {c.conversation_id for c in email_conversations(victim)} == {victim_conv}
    # AND nothing more went to the victim, while mallory's own address got the acks
    assert len(acks_to(stack, victim)) == 1
    assert all(victim not in a["to"] for a in acks_to(stack, mallory))
    assert len(acks_to(stack, mallory)) >= 1


@pytest.mark.parametrize("charset", ["undefined", "punycode", "idna", "x-no-such-charset"])
def test_mail_in_a_crashing_charset_is_stored(stack: Any, drain: Any, charset: str) -> None:
    # GIVEN a customer mail whose body and subject declare a charset Python cannot (or must not) decode
    # with, and whose body holds bytes that decode to a lone surrogate in a lax decoder
    sender = mailbox(f"cs-{charset}")
    raw, mid = customer_mail(stack, sender, "Order question", "placeholder")
    raw = raw.replace(b'charset="utf-8"', f'charset="{charset}"'.encode()).replace(
        b"placeholder", b"caf\xc3\xa9 \xed\xa0\x80 order 4471"
    )
    raw = raw.replace(b"Subject: Order question", f"Subject: =?{charset}?q?Order_question=FF?=".encode())
    assert f'charset="{charset}"'.encode() in raw and b"\xed\xa0\x80" in raw
    # WHEN it is delivered and processed
    send(stack, raw, sender)
    drain()
    # THEN it is stored once, with text that says what the customer wrote, and acknowledged
    stored = inbound(mid, sender)
    assert "order 4471" in stored.text
    assert len(acks_to(stack, sender)) == 1


def test_sms_nested_too_deeply_is_parked_once_with_its_reason(stack: Any, drain: Any) -> None:
    # GIVEN a payload on the inbound-sms topic that nests 50,000 levels deep (RecursionError in json)
    from local.phone import publish_raw
    from tests.integration.test_sms_channel import _malformed_entry, _raw_keys_for

    body = "[" * 50_000
    # WHEN it is published and processed
    sns_id = publish_raw(stack, body)
    drain()
    # THEN it is in the DLQ once, with a reason that names the problem, and its raw text is kept
    reason = _malformed_entry(stack, sns_id)["MessageAttributes"]["reason"]["StringValue"]
    assert reason == "SMS payload JSON is nested too deeply"
    (key,) = _raw_keys_for(stack, sns_id)
    assert stack.client("s3").get_object(Bucket=stack.env["RAW_BUCKET"], Key=key)["Body"].read() == body.encode()


def test_mail_over_the_attachment_count_cap_is_parked_before_any_object_is_written(stack: Any, drain: Any) -> None:
    # GIVEN a small mail with 150 tiny attachments (the cap is 100)
    from email.message import EmailMessage

    from chalicelib.intake.email import MAX_ATTACHMENTS
    from tests.integration.test_sms_channel import dlq_entries

    sender = mailbox("many-parts")
    msg = EmailMessage()
    msg["From"] = f"Ann <{sender}>"
    msg["To"] = "support@demo.replydesk.test"
    msg["Subject"] = "Invoices"
    msg["Message-ID"] = f"<{sender.split('@')[0]}@customer.test>"
    msg.set_content("Here are my invoices")
    for i in range(MAX_ATTACHMENTS + 50):
        msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename=f"inv{i}.pdf")
    before = _attachment_keys(stack)
    # WHEN it is delivered over SMTP and processed
    ses_id = send(stack, msg.as_bytes(), sender)
    drain()
    # THEN it is parked once in the DLQ with the reason, pointing at its raw object
    parked = [m for m in dlq_entries(stack) if ses_id in m["Body"]]
    assert len(parked) == 1
    assert parked[0]["MessageAttributes"]["reason"]["StringValue"] == f"more than {MAX_ATTACHMENTS} attachments"
    # AND no attachment object was written, no message stored, no ack sent
    assert _attachment_keys(stack) == before
    assert acks_to(stack, sender) == []


def _attachment_keys(stack: Any) -> set[str]:
    s3 = stack.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=stack.env["RAW_BUCKET"], Prefix="attachments/")
    return {o["Key"] for page in pages for o in page.get("Contents", [])}
