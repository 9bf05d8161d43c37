"""The staff console in Chromium on the local stack: login, queue, conversation, reply, keys, presence, XSS."""

from __future__ import annotations

import json
import re
import smtplib
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from local.outbox import sent_emails
from local.phone import send_sms
from tests.conftest import wait_for

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1280, "height": 800}


# ------------------------------------------------------------------ helpers


def demo_login(role_or_name: str) -> tuple[str, str, str]:
    """(username, password, display name) of a demo staff user the local stack created."""
    from local.stack import DEMO_STAFF

    for user in DEMO_STAFF:
        if user.username == role_or_name:
            return user.username, user.password, user.name
    raise AssertionError(f"no demo staff user {role_or_name!r} in local.stack.DEMO_STAFF")


def http_get(url: str) -> tuple[int, dict[str, str], bytes]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def csp_directives(header: str) -> dict[str, str]:
    out = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition(" ")
        if name:
            out[name] = value.strip()
    return out


def mailbox(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@customer.test"


def fresh_phone() -> str:
    return "+1425556" + str(uuid.uuid4().int % 10_000).zfill(4)


def smtp_mail(
    stack: Any, sender: str, subject: str, text: str, *, html: str | None = None, name: str = "Ada Lovelace"
) -> str:
    """A customer mail over SMTP to the campaign's address; returns its Message-ID (without <>)."""
    msg = EmailMessage()
    msg["From"] = formataddr((name, sender))
    msg["To"] = str(stack.campaign.inbound_addresses[0])
    msg["Subject"] = subject
    msg["Date"] = "Tue, 01 Dec 2026 09:00:00 +0000"
    message_id = make_msgid(domain="customer.test")
    msg["Message-ID"] = message_id
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    raw = re.sub(rb"\r\n|\r|\n", b"\r\n", msg.as_bytes())
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=60) as smtp:
        smtp.sendmail(sender, [msg["To"]], raw)
    return message_id.strip("<>")


def web_form(stack: Any, email: str, phone: str, message: str, name: str = "Ada Lovelace") -> str:
    body = json.dumps({"name": name, "email": email, "phone": phone, "message": message, "consent": True}).encode()
    req = urllib.request.Request(
        f"{stack.api_url}/contact", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return str(json.loads(resp.read())["reference"])


def email_conversation(address: str) -> Any:
    from chalicelib import store
    from chalicelib.models import IdentityModel

    customer_id = IdentityModel.get(f"email#{address}").customer_id
    convs = [c for c in store.customer_conversations(customer_id) if c.channel == "email"]
    assert convs, f"no email conversation for the customer {customer_id}"
    return max(convs, key=lambda c: c.created_at)


def sms_conversation(phone: str) -> Any:
    from chalicelib import store
    from chalicelib.inbound import Channel
    from chalicelib.models import IdentityModel

    customer_id = IdentityModel.get(f"phone#{phone}").customer_id
    conv = store.latest_conversation(customer_id, channel=Channel.SMS)
    assert conv is not None, "no SMS conversation for that phone"
    return conv


@pytest.fixture
def context_factory(browser: Any) -> Iterator[Callable[[], Any]]:
    """New, isolated browser contexts (two agents = two contexts) at the console's 1280x800."""
    made: list[Any] = []

    def make() -> Any:
        ctx = browser.new_context(viewport=VIEWPORT)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


@pytest.fixture
def console(stack: Any, context_factory: Callable[[], Any]) -> Callable[..., Any]:
    """Open the console in a new context and sign in; returns the page, with its dialogs recorded."""

    def open_as(username: str = "agent", hash_: str = "") -> Any:
        user, password, _ = demo_login(username)
        page = context_factory().new_page()
        page.set_default_timeout(20_000)
        page.dialogs = []  # type: ignore[attr-defined]
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))  # type: ignore[attr-defined]
        page.goto(f"{stack.api_url}/console/{hash_}")
        page.fill("#login-username", user)
        page.fill("#login-password", password)
        page.click("#login-submit")
        page.wait_for_selector("#app:not([hidden])")
        return page

    return open_as


def screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path


def open_queue(page: Any, queue: str) -> None:
    page.evaluate("q => { location.hash = '#/queue/' + q }", queue)
    page.wait_for_selector("#list-view:not([hidden])")


def row(page: Any, conversation_id: str) -> Any:
    return page.locator(f'#list-body tr[data-id="{conversation_id}"]')


# ------------------------------------------------------------------ serving


def test_console_files_are_served_with_a_strict_csp_and_nothing_else(stack: Any) -> None:
    # GIVEN the stack's HTTP API
    base = f"{stack.api_url}/console"
    # WHEN the page and its assets are fetched
    for path in ("/", "/console.js", "/api.js", "/dom.js", "/sms.js", "/sla.js", "/console.css"):
        status, headers, body = http_get(base + path)
        # THEN each has the policy: own origin only, no inline script, no plugins, no framing of the console
        assert status == 200, (path, status)
        csp = csp_directives(headers["Content-Security-Policy"])
        assert csp["default-src"] == "'self'" and csp["script-src"] == "'self'"
        assert csp["object-src"] == "'none'" and csp["base-uri"] == "'none'" and csp["frame-ancestors"] == "'none'"
        assert "unsafe-inline" not in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
        assert body
    # AND the page has no inline script or handler attribute the policy would have to allow
    _, _, html = http_get(base + "/")
    assert not re.search(rb"<script(?![^>]*(\bsrc=|type=\"application/json\"))", html)
    assert not re.search(rb"\son[a-z]+=", html)
    # AND the campaign's facts travel in a JSON data block, which is never executed
    facts = json.loads(re.search(rb'<script type="application/json" id="campaign-data">(.*?)</script>', html, re.S)[1])
    assert [t["id"] for t in facts["topics"]] == [t.id for t in stack.campaign.topics]
    assert facts["sms"]["segment_budget"] == stack.campaign.sms.segment_budget
    # AND /console without the slash redirects (the page's relative links need it)
    status, headers, _ = http_get(base)
    assert status == 301 and headers["Location"].endswith("console/")
    # AND nothing outside the console folder can be named
    for bad in ("/..%2Fpages.py", "/index.py", "/.hidden.js", "/app.py"):
        assert http_get(base + bad)[0] == 404, bad


def test_login_page_says_when_the_password_is_wrong_then_signs_in_and_out(
    stack: Any, context_factory: Callable[[], Any], tmp_path: Path
) -> None:
    # GIVEN the console's login page and a demo agent
    user, password, name = demo_login("agent")
    page = context_factory().new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "Content Security" in m.text else None)
    page.goto(f"{stack.api_url}/console/")
    page.wait_for_selector("#login:not([hidden])")
    # WHEN the agent types a wrong password
    page.fill("#login-username", user)
    page.fill("#login-password", password + "-wrong")
    page.click("#login-submit")
    # THEN a clear error shows and the console stays closed
    expect(page.locator("#login-error")).to_have_text(re.compile(r"wrong|incorrect|password", re.IGNORECASE))
    assert page.is_hidden("#app")
    screenshot(page, tmp_path, "login-error")
    # WHEN the right password is given
    page.fill("#login-password", password)
    page.click("#login-submit")
    # THEN the console opens with the agent's name, and the tokens are kept for the editor page too
    page.wait_for_selector("#app:not([hidden])")
    assert name in page.inner_text("#me")
    stored = json.loads(page.evaluate("localStorage.getItem('replydesk.tokens')"))
    assert stored["id_token"].count(".") == 2 and stored["refresh_token"]
    # AND a reload stays signed in
    page.reload()
    page.wait_for_selector("#app:not([hidden])")
    # WHEN the ID token is about to expire
    page.evaluate(
        "() => { const t = JSON.parse(localStorage.getItem('replydesk.tokens'));"
        " t.expires_at = Date.now() + 1000; localStorage.setItem('replydesk.tokens', JSON.stringify(t)); }"
    )
    # THEN the next call refreshes it first, and the page keeps working with the new token
    with page.expect_response(lambda r: r.url.endswith("/api/auth/refresh")) as refreshed:
        page.evaluate("() => { location.hash = '#/view/unassigned' }")
    assert refreshed.value.status == 200
    expect(page.locator("#list-title")).to_have_text("Unassigned")

    def renewed() -> dict[str, Any] | None:
        t: dict[str, Any] = json.loads(page.evaluate("localStorage.getItem('replydesk.tokens')"))
        return t if t["expires_at"] > stored["expires_at"] - 5_000 else None

    assert wait_for(renewed, timeout=10)["refresh_token"] == stored["refresh_token"]
    # WHEN the agent signs out
    page.click("#signout")
    # THEN the login shows again and the tokens are gone
    page.wait_for_selector("#login:not([hidden])")
    assert page.evaluate("localStorage.getItem('replydesk.tokens')") is None
    # AND the policy was never violated
    assert errors == []


def test_an_invited_user_sets_a_new_password_at_first_sign_in(
    stack: Any, context_factory: Callable[[], Any], tmp_path: Path
) -> None:
    # GIVEN a colleague invited with a temporary password (what the admin's invite does)
    idp = stack.client("cognito-idp")
    pool = stack.env["COGNITO_USER_POOL_ID"]
    username = f"new-{uuid.uuid4().hex[:8]}"
    idp.admin_create_user(
        UserPoolId=pool,
        Username=username,
        TemporaryPassword="Temp-pass-123!",
        UserAttributes=[
            {"Name": "email", "Value": f"{username}@staff.replydesk.test"},
            {"Name": "name", "Value": "Noa New"},
        ],
        MessageAction="SUPPRESS",
    )
    idp.admin_add_user_to_group(UserPoolId=pool, Username=username, GroupName="agent")
    page = context_factory().new_page()
    page.goto(f"{stack.api_url}/console/")
    # WHEN they sign in with the temporary password
    page.fill("#login-username", username)
    page.fill("#login-password", "Temp-pass-123!")
    page.click("#login-submit")
    # THEN the page asks for a new password, and refuses two different ones
    page.wait_for_selector("#login-newpass:not([hidden])")
    page.fill("#login-new-password", "Brand-new-pass-456!")
    page.fill("#login-new-password2", "Brand-new-pass-457!")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_contain_text("differ")
    # WHEN they repeat it correctly
    page.fill("#login-new-password2", "Brand-new-pass-456!")
    page.click("#login-submit")
    # THEN they are in, and the new password is the one that works from now on
    page.wait_for_selector("#app:not([hidden])")
    screenshot(page, tmp_path, "first-sign-in")
    tokens = idp.initiate_auth(
        ClientId=stack.env["COGNITO_CLIENT_ID"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": "Brand-new-pass-456!"},
    )
    assert "AuthenticationResult" in tokens


def test_only_an_admin_gets_the_staff_panel(console: Callable[..., Any], tmp_path: Path) -> None:
    # GIVEN an agent: no Staff panel in the navigation, and #/staff does not open it
    agent = console("agent", "#/staff")
    assert agent.is_hidden("#admin-nav") and agent.is_hidden("#staff-view")
    # WHEN an admin signs in and opens Staff
    admin = console("admin")
    admin.click("#admin-nav a[data-nav=staff]")
    # THEN every demo colleague is listed with their role
    expect(admin.locator("#staff-body tr")).not_to_have_count(0)
    rows = admin.locator("#staff-body tr")
    names = rows.locator("td:first-child").all_inner_texts()
    assert {"agent", "agent2", "supervisor", "admin"} <= set(names)
    agent2 = rows.filter(has_text="agent2")
    assert agent2.locator("select").input_value() == "agent"
    # WHEN the admin invites a colleague as a supervisor
    username = f"inv{uuid.uuid4().hex[:8]}"
    admin.fill("#invite-email", f"{username}@staff.replydesk.test")
    admin.fill("#invite-name", "Ivy Invited")
    admin.select_option("#invite-role", "supervisor")
    admin.click("#invite-form button[type=submit]")
    # THEN they are listed with that role
    invited = admin.locator("#staff-body tr", has_text=username)
    expect(invited.locator("select")).to_have_value("supervisor")
    # WHEN the admin makes them an agent and disables them
    invited.locator("select").select_option("agent")
    expect(invited.locator("select")).to_have_value("agent")
    # AND gives them the refunds queue only
    invited.get_by_label(f"{username} works refunds").check()
    expect(invited.get_by_label(f"{username} works refunds")).to_be_checked()
    expect(invited.locator(".staff-queues")).not_to_contain_text("every queue")
    invited.locator("button", has_text="Disable").click()
    # THEN the list (read back from Cognito) says so
    expect(invited.locator("td").nth(5)).to_have_text("disabled")
    expect(invited.locator("select")).to_have_value("agent")
    expect(invited.get_by_label(f"{username} works refunds")).to_be_checked()
    expect(invited.get_by_label(f"{username} works general")).not_to_be_checked()
    assert admin.inner_text("#staff-error") == ""
    expect(admin.locator("#staff-body tr", has_text="agent2").locator("td").nth(5)).to_have_text("active")
    screenshot(admin, tmp_path, "staff")


def test_an_agent_sees_only_their_queues_and_is_told_why_another_does_not_open(
    stack: Any, console: Callable[..., Any], tmp_path: Path
) -> None:
    from tests.functional.test_console_read import make_conversation

    # GIVEN agent2, who works every demo queue but the supervisors' escalation queue, and an escalated conversation
    escalated = make_conversation(queue="supervisors")
    page = console("agent2")
    # THEN the navigation lists their queues only
    nav = page.locator("#queues")
    expect(nav).to_contain_text("General")
    assert "Supervisors" not in nav.inner_text()
    # WHEN they follow a link to the escalated conversation
    page.evaluate("id => { location.hash = '#/c/' + id }", escalated.conversation_id)
    # THEN it does not open, and the page says which queue it is in and what to do
    expect(page.locator("#timeline")).to_contain_text(
        f"{escalated.conversation_id} is in the supervisors queue, which is not one of yours"
    )
    screenshot(page, tmp_path, "queue-access")


# ------------------------------------------------------------------ the common path


def test_agent_answers_a_new_email_seeing_the_customers_earlier_sms(
    stack: Any, drain: Any, console: Callable[..., Any], tmp_path: Path
) -> None:
    # GIVEN a customer who gave their phone on the contact page and then wrote an SMS from it: a typed
    # phone is no proof (issue 11), so a supervisor joined the two customers (the merge UI has its own
    # test below); now the customer writes an email
    from datetime import UTC, datetime

    from chalicelib import aws
    from chalicelib.auth import Staff
    from chalicelib.console.merge import merge_customers
    from chalicelib.models import IdentityModel

    address, phone = mailbox("console"), fresh_phone()
    web_form(stack, address, phone, "Hello, a question about my order 55120 before I write again.")
    drain()
    send_sms(stack, phone, "Hi, did my order 55120 ship yet?")
    drain()
    sms_conv = sms_conversation(phone)
    web_customer = IdentityModel.get(f"email#{address}").customer_id
    if web_customer != sms_conv.customer_id:
        supervisor = Staff(sub="s", username="supervisor", email="", name="Sam", groups=("supervisor",))
        merge_customers(
            {"keep": web_customer, "merge": sms_conv.customer_id},
            staff=supervisor,
            ddb=aws.dynamodb(),
            now=datetime.now(UTC),
        )
        sms_conv = sms_conversation(phone)
    customer_mid = smtp_mail(stack, address, "Boots arrived broken", "The left boot's sole came off on day one.")
    drain()
    conv = email_conversation(address)
    assert conv.customer_id == sms_conv.customer_id  # one customer, two channels
    # WHEN an agent signs in and opens the conversation's queue
    page = console("agent")
    open_queue(page, conv.queue)
    # THEN the new email conversation is listed with its channel and an SLA badge with the time left
    r = row(page, conv.conversation_id)
    r.wait_for()
    assert conv.reference in r.inner_text()
    badge = r.locator(".sla")
    assert re.fullmatch(r"-?(\d+d \d+h|\d+h \d\dm|\d+m \d\ds|\d+s)", badge.inner_text().strip())
    assert re.search(r"sla-(ok|warning|breached)", badge.get_attribute("class") or "")
    screenshot(page, tmp_path, "queue")
    # WHEN the agent opens it
    r.click()
    page.wait_for_selector("#conv-view:not([hidden]) .msg")
    # THEN the customer's message shows, and the sidebar lists the earlier SMS conversation
    assert "sole came off" in page.inner_text("#timeline")
    page.locator(f'#customer a[href="#/c/{sms_conv.conversation_id}"]').wait_for()
    assert phone in page.inner_text("#customer")
    # WHEN the agent writes a reply and double-clicks Send
    page.click("#composer-text")
    page.keyboard.type("Sorry about that! A replacement pair is on its way today.")
    page.dblclick("#composer-send")
    # THEN the reply shows in the timeline
    expect(page.locator("#timeline")).to_contain_text("replacement pair is on its way", timeout=30_000)
    screenshot(page, tmp_path, "replied")

    # AND the customer received it exactly once, threaded under their own mail
    def replies() -> list[dict[str, Any]]:
        return [
            m
            for m in sent_emails(stack.moto_data())
            if address in m["to"] and "replacement pair" in m["text"] and not m["auto_submitted"]
        ]

    sent = wait_for(replies, timeout=20, describe=lambda: "no staff reply in moto's sent mail")
    page.wait_for_timeout(1000)  # a second send from the double-click would have landed by now
    sent = replies()
    assert len(sent) == 1, sent
    assert sent[0]["in_reply_to"] == customer_mid and customer_mid in sent[0]["references"]
    assert conv.reference in sent[0]["subject"]
    # WHEN the agent adds an internal note with n
    page.click("#timeline")
    page.keyboard.press("n")
    page.keyboard.type("@agent2 the customer may call about the order")
    page.keyboard.press("Control+Enter")
    # THEN it shows as a note, and the customer never gets it
    expect(page.locator("#timeline .msg-note")).to_contain_text("may call about the order")
    page.wait_for_timeout(500)
    assert not [m for m in sent_emails(stack.moto_data()) if "may call about the order" in m["text"]]
    # WHEN the agent presses / and searches the customer's phone number
    page.click("#timeline")
    page.keyboard.press("/")
    page.keyboard.type(phone)
    # THEN the results hold the SMS conversation, and choosing it opens it
    hit = page.locator(f'#search-results a[href="#/c/{sms_conv.conversation_id}"]')
    hit.wait_for()
    screenshot(page, tmp_path, "search")
    hit.click()
    expect(page.locator("#conv-ref")).to_have_text(sms_conv.reference)
    expect(page.locator("#composer-channel")).to_have_text("on sms")
    # AND the reply box counts SMS segments against the campaign's budget
    page.click("#composer-text")
    page.keyboard.type("x" * 161)
    expect(page.locator("#sms-counter")).to_contain_text(f"2 segments of {stack.campaign.sms.segment_budget}")


def test_resolve_and_next_by_keyboard(stack: Any, drain: Any, console: Callable[..., Any], tmp_path: Path) -> None:
    from chalicelib import store

    # GIVEN two new email conversations in the same queue
    first_addr, second_addr = mailbox("rn1"), mailbox("rn2")
    smtp_mail(stack, first_addr, "Invoice copy please", "Could you send me the invoice for my last order?")
    smtp_mail(stack, second_addr, "Invoice again", "I need an invoice for the order I placed yesterday.")
    drain()
    first, second = email_conversation(first_addr), email_conversation(second_addr)
    assert first.queue == second.queue
    page = console("agent")
    open_queue(page, first.queue)
    row(page, first.conversation_id).wait_for()
    row(page, second.conversation_id).wait_for()
    # WHEN the agent moves to the first conversation with j/k and opens it with Enter
    ids = page.eval_on_selector_all("#list-body tr", "rows => rows.map(r => r.dataset.id)")
    target = ids.index(first.conversation_id)
    page.keyboard.press("k")  # the selection never leaves the list
    for _ in range(target):
        page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(f"#/c/{first.conversation_id}") + "$"))
    page.wait_for_selector("#conv-view:not([hidden]) .msg")
    # AND sees the resolution message ticked next to Resolve (the demo library has one for email)
    expect(page.locator("#resolution-msg")).to_be_visible()
    expect(page.locator("#act-resolution-msg")).to_be_checked()
    # AND presses e (resolve and next)
    page.keyboard.press("e")
    # THEN the first is resolved and another conversation of the list is open
    wait_for(
        lambda: store.get_conversation(first.conversation_id).status == "resolved",
        timeout=15,
        describe=lambda: f"status is {store.get_conversation(first.conversation_id).status}",
    )
    # AND its customer got the resolution message, and the banner says so by reference
    wait_for(
        lambda: [
            m for m in sent_emails(stack.moto_data()) if first_addr in m["to"] and "marked your question" in m["text"]
        ],
        timeout=15,
        describe=lambda: "no resolution mail",
    )
    expect(page.locator("#conv-banner")).to_contain_text(f"{first.conversation_id} resolved; the customer got")
    expect(page).to_have_url(re.compile(r"#/c/(?!" + re.escape(first.conversation_id) + r"$)[^/]+$"))
    assert page.evaluate("location.hash").removeprefix("#/c/") in ids
    screenshot(page, tmp_path, "resolved-next")
    # AND ? shows the cheat sheet, typing in the reply box is not taken for a shortcut
    page.keyboard.press("?")
    assert page.is_visible("#cheatsheet")
    page.keyboard.press("Escape")
    page.click("#composer-text")
    page.keyboard.type("je")
    assert page.input_value("#composer-text") == "je"
    assert page.evaluate("location.hash") != f"#/c/{first.conversation_id}"


def test_a_second_agent_sees_who_else_is_on_the_conversation(
    stack: Any, drain: Any, console: Callable[..., Any], tmp_path: Path
) -> None:
    # GIVEN a conversation
    address = mailbox("presence")
    smtp_mail(stack, address, "Size question", "Does the rain jacket run small?")
    drain()
    conv = email_conversation(address)
    _, _, first_name = demo_login("agent")
    # WHEN one agent opens it and starts writing
    alex = console("agent", f"#/c/{conv.conversation_id}")
    alex.wait_for_selector("#conv-view:not([hidden]) .msg")
    alex.click("#composer-text")
    alex.keyboard.type("Let me check")
    # AND a second agent, in another browser context, opens it too
    blair = console("agent2", f"#/c/{conv.conversation_id}")
    blair.wait_for_selector("#conv-view:not([hidden]) .msg")
    # THEN the second sees the first, composing
    expect(blair.locator("#conv-viewers")).to_contain_text(first_name, timeout=30_000)
    assert "replying" in blair.inner_text("#conv-viewers")
    screenshot(blair, tmp_path, "presence")
    # WHEN the first takes the conversation while the second still holds the old version
    alex.click("#act-take")
    expect(alex.locator("#act-assignee")).to_have_value("agent")
    blair.select_option("#act-urgency", "high")
    # THEN the second is told someone was quicker, and sees the fresh state instead of overwriting it
    expect(blair.locator("#conv-banner")).to_contain_text("Someone else changed this conversation first")
    expect(blair.locator("#act-assignee")).to_have_value("agent")
    screenshot(blair, tmp_path, "conflict")
    # WHEN the customer writes again while the first agent still has the conversation open
    smtp_mail(stack, address, f"Re: Size question [{conv.reference}]", "I usually wear a medium, by the way.")
    drain()
    # THEN the new message appears on the open page by itself, and the half-written reply is kept
    expect(alex.locator("#timeline")).to_contain_text("I usually wear a medium", timeout=30_000)
    assert alex.input_value("#composer-text") == "Let me check"
    # AND back in the queue, the row says who is on it
    open_queue(blair, conv.queue)
    expect(row(blair, conv.conversation_id).locator(f'.avatar[title^="{first_name}"]')).to_be_visible()
    screenshot(blair, tmp_path, "presence-in-list")


def note_as(stack: Any, username: str, conversation_id: str, text: str) -> None:
    """An internal note written by another staff member (through the staff API, as their console does)."""
    from tests import staffauth

    user, password, _ = demo_login(username)
    token = str(staffauth.login(stack, user, password)["IdToken"])
    req = urllib.request.Request(
        f"{stack.api_url}/api/conversations/{conversation_id}/notes",
        data=json.dumps({"text": text, "idempotency_key": uuid.uuid4().hex}).encode(),
        method="POST",
        headers=staffauth.bearer(token),
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200


def test_an_agent_is_told_of_a_mention_and_finds_the_conversation(
    stack: Any, drain: Any, console: Callable[..., Any], tmp_path: Path
) -> None:
    # GIVEN a conversation on which a colleague asks the agent something in an internal note
    address = mailbox("mention")
    smtp_mail(stack, address, "Gift card", "Can I pay with two gift cards?")
    drain()
    conv = email_conversation(address)
    note_as(stack, "agent2", conv.conversation_id, "@agent you handled gift cards last week, can you take this?")
    # WHEN the agent signs in
    page = console("agent")
    # THEN the Mentions view in the sidebar shows unread mentions
    badge = page.locator("#count-mentions")
    expect(badge).to_have_class(re.compile(r"\bunread\b"), timeout=30_000)
    assert int(badge.inner_text()) >= 1
    screenshot(page, tmp_path, "mention-badge")
    # WHEN they open it
    page.click('a[data-view="mentions"]')
    # THEN the conversation is listed, with its customer, and the badge is cleared
    expect(row(page, conv.conversation_id)).to_be_visible()
    assert "Ada Lovelace" in row(page, conv.conversation_id).inner_text()
    expect(badge).to_have_text("")
    # AND a new mention afterwards counts as one unread, on the next refresh of the sidebar
    page.click('a[data-view="mine"]')
    note_as(stack, "supervisor", conv.conversation_id, "@agent please answer today")
    expect(badge).to_have_text("1", timeout=40_000)


def test_a_mention_is_completed_from_the_colleagues_and_mails_them(
    stack: Any, drain: Any, console: Callable[..., Any], tmp_path: Path
) -> None:
    # GIVEN an agent on a conversation, writing an internal note
    address = mailbox("mention-complete")
    smtp_mail(stack, address, "Store credit", "Can I turn my refund into store credit?")
    drain()
    conv = email_conversation(address)
    page = console("agent", f"#/c/{conv.conversation_id}")
    page.wait_for_selector("#conv-view:not([hidden]) .msg")
    page.keyboard.press("n")
    # WHEN they type "@bl" (the start of a colleague's name)
    page.keyboard.type("Could you take this one, @bl")
    # THEN the colleagues matching it are offered, by username and name, never the agent themselves
    options = page.locator("#mention-list li")
    expect(options.first).to_have_attribute("data-username", "agent2")
    assert "Blair Agent" in options.first.inner_text()
    assert page.locator('#mention-list li[data-username="agent"]').count() == 0
    screenshot(page, tmp_path, "mention-complete")
    # WHEN they press Enter
    page.keyboard.press("Enter")
    # THEN the mention is completed in place and the list closes
    assert page.input_value("#composer-text") == "Could you take this one, @agent2 "
    expect(page.locator("#mention-list")).to_be_hidden()
    # WHEN the note is added
    page.keyboard.type("please")
    page.keyboard.press("Control+Enter")
    # THEN the colleague is mailed once, with the reference and no note text
    wait_for(
        lambda: [
            m
            for m in sent_emails(stack.moto_data())
            if "agent2@staff.replydesk.test" in m["to"] and conv.conversation_id in m["subject"]
        ],
        timeout=15,
        describe=lambda: "no mention mail to agent2",
    )
    (mail,) = [
        m
        for m in sent_emails(stack.moto_data())
        if "agent2@staff.replydesk.test" in m["to"] and conv.conversation_id in m["subject"]
    ]
    assert "take this one" not in mail["text"]


def test_template_inserted_with_the_keyboard_filled_previewed_and_sent(
    stack: Any, drain: Any, console: Callable[..., Any], tmp_path: Path
) -> None:
    from chalicelib import store

    # GIVEN a customer asking where their parcel is
    address = mailbox("tmpl")
    smtp_mail(stack, address, "Where is my parcel?", "My order has not arrived, where is my parcel?")
    drain()
    conv = email_conversation(address)
    page = console("agent", f"#/c/{conv.conversation_id}")
    page.wait_for_selector("#conv-view:not([hidden]) .msg")
    # WHEN the agent types / at the start of the reply box, the picker opens (and Escape closes it)
    page.click("#composer-text")
    page.keyboard.type("/")
    page.wait_for_selector("#template-picker:not([hidden])")
    page.keyboard.press("Escape")
    expect(page.locator("#template-picker")).to_be_hidden()
    assert page.input_value("#composer-text") == ""
    # WHEN the agent types :: instead, and picks the first template with the keyboard
    page.keyboard.type("::")
    page.wait_for_selector("#template-picker:not([hidden]) #picker-list li[data-id]")
    template_id = page.get_attribute("#picker-list li.active", "data-id")
    page.keyboard.press("Enter")
    # AND fills its required inputs and asks for the preview
    page.wait_for_selector("#picker-inputs:not([hidden])")
    for field in page.query_selector_all("#picker-inputs input"):
        field.fill("TRACK-12345")
    page.keyboard.press("Enter")
    # THEN the server-rendered text lands in the reply box, editable, with the template named
    page.wait_for_selector("#template-chip:not([hidden])")
    text = page.input_value("#composer-text")
    assert text.strip() and "{{" not in text
    page.keyboard.type("\nP.S. Thanks for waiting.")
    screenshot(page, tmp_path, "template")
    # WHEN the agent sends it
    page.click("#composer-send")
    expect(page.locator("#timeline")).to_contain_text("Thanks for waiting")
    # THEN the stored message names the template it was rendered from
    out = [m for m in store.conversation_messages(conv.conversation_id) if m.direction == "out" and not m.ack]
    assert out and "Thanks for waiting" in out[-1].text
    assert out[-1].template_id == template_id and out[-1].template_version and out[-1].template_language


def test_retention_offer_sent_from_a_returns_conversation_and_its_outcome_recorded(
    stack: Any, drain: Any, console: Callable[..., Any], tmp_path: Path
) -> None:
    from chalicelib import store

    # GIVEN a customer who wants to return something
    address = mailbox("keep")
    smtp_mail(stack, address, "Return and refund", "I want to return the jacket I bought and get a refund.")
    drain()
    conv = email_conversation(address)
    assert conv.topic == "returns"
    page = console("agent", f"#/c/{conv.conversation_id}")
    # WHEN the agent opens it, the playbook's offers show; the agent uses the first eligible one
    offer = page.locator("#retention button.offer:not([disabled])").first
    offer.wait_for()
    offer.click()
    page.wait_for_selector("#picker-inputs:not([hidden])")
    for field in page.query_selector_all("#picker-inputs input"):
        field.fill("KEEP10")
    page.click("#picker-inputs button[type=submit]")
    page.wait_for_selector("#template-chip:not([hidden])")
    assert page.input_value("#composer-text").strip()
    page.click("#composer-send")
    expect(page.locator("#timeline .msg-out:not(.msg-ack)")).to_have_count(1)
    # AND records the outcome: the customer keeps the item
    page.click("#retention button:has-text('kept')")
    expect(page.locator("#conv-banner")).to_contain_text("Retention outcome recorded")
    screenshot(page, tmp_path, "retention")
    # THEN the conversation carries the outcome
    retention = store.get_conversation(conv.conversation_id).retention
    assert retention and "kept" in str(retention)


# ------------------------------------------------------------------ customer content is inert


def test_hostile_email_runs_nothing_in_the_console(
    stack: Any, drain: Any, console: Callable[..., Any], tmp_path: Path
) -> None:
    # GIVEN an email built to run script in a staff browser
    address = mailbox("xss")
    subject = '"><img src=x onerror=alert("subject")><script>alert("subject2")</script>'
    html = (
        "<p>Hello</p><script>alert('script')</script>"
        "<img src=x onerror=\"alert('onerror')\">"
        "<a href=\"javascript:alert('link')\" id=evil>click me</a>"
        "<svg onload=\"alert('svg')\"></svg><iframe src=\"javascript:alert('frame')\"></iframe>"
    )
    smtp_mail(
        stack,
        address,
        subject,
        "Hello <img src=x onerror=alert('text')> javascript:alert('text')",
        html=html,
        name='<img src=x onerror=alert("name")>',
    )
    drain()
    conv = email_conversation(address)
    # WHEN an agent opens the queue and the conversation, and shows the original HTML
    page = console("agent")
    open_queue(page, conv.queue)
    row(page, conv.conversation_id).click()
    page.wait_for_selector("#conv-view:not([hidden]) .msg")
    page.click(".show-html")
    frame_el = page.wait_for_selector("iframe.email-frame")
    # THEN the mail is shown as text, the HTML only in a frame without scripts or same origin
    assert frame_el.get_attribute("sandbox") == ""
    assert "onerror" in page.inner_text("#timeline")  # the customer's text, literally
    assert page.locator("#timeline img, #timeline script, #customer img").count() == 0
    frame = frame_el.content_frame()
    assert frame is not None
    frame.wait_for_load_state()
    assert frame.locator("script").count() == 0
    hrefs = frame.eval_on_selector_all("a", "links => links.map(a => a.getAttribute('href') || '')")
    assert not [h for h in hrefs if h.strip().lower().startswith("javascript:")], hrefs
    page.wait_for_timeout(1000)
    screenshot(page, tmp_path, "xss")
    # AND no dialog ever opened
    assert page.dialogs == []  # type: ignore[attr-defined]
    # AND the page came with the policy
    status, headers, _ = http_get(f"{stack.api_url}/console/")
    assert status == 200 and "script-src 'self'" in headers["Content-Security-Policy"]


def test_a_supervisor_reassigns_an_agents_conversation(
    stack: Any, drain: Any, console: Callable[..., Any], tmp_path: Path
) -> None:
    from chalicelib import store

    # GIVEN a conversation an agent took
    address = mailbox("reassign")
    smtp_mail(stack, address, "Colour question", "Does the jacket come in green?")
    drain()
    conv = email_conversation(address)
    alex = console("agent", f"#/c/{conv.conversation_id}")
    alex.wait_for_selector("#conv-view:not([hidden]) .msg")
    alex.click("#timeline")
    alex.keyboard.press("a")
    wait_for(lambda: store.get_conversation(conv.conversation_id).assignee == "agent", timeout=15)
    # WHEN another agent opens it, the assignee cannot be changed by them
    blair = console("agent2", f"#/c/{conv.conversation_id}")
    expect(blair.locator("#act-assignee")).to_be_disabled()
    # WHEN a supervisor opens it and hands it to agent2
    sam = console("supervisor", f"#/c/{conv.conversation_id}")
    expect(sam.locator("#act-assignee")).to_be_enabled()
    expect(sam.locator("#act-assignee")).to_have_value("agent")
    sam.select_option("#act-assignee", label="someone else…")
    sam.fill("#act-assignee-other", "agent2")
    sam.keyboard.press("Enter")
    # THEN the conversation is agent2's
    expect(sam.locator("#act-assignee")).to_have_value("agent2")
    assert store.get_conversation(conv.conversation_id).assignee == "agent2"
    # WHEN the supervisor relabels the topic, moves it to another queue and asks for a call-back
    sam.select_option("#act-topic", "billing")
    expect(sam.locator("#act-topic")).to_have_value("billing")
    sam.select_option("#act-queue", "refunds")
    expect(sam.locator("#act-queue")).to_have_value("refunds")
    sam.click("#act-callback")
    expect(sam.locator("#conv-banner")).to_contain_text("Call-back requested")
    # THEN the conversation has them all, each change made from the version the page had seen
    after = store.get_conversation(conv.conversation_id)
    assert (after.topic, after.queue, after.assignee) == ("billing", "refunds", "agent2")
    assert after.callback_requested_at
    screenshot(sam, tmp_path, "reassigned")


def test_a_supervisor_merges_a_duplicate_customer(
    stack: Any, drain: Any, console: Callable[..., Any], tmp_path: Path
) -> None:
    # GIVEN one person known twice: by email, and by an SMS from a phone nobody linked to it
    address, phone = mailbox("merge"), fresh_phone()
    smtp_mail(stack, address, "Tent poles", "One of the tent poles is missing.")
    send_sms(stack, phone, "Hi, it is me again about the tent poles")
    drain()
    keep, duplicate = email_conversation(address), sms_conversation(phone)
    assert keep.customer_id != duplicate.customer_id
    # WHEN a supervisor opens the email customer, finds the duplicate by phone and confirms the merge
    sam = console("supervisor", f"#/customer/{keep.customer_id}")
    sam.fill("#merge-q", phone)
    sam.keyboard.press("Enter")
    merge = sam.locator(f'#merge-found button[data-merge="{duplicate.customer_id}"]')
    merge.click()
    expect(merge).to_contain_text("Click again")
    merge.click()
    # THEN the customer holds both identities and the SMS conversation
    expect(sam.locator("#customer-view")).to_contain_text(duplicate.reference)
    expect(sam.locator("#customer-view .identities")).to_contain_text(phone)
    screenshot(sam, tmp_path, "merged")


SMS_TEXTS = [
    "",
    "Your order ships today.",
    "x" * 160,
    "x" * 161,
    "€" * 80,  # extension characters: two septets each
    "€" * 81,
    "a" * 152 + "€" + "b" * 10,  # an escape pair never split across parts
    "Hej! Din beställning är på väg 🚚",  # emoji: UCS-2, a surrogate pair
    "ä" * 70 + "ł",  # one non-GSM letter turns the whole text into UCS-2
    "ł" * 71,
    "🚚" * 34,
    "Grüße aus Köln {ref} [x] ~ | ^ \\ " * 6,
]


@pytest.mark.parametrize("text", SMS_TEXTS, ids=range(len(SMS_TEXTS)))
def test_the_composers_sms_counter_counts_like_the_server(stack: Any, page: Any, text: str) -> None:
    from chalicelib.sms import count_segments

    # GIVEN the console page's segment counter module in Chromium
    page.goto(f"{stack.api_url}/console/")
    # WHEN it counts a text
    got = page.evaluate("async t => (await import('./sms.js')).countSegments(t)", text)
    # THEN encoding, units and segments are what chalicelib/sms.py says
    want = count_segments(text)
    assert (got["encoding"], got["units"], got["segments"]) == (want.encoding.value, want.units, want.segments)


SLA_CASES = [
    # (status, minutes since created, first response due after created (min), first response at, resolution due)
    ("new", 1, 10, None, None),  # 9 of 10 minutes left: ok
    ("open", 8, 10, None, None),  # 2 of 10 left, under 25 %: warning
    ("open", 12, 10, None, None),  # 2 minutes past due: breached
    ("open", 20, 10, 5, 60),  # answered: the resolution clock, 40 of 60 left: ok
    ("open", 58, 10, 5, 60),  # 2 of 60 left: warning
    ("pending_customer", 30, 10, 5, 60),  # waiting on the customer: paused
    ("resolved", 30, 10, 5, 60),  # done: no badge
]


@pytest.mark.parametrize("case", SLA_CASES, ids=[f"{c[0]}-{c[1]}m" for c in SLA_CASES])
def test_the_sla_badge_in_the_browser_follows_the_servers_rule(
    stack: Any, page: Any, case: tuple[str, int, int, int | None, int | None]
) -> None:
    from datetime import UTC, datetime, timedelta

    from chalicelib.console.sla import badge

    status, age, first_due, first_at, resolution_due = case
    # GIVEN a conversation's deadlines and the badge the server puts on its row
    created = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    now = created + timedelta(minutes=age)

    def at(minutes: int | None) -> str | None:
        return None if minutes is None else (created + timedelta(minutes=minutes)).isoformat()

    server = badge(
        status=status,
        created_at=created.isoformat(),
        first_response_due=at(first_due),
        first_response_at=at(first_at),
        resolution_due=at(resolution_due),
        now=now,
    ).to_dict()
    # WHEN the console page recomputes it in the browser at the same moment
    page.goto(f"{stack.api_url}/console/")
    got = page.evaluate(
        "async ([sla, now]) => (await import('./sla.js')).slaState(sla, now)", [server, now.timestamp() * 1000]
    )
    # THEN both say the same: ok, warning (under 25 % left), breached, paused or none
    assert got == server["state"], server
