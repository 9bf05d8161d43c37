"""A developer sends an SMS from the phone simulator page in a real Chromium and sees the ack arrive."""

from __future__ import annotations

import random
import re
import time
from typing import Any

import pytest

pytestmark = pytest.mark.browser


def wait_for_reply(page: Any, drain: Any, count: int, *, timeout: float = 20.0) -> list[str]:
    """Process the queues (the session stack runs no pump threads) until the page shows `count` replies."""
    deadline = time.monotonic() + timeout
    while True:
        drain()
        replies = [t.strip() for t in page.locator("#thread .msg.out").all_inner_texts()]
        if len(replies) >= count:
            return replies
        if time.monotonic() > deadline:
            pytest.fail(f"the page showed {len(replies)} replies, expected {count}: {page.inner_text('#thread')!r}")
        page.wait_for_timeout(500)  # the page polls every second


def test_developer_sends_an_sms_and_sees_the_ack_with_the_reference(stack: Any, page: Any, drain: Any) -> None:
    # GIVEN the phone simulator page of the local stack (206: a prefix the integration tests do not use)
    phone = f"+1206555{random.randrange(10_000):04d}"
    if phone.endswith("99"):
        phone = phone[:-1] + "8"
    page.goto(f"{stack.phone_url}/")
    assert "phone simulator" in page.title()
    assert stack.campaign.sms.number in page.inner_text("#campaign-number")
    # WHEN the developer picks a phone number and sends a message to the campaign number
    page.fill("#phone", phone)
    page.fill("#text", "Hi, my tent pole broke on the first night. What can I do?")
    page.click("#send")
    # THEN the sent message appears on the right of the thread at once
    page.wait_for_selector("#thread .msg.in")
    assert "tent pole" in page.inner_text("#thread .msg.in")
    # AND once the stack has processed it, the ack with the conversation's reference arrives
    replies = wait_for_reply(page, drain, 1)
    assert len(replies) == 1
    reference = re.search(r"RD-[A-HJ-NP-Z2-9]{6}", replies[0])
    assert reference is not None, replies
    from chalicelib import store
    from chalicelib.inbound import Channel
    from chalicelib.models import IdentityModel

    conv = store.latest_conversation(IdentityModel.get(f"phone#{phone}").customer_id, channel=Channel.SMS)
    assert conv is not None
    assert conv.reference == reference.group(0)

    # WHEN the developer sends HELP from the same phone
    page.fill("#text", "HELP")
    page.press("#text", "Enter")
    # THEN the campaign's help text shows up as the second reply, below the first
    replies = wait_for_reply(page, drain, 2)
    assert replies[1] == stack.campaign.sms.help_text
    bubbles = page.locator("#thread .msg").all_inner_texts()
    assert [b.strip() for b in bubbles][-1] == stack.campaign.sms.help_text
