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


def fresh_phone(prefix: str = "+1206556") -> str:
    """A valid number no other test uses (moto's SNS reports numbers ending in 99 as opted out)."""
    phone = f"{prefix}{random.randrange(10_000):04d}"
    return phone[:-1] + "8" if phone.endswith("99") else phone


def test_messages_sent_with_the_cli_show_up_in_the_phones_thread(stack: Any, page: Any, drain: Any) -> None:
    # GIVEN the page open on a phone
    phone = fresh_phone()
    page.goto(f"{stack.phone_url}/")
    page.fill("#phone", phone)
    # WHEN that phone sends an SMS from elsewhere, as `replydesk sms send` does (publish to the inbound topic)
    from local.phone import send_sms

    send_sms(stack, phone, "Sent from the terminal: is my order on its way?")
    # THEN once the stack has stored it, the page shows it as sent by this phone, then the ack below it
    replies = wait_for_reply(page, drain, 1)
    assert re.search(r"RD-[A-HJ-NP-Z2-9]{6}", replies[0]), replies
    bubbles = [b.strip() for b in page.locator("#thread .msg").all_inner_texts()]
    assert bubbles[0] == "Sent from the terminal: is my order on its way?"
    assert page.locator("#thread .msg.in").count() == 1


@pytest.mark.parametrize(
    ("phone", "says"),
    [
        ("12345", "Not a valid international number"),
        ("+12065551299", "Opted out at SNS"),
    ],
)
def test_the_page_says_when_a_number_cannot_get_replies(stack: Any, page: Any, phone: str, says: str) -> None:
    # GIVEN the page WHEN the developer picks an invalid or an SNS-opted-out number
    page.goto(f"{stack.phone_url}/")
    page.fill("#phone", phone)
    # THEN the page says why this phone will get no answer, before anything is sent
    page.wait_for_function("document.getElementById('status').textContent.length > 0")
    assert says in page.inner_text("#status")


def test_the_page_shows_encoding_and_segments_while_typing(stack: Any, page: Any) -> None:
    # GIVEN the page
    page.goto(f"{stack.phone_url}/")
    # WHEN a GSM-7 text with one extension character is typed
    page.fill("#text", "Price: 10€")
    # THEN encoding, septets and segments are shown as chalicelib.sms counts them
    page.wait_for_function("document.getElementById('count').textContent.includes('segment')")
    assert page.inner_text("#count") == "10 characters · GSM-7 · 11 septets · 1 segment"
    # WHEN a character outside GSM-7 makes it UCS-2 and long enough for two segments
    page.fill("#text", "Привет! " * 9)
    # THEN the count switches to UTF-16 units and two segments
    page.wait_for_function("document.getElementById('count').textContent.includes('UCS-2')")
    assert page.inner_text("#count") == "72 characters · UCS-2 · 72 UTF-16 units · 2 segments"


def test_after_stop_the_page_says_the_phone_is_opted_out(stack: Any, page: Any, drain: Any) -> None:
    # GIVEN a phone on the page that sends STOP
    phone = fresh_phone("+1206557")
    page.goto(f"{stack.phone_url}/")
    page.fill("#phone", phone)
    page.fill("#text", "STOP")
    page.click("#send")
    # WHEN the stack has processed it (one confirmation comes back)
    wait_for_reply(page, drain, 1)
    # THEN the page says nothing more will be sent until START
    page.wait_for_function("document.getElementById('status').textContent.includes('STOP')")
    assert "Opted out with STOP" in page.inner_text("#status")
    assert "START" in page.inner_text("#status")
