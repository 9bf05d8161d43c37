"""The library's HTTP API with real staff tokens: the Swedish case end to end, versions, refusals, offers, rating."""

from __future__ import annotations

import json
import os
import re
import smtplib
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest

from local.outbox import sent_emails
from tests import staffauth

pytestmark = pytest.mark.integration
REFERENCE = re.compile(r"\[(RD-[A-HJ-NP-Z2-9]{6})\]")


@pytest.fixture(scope="module")
def tokens(stack: Any) -> dict[str, dict[str, str]]:
    return {role: staffauth.bearer(staffauth.id_token(stack, role)) for role in ("agent", "admin")}


def api(stack: Any, method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
    req = urllib.request.Request(
        stack.api_url + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers=headers,
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


def mails_to(stack: Any, address: str) -> list[dict[str, Any]]:
    return [m for m in sent_emails(stack.moto_data()) if address in m["to"]]


def swedish_mail(stack: Any, drain: Any, sender: str) -> str:
    """A Swedish customer emails about a return, over SMTP; returns the conversation's reference."""
    msg = EmailMessage()
    msg["From"] = f"Astrid Lind <{sender}>"
    msg["To"] = stack.campaign.inbound_addresses[0]
    msg["Subject"] = "Retur av jackan"
    msg["Message-ID"] = make_msgid(domain="customer.test")
    msg.set_content(
        "Hej!\n\nJag vill göra en retur av jackan jag köpte förra veckan och få återbetalning, den är för liten.\n"
        "Hur gör jag?\n\nMvh Astrid"
    )
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=60) as smtp:
        smtp.sendmail(sender, [msg["To"]], msg.as_bytes().replace(b"\n", b"\r\n"))
    drain()
    (ack,) = mails_to(stack, sender)
    found = REFERENCE.search(ack["subject"])
    assert found is not None, ack["subject"]
    return found.group(1)


def stored_out(conversation_id: str) -> list[Any]:
    from chalicelib import store

    return [m for m in store.conversation_messages(conversation_id) if m.direction == "out" and not m.ack]


def test_swedish_email_to_swedish_answer_from_a_swedish_template(
    stack: Any, drain: Any, unique_email: Any, tokens: dict[str, dict[str, str]]
) -> None:
    # GIVEN a Swedish email about a return
    sender = unique_email("sv-e2e")
    reference = swedish_mail(stack, drain, sender)
    # THEN its ack is Swedish with the Swedish FAQ answer
    (ack,) = mails_to(stack, sender)
    assert ack["language"] == "sv" and "Du kan returnera oanvända varor inom 30 dagar" in ack["text"]
    # WHEN the agent searches the library for Swedish returns templates
    code, found = api(stack, "GET", "/api/templates?topic=returns&language=sv&purpose=answer", tokens["agent"])
    assert code == 200 and "answer-return-instructions.email" in [t["id"] for t in found]
    # AND previews it with the required input
    inputs = {"order_number": "NW-3003"}
    code, shown = api(
        stack,
        "POST",
        f"/api/conversations/{reference}/preview",
        tokens["agent"],
        {"template_id": "answer-return-instructions.email", "inputs": inputs},
    )
    assert code == 200, shown
    assert shown["template"]["language"] == "sv" and "Självklart kan du returnera den" in shown["text"]
    # AND sends the (edited) text with the template reference
    text = shown["text"] + "\nHa en fin dag!"
    code, sent = api(
        stack,
        "POST",
        f"/api/conversations/{reference}/reply",
        tokens["agent"],
        {"text": text, "idempotency_key": uuid.uuid4().hex, "template": {**shown["template"], "inputs": inputs}},
    )
    assert code == 200 and sent["sent"], sent
    drain()
    # THEN the customer receives Swedish text, threaded in Swedish
    reply = [m for m in mails_to(stack, sender) if m["message_id"] != ack["message_id"]]
    assert len(reply) == 1
    assert reply[0]["language"] == "sv" and "Självklart kan du returnera den" in reply[0]["text"]
    assert "Med vänliga hälsningar" in reply[0]["text"] and "Ha en fin dag!" in reply[0]["text"]
    # AND the stored message names the template, its version and sv
    (message,) = stored_out(reference)
    assert (message.template_id, int(message.template_version), message.template_language) == (
        "answer-return-instructions.email",
        shown["template"]["version"],
        "sv",
    )


def test_an_edit_makes_version_2_and_an_earlier_answer_keeps_version_1(
    stack: Any, drain: Any, unique_email: Any, tokens: dict[str, dict[str, str]]
) -> None:
    tid = f"test-api-{uuid.uuid4().hex[:8]}.email"
    body = {
        "id": tid,
        "purpose": "answer",
        "title": "Test answer",
        "topics": ["returns"],
        "required_inputs": ["order_number"],
        "bodies": {
            "en": {"text": "Order {{ inputs.order_number }}: version one."},
            "sv": {"text": "Order {{ inputs.order_number }}: version ett."},
        },
    }
    # GIVEN an admin-created template (agents may not)
    assert api(stack, "POST", "/api/templates", tokens["agent"], body)[0] == 403
    code, v1 = api(stack, "POST", "/api/templates", tokens["admin"], body)
    assert code == 200 and v1["version"] == 1, v1
    # AND a conversation answered from version 1
    sender = unique_email("v1")
    reference = swedish_mail(stack, drain, sender)
    template = {"id": tid, "version": 1, "language": "sv", "inputs": {"order_number": "A1"}}
    answer = {"text": "Order A1: version ett.", "idempotency_key": uuid.uuid4().hex, "template": template}
    code, sent = api(stack, "POST", f"/api/conversations/{reference}/reply", tokens["agent"], answer)
    assert code == 200 and sent["sent"], sent
    # WHEN the admin saves an edit of version 1
    edited = {
        **body,
        "version": 1,
        "bodies": {**body["bodies"], "sv": {"text": "Order {{ inputs.order_number }}: version två."}},
    }
    code, v2 = api(stack, "PUT", f"/api/templates/{tid}", tokens["admin"], edited)
    # THEN it is version 2, and saving from the stale version 1 again is a conflict
    assert code == 200 and v2["version"] == 2 and v2["author"] == staffauth.demo("admin").username
    assert api(stack, "PUT", f"/api/templates/{tid}", tokens["admin"], edited)[0] == 409
    # AND the conversation answered before still shows version 1
    (message,) = stored_out(reference)
    assert (message.template_id, int(message.template_version)) == (tid, 1)
    # AND the history with its diff is available from the API, and version 1 is still readable
    code, history = api(stack, "GET", f"/api/templates/{tid}/history", tokens["agent"])
    assert code == 200 and [h["version"] for h in history] == [1, 2]
    assert "-Order {{ inputs.order_number }}: version ett." in history[1]["diff"]
    assert "+Order {{ inputs.order_number }}: version två." in history[1]["diff"]
    code, old = api(stack, "GET", f"/api/templates/{tid}?version=1", tokens["agent"])
    assert code == 200 and old["bodies"]["sv"]["text"].endswith("version ett.") and old["latest_version"] == 2
    # AND retiring (admin) takes it out of the search without deleting a version
    assert api(stack, "POST", f"/api/templates/{tid}/retire", tokens["admin"])[0] == 200
    code, listed = api(stack, "GET", "/api/templates?topic=returns", tokens["agent"])
    assert tid not in [t["id"] for t in listed]
    # AND the composer's list holds what staff insert; the editor's (all=1) the system templates too
    staff_ids = {t["id"] for t in api(stack, "GET", "/api/templates", tokens["agent"])[1]}
    all_ids = {t["id"] for t in api(stack, "GET", "/api/templates?all=1", tokens["agent"])[1]}
    assert "answer-order-tracking.email" in staff_ids and "reply.email" not in staff_ids
    assert {"reply.email", "follow_up.email", "faq-returns.snippet"} <= all_ids


def test_a_missing_required_input_cannot_be_sent_and_an_unknown_variable_cannot_be_saved(
    stack: Any, drain: Any, unique_email: Any, tokens: dict[str, dict[str, str]]
) -> None:
    sender = unique_email("refuse")
    reference = swedish_mail(stack, drain, sender)
    before = len(mails_to(stack, sender))
    # WHEN a reply names a template but leaves out its required input
    code, err = api(stack, "POST", f"/api/conversations/{reference}/reply", tokens["agent"], {
        "text": "Hej", "idempotency_key": uuid.uuid4().hex,
        "template": {"id": "answer-order-tracking.email", "version": 1, "language": "sv", "inputs": {"carrier": "DHL"}},
    })  # fmt: skip
    # THEN it is a 400 naming the field, and nothing went out
    assert code == 400 and "tracking_number" in err["Message"], err
    drain()
    assert len(mails_to(stack, sender)) == before
    # WHEN an admin saves a template with an unknown variable, or reaching for internals
    for text, named in (("Hej {{ customer.nmae }}", "nmae"), ("{{ ''.__class__.__mro__ }}", "not allowed")):
        body = {"id": f"bad-{uuid.uuid4().hex[:6]}.email", "purpose": "answer", "bodies": {"en": {"text": text}}}
        code, err = api(stack, "POST", "/api/templates", tokens["admin"], body)
        # THEN it is refused with a 400 naming it, and nothing is saved
        assert code == 400 and named in err["Message"], err
        assert api(stack, "GET", f"/api/templates/{body['id']}", tokens["agent"])[0] == 404


def test_returns_offer_shown_sent_outcome_recorded_and_the_limit_holds(
    stack: Any, drain: Any, unique_email: Any, tokens: dict[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    sender = unique_email("offer")
    reference = swedish_mail(stack, drain, sender)
    # WHEN the agent opens the offers of this returns conversation
    code, offers = api(stack, "GET", f"/api/conversations/{reference}/offers", tokens["agent"])
    by_id = {o["id"]: o for o in offers}
    # THEN keep_15 is offered with its template
    assert code == 200 and by_id["keep_15"]["eligible"]
    assert by_id["keep_15"]["template"]["id"] == "retention-keep-discount.email"
    # WHEN it is sent as a reply that carries the offer
    inputs = {"order_number": "NW-4004"}
    _, shown = api(stack, "POST", f"/api/conversations/{reference}/preview", tokens["agent"],
                   {"template_id": "retention-keep-discount.email", "inputs": inputs})  # fmt: skip
    code, sent = api(stack, "POST", f"/api/conversations/{reference}/reply", tokens["agent"], {
        "text": shown["text"], "idempotency_key": uuid.uuid4().hex, "offer_id": "keep_15",
        "template": {**shown["template"], "inputs": inputs},
    })  # fmt: skip
    assert code == 200 and sent["sent"], sent
    # AND the outcome is recorded
    capsys.readouterr()
    code, recorded = api(stack, "POST", f"/api/conversations/{reference}/retention", tokens["agent"],
                         {"outcome": "kept", "offer_id": "keep_15"})  # fmt: skip
    assert code == 200 and recorded["outcome"] == "kept"
    # THEN the metric RetentionOutcome is emitted by offer and outcome
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert any("RetentionOutcome" in b and (b.get("offer"), b.get("outcome")) == ("keep_15", "kept") for b in blobs)
    # AND the conversation shows the offer and the outcome
    from chalicelib import store

    conv = store.get_conversation(reference)
    assert conv is not None
    assert [(o.as_dict() if hasattr(o, "as_dict") else o)["offer_id"] for o in conv.offers_sent] == ["keep_15"]
    assert conv.retention.as_dict()["outcome"] == "kept"
    # AND the console's conversation view shows both
    code, detail = api(stack, "GET", f"/api/conversations/{reference}", tokens["agent"])
    assert code == 200 and detail["retention"]["outcome"] == "kept"
    assert [o["offer_id"] for o in detail["offers_sent"]] == ["keep_15"]
    # WHEN the same customer writes about another return
    second = swedish_mail_again(stack, drain, sender, reference)
    # THEN keep_15 (limit one per customer) is no longer offered, and sending it anyway is refused
    code, offers = api(stack, "GET", f"/api/conversations/{second}/offers", tokens["agent"])
    again = {o["id"]: o for o in offers}
    assert not again["keep_15"]["eligible"] and again["free_exchange"]["eligible"]
    code, err = api(stack, "POST", f"/api/conversations/{second}/reply", tokens["agent"],
                    {"text": "x", "idempotency_key": uuid.uuid4().hex, "offer_id": "keep_15"})  # fmt: skip
    assert code == 400 and "limit" in err["Message"]


def swedish_mail_again(stack: Any, drain: Any, sender: str, first: str) -> str:
    """A new conversation of the same customer (the first one resolved, so the mail does not thread into it)."""
    from chalicelib.models import ConversationModel, Status

    ConversationModel(conversation_id=first).update(actions=[ConversationModel.status.set(Status.CLOSED.value)])
    before = {m["message_id"] for m in mails_to(stack, sender)}
    msg = EmailMessage()
    msg["From"] = f"Astrid Lind <{sender}>"
    msg["To"] = stack.campaign.inbound_addresses[0]
    msg["Subject"] = "Ännu en retur"
    msg["Message-ID"] = make_msgid(domain="customer.test")
    msg.set_content("Hej igen! Jag vill göra en retur av byxorna också och få återbetalning.")
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=60) as smtp:
        smtp.sendmail(sender, [msg["To"]], msg.as_bytes().replace(b"\n", b"\r\n"))
    drain()
    (ack,) = [m for m in mails_to(stack, sender) if m["message_id"] not in before]
    found = REFERENCE.search(ack["subject"])
    assert found is not None and found.group(1) != first
    return found.group(1)


def test_the_follow_up_carries_rating_links_that_work_once(
    stack: Any, drain: Any, unique_email: Any, tokens: dict[str, dict[str, str]]
) -> None:
    from chalicelib import store
    from chalicelib.acknowledge import template_context
    from chalicelib.library import csat
    from chalicelib.runtime import get_runtime

    rt = get_runtime()
    sender = unique_email("csat")
    reference = swedish_mail(stack, drain, sender)
    # GIVEN the follow-up as the runtime renders it for this Swedish conversation
    context = template_context(
        campaign=rt.campaign, customer_name="Astrid", reference=reference, language="sv", topic="returns",
        extra={"reply": {"text": "", "sent_by": "system"}, "offer": ""},
    )  # fmt: skip
    html = rt.templates.render("follow_up", "email", "html", "sv", context).text
    links = re.findall(r'href="([^"]+/rate/[^"]+)"', html)
    # THEN it carries three signed rating links to this stack, and no live chat (the demo has none)
    assert len(links) == 3 and all(link.startswith(stack.api_url + "/rate/") for link in links)
    assert "chat" not in html.lower()
    # WHEN the customer clicks "good" (no login)
    with urllib.request.urlopen(links[0], timeout=30) as resp:
        page = resp.read().decode()
        headers = resp.headers
    # THEN a Swedish thank-you page, with a strict CSP, and the rating is on the conversation
    assert "Tack för ditt betyg" in page and "default-src 'none'" in headers["Content-Security-Policy"]
    conv = store.get_conversation(reference)
    assert conv is not None and conv.csat.as_dict()["rating"] == "good"
    # AND the link works once: a second click (even on "bad") changes nothing
    with urllib.request.urlopen(links[2], timeout=30) as resp:
        assert "redan betygsatt" in resp.read().decode()
    assert store.get_conversation(reference).csat.as_dict()["rating"] == "good"  # type: ignore[union-attr]
    # AND the console's conversation view shows the rating
    code, detail = api(stack, "GET", f"/api/conversations/{reference}", tokens["agent"])
    assert code == 200 and detail["csat"]["rating"] == "good"
    # AND a forged link is refused
    forged = csat.sign(reference, csat.Rating.BAD, secret="x" * 40, expires=datetime.now(UTC) + timedelta(days=1))
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{stack.api_url}/rate/{forged}", timeout=30)
    assert err.value.code == 400
    assert os.environ["CSAT_SECRET"] != "x" * 40
