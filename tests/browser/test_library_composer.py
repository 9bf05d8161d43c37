"""The console composer with the template library, by keyboard: `/`, search, Enter, fill the input, preview, send."""

from __future__ import annotations

import re
import smtplib
import time
import uuid
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest

from local.outbox import sent_emails
from tests import staffauth

pytestmark = pytest.mark.browser
REFERENCE = re.compile(r"\[(RD-[A-HJ-NP-Z2-9]{6})\]")


def mails_to(stack: Any, address: str) -> list[dict[str, Any]]:
    """Sent mail from the emulator's data.json; it can answer 500 while a state machine writes, so ask again."""
    import urllib.error

    for attempt in range(3):
        try:
            return [m for m in sent_emails(stack.moto_data()) if address in m["to"]]
        except urllib.error.HTTPError:
            if attempt == 2:
                raise
            time.sleep(0.5)
    return []


def swedish_mail(stack: Any, drain: Any, sender: str) -> str:
    msg = EmailMessage()
    msg["From"] = f"Astrid Lind <{sender}>"
    msg["To"] = stack.campaign.inbound_addresses[0]
    msg["Subject"] = "Retur av jackan"
    msg["Message-ID"] = make_msgid(domain="customer.test")
    msg.set_content("Hej! Jag vill göra en retur av jackan och få återbetalning, den är för liten. Mvh Astrid")
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=60) as smtp:
        smtp.sendmail(sender, [msg["To"]], msg.as_bytes().replace(b"\n", b"\r\n"))
    drain()
    (ack,) = mails_to(stack, sender)
    found = REFERENCE.search(ack["subject"])
    assert found is not None
    return found.group(1)


def test_an_agent_inserts_a_template_by_keyboard_fills_its_input_previews_and_sends(
    stack: Any, drain: Any, browser: Any
) -> None:
    from playwright.sync_api import expect

    from chalicelib import store

    expect.set_options(timeout=20_000)  # the API shares two cores with the rest of the suite
    # GIVEN a Swedish customer's email about a return, and the agent signed in on the console
    sender = f"composer-{uuid.uuid4().hex[:10]}@customer.test"
    reference = swedish_mail(stack, drain, sender)
    agent = staffauth.demo("agent")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{stack.api_url}/console/#/c/{reference}")
        page.fill("#login-username", agent.username)
        page.fill("#login-password", agent.password)
        page.click("#login-submit")
        page.wait_for_selector("#app:not([hidden])")
        composer = page.locator("#composer-text")
        composer.wait_for()
        # WHEN the agent types "/" in the reply box, searches and picks the template with the keyboard
        composer.click()
        page.keyboard.type("/")
        expect(page.locator("#picker-q")).to_be_focused()
        page.keyboard.type("return-instructions")
        option = page.locator("#picker-list li[data-id='answer-return-instructions.email']")
        expect(option).to_have_attribute("aria-selected", "true")
        page.keyboard.press("Enter")
        # AND fills its required input in the small form and submits it with Enter
        order = page.locator("#picker-inputs input[data-input='order_number']")
        expect(order).to_be_focused()
        page.keyboard.type("NW-5005")
        page.keyboard.press("Enter")
        # THEN the server-rendered Swedish text lands in the reply box, with the input filled in
        expect(composer).to_have_value(re.compile(r"Självklart kan du returnera den.*NW-5005", re.S))
        assert "/" not in composer.input_value()[:1]  # the trigger was removed
        # WHEN the agent adds a line and sends with Ctrl+Enter
        composer.press("End")
        composer.press("Control+End")
        page.keyboard.type("\nHa en fin dag!")
        composer.press("Control+Enter")
        # THEN the customer receives the Swedish answer, threaded, with the agent's addition
        deadline = time.monotonic() + 30
        replies: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not replies:
            drain()
            replies = [m for m in mails_to(stack, sender) if m["in_reply_to"]]
            replies = [m for m in replies if "Självklart kan du returnera den" in m["text"]]
            time.sleep(0.5)
        assert replies, "the reply never reached the customer"
        assert replies[0]["language"] == "sv" and "Ha en fin dag!" in replies[0]["text"]
        # AND the stored message names the template, its version and sv
        (message,) = [m for m in store.conversation_messages(reference) if m.direction == "out" and not m.ack]
        assert message.template_id == "answer-return-instructions.email"
        assert int(message.template_version) >= 1 and message.template_language == "sv"
    finally:
        context.close()
