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
    for path in ("/", "/console.js", "/api.js", "/dom.js", "/sms.js", "/console.css"):
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
    screenshot(admin, tmp_path, "staff")


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
