"""The campaign brief in the console: shown by itself at a first sign-in, then beside each conversation."""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PASSWORD = "New-staff-pass1"


def new_staff(stack: Any) -> str:
    idp = stack.client("cognito-idp")
    pool = stack.env["COGNITO_USER_POOL_ID"]
    username = f"brief-{uuid.uuid4().hex[:8]}"
    idp.admin_create_user(
        UserPoolId=pool,
        Username=username,
        UserAttributes=[
            {"Name": "email", "Value": f"{username}@staff.replydesk.test"},
            {"Name": "name", "Value": "Bo"},
        ],
        MessageAction="SUPPRESS",
    )
    idp.admin_set_user_password(UserPoolId=pool, Username=username, Password=PASSWORD, Permanent=True)
    idp.admin_add_user_to_group(UserPoolId=pool, Username=username, GroupName="agent")
    return username


def sign_in(browser: Any, stack: Any, username: str, hash_: str = "") -> Any:
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{stack.api_url}/console/{hash_}")
    page.fill("#login-username", username)
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("#app:not([hidden])")
    return page


def test_new_staff_see_the_brief_once_then_beside_each_conversation(stack: Any, drain: Any, browser: Any) -> None:
    # GIVEN a conversation, and a staff member who has never signed in
    form = {"name": "Ada", "email": f"brief-{uuid.uuid4().hex[:6]}@customer.test", "message": "Where is my order?"}
    req = urllib.request.Request(
        f"{stack.api_url}/contact",
        data=json.dumps({**form, "consent": True}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        reference = json.loads(resp.read())["reference"]
    drain()
    username = new_staff(stack)
    # WHEN they sign in for the first time
    page = sign_in(browser, stack, username)
    # THEN the campaign brief is open above their work, welcoming them, rendered from its Markdown
    welcome = page.locator("#brief-welcome")
    expect(welcome).to_be_visible()
    expect(page.locator("#brief-first")).to_be_visible()
    expect(welcome.locator("h2", has_text="What staff may offer")).to_be_visible()
    expect(welcome.locator("li", has_text="Keep it with 15% back")).to_be_visible()
    # WHEN they mark it read THEN it closes
    page.click("#brief-read")
    expect(welcome).to_be_hidden()
    page.context.close()
    # WHEN they sign in again and open the conversation
    page = sign_in(browser, stack, username, f"#/c/{reference}")
    page.wait_for_selector("#conv-view:not([hidden]) .msg")
    # THEN the brief does not open by itself, but is in a panel beside the conversation
    panel = page.locator("#brief-panel")
    expect(panel).to_be_visible()
    assert panel.evaluate("el => el.open") is False
    panel.locator("summary").click()
    expect(panel.locator("h2", has_text="Tone")).to_be_visible()
    expect(page.locator("#brief-panel-read")).to_be_hidden()
    page.context.close()
    # AND a second new staff member who lands on a conversation finds the panel unfolded, to be read
    page = sign_in(browser, stack, new_staff(stack), f"#/c/{reference}")
    page.wait_for_selector("#conv-view:not([hidden]) .msg")
    panel = page.locator("#brief-panel")
    expect(panel.locator("h2", has_text="What staff may offer")).to_be_visible()
    page.click("#brief-panel-read")
    expect(page.locator("#brief-panel-read")).to_be_hidden()
    assert panel.evaluate("el => el.open") is False
    page.context.close()
