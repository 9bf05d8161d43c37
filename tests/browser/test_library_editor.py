"""The admin template editor in Debian's chromium: preview refuses a broken template, save makes versions, history."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from tests import staffauth

pytestmark = pytest.mark.browser


def signed_in_page(stack: Any, browser: Any, role: str) -> tuple[Any, Any, list[str]]:
    """A page with the console's stored sign-in (localStorage "replydesk.tokens") for a demo user."""
    user = staffauth.demo(role)
    answer = staffauth.login(stack, user.username, user.password)
    tokens = {
        "id_token": answer["IdToken"],
        "access_token": answer["AccessToken"],
        "refresh_token": answer.get("RefreshToken"),
        "expires_at": int((time.time() + int(answer.get("ExpiresIn", 3600))) * 1000),
    }
    context = browser.new_context()
    context.add_init_script(f"localStorage.setItem('replydesk.tokens', {json.dumps(json.dumps(tokens))});")
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return context, page, problems


def test_an_admin_creates_and_edits_a_template_and_sees_its_history(stack: Any, browser: Any) -> None:
    context, page, problems = signed_in_page(stack, browser, "admin")
    tid = f"browser-{uuid.uuid4().hex[:8]}.email"
    try:
        from playwright.sync_api import expect

        expect.set_options(timeout=20_000)  # the API shares two cores with the rest of the suite

        # GIVEN the editor, signed in as the demo admin
        page.goto(f"{stack.api_url}/console/library.html")
        page.locator("#templates li").first.wait_for()
        assert page.locator("#templates li[data-id='answer-order-tracking.email']").count() == 1
        # WHEN a new template with an unknown variable is previewed
        page.click("#new")
        page.fill("#f-id", tid)
        page.fill("#f-title", "Browser test answer")
        page.fill("#f-topics", "returns")
        page.fill("#f-inputs", "order_number")
        page.click("#langs button[data-lang='en']")
        page.fill("#part-text", "Hello {{ customer.nmae }}, order {{ inputs.order_number }}.")
        page.click("#preview")
        # THEN the error names the variable and the template cannot be saved
        expect(page.locator("#error")).to_contain_text("nmae")
        assert page.is_disabled("#save")
        # WHEN it is fixed and previewed again
        page.fill("#part-text", "Hello {{ customer.first_name }}, order {{ inputs.order_number }} is on its way.")
        assert page.is_disabled("#save")  # an edit needs a new preview
        page.click("#preview")
        expect(page.locator("#preview-text")).to_be_visible()
        # THEN the server's preview renders on the sample context, and saving makes version 1
        assert "Hello Alex, order <order_number> is on its way." in page.text_content("#preview-text")
        page.click("#save")
        expect(page.locator("#status")).to_contain_text("version 1")
        # WHEN the admin edits it, previews and saves again
        page.fill("#part-text", "Hi {{ customer.first_name }}, order {{ inputs.order_number }} ships today.")
        page.click("#preview")
        expect(page.locator("#preview-text")).to_contain_text("ships today")
        page.click("#save")
        expect(page.locator("#status")).to_contain_text("version 2")
        # THEN the history lists both versions, newest first, with the diff of the edit
        page.locator("#history li[data-version='1']").wait_for()
        versions = [li.get_attribute("data-version") for li in page.locator("#history li").all()]
        assert versions == ["2", "1"]
        diff = page.locator("#history li[data-version='2'] pre").text_content() or ""
        assert "-Hello {{ customer.first_name }}" in diff and "+Hi {{ customer.first_name }}" in diff
        # AND no script error or CSP refusal happened on the way (the refused preview's 400 is expected)
        unexpected = [p for p in problems if "status of 400" not in p]
        assert not unexpected, unexpected
    finally:
        context.close()
