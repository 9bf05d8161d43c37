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
