"""The resolution message: "Resolve" tells the customer on their channel and language, once per resolution,
with the rating links (three in mail, one short link in SMS), stored with its template id/version/language."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

import pytest
from chalice.test import Client

from local.outbox import sent_emails
from local.phone import replies_for, send_sms
from tests import staffauth
from tests.integration.test_library import post_form
from tests.integration.test_sms_channel import fresh_phone, sms_conversation

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def agent(stack: Any) -> dict[str, str]:
    return staffauth.agent_headers(stack)


view = staffauth.conversation


def patch(client: Client, headers: dict[str, str], ref: str, body: dict[str, Any]) -> Any:
    return client.http.request("PATCH", f"/api/conversations/{ref}", headers=headers, body=json.dumps(body))


def get_page(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def resolution_messages(ref: str) -> list[Any]:
    from chalicelib import store

    return [
        m
        for m in store.conversation_messages(ref)
        if m.direction == "out" and (m.template_id or "").startswith("resolution.")
    ]


def test_resolving_an_email_conversation_sends_the_swedish_resolution_mail_once_with_rating_links(
    stack: Any, drain: Any, unique_email: Any, agent: dict[str, str]
) -> None:
    # GIVEN a Swedish customer's conversation (web form: answered by email)
    email = unique_email("resolve-sv")
    ref = post_form(
        stack,
        {
            "name": "Astrid",
            "email": email,
            "message": "Hej! Kan jag byta leveransadress på min beställning? Den ska till mitt jobb istället.",
            "consent": True,
        },
    )["reference"]
    drain()
    with Client(stack.app_module.app) as client:
        seen = view(client, agent, ref)
        # THEN the console offers the resolution message for this conversation's channel
        assert seen["resolution_message"] == {"available": True, "channel": "email", "last_sent_at": None}
        # WHEN the agent resolves it with the resolution message
        done = patch(
            client, agent, ref, {"version": seen["version"], "status": "resolved", "send_resolution_message": True}
        )
        assert done.status_code == 200, done.body
        result = done.json_body["resolution_message"]
        # AND the same request is retried (a double-click, a lost answer)
        again = patch(
            client, agent, ref, {"version": seen["version"], "status": "resolved", "send_resolution_message": True}
        )
        assert again.status_code == 200, again.body
        after = view(client, agent, ref)
    assert result["sent"] is True and result["duplicate"] is False and result["channel"] == "email"
    assert again.json_body["resolution_message"]["duplicate"] is True
    # THEN the customer got one mail, in Swedish, threaded on the conversation, with three rating links
    mails = [m for m in sent_emails(stack.moto_data()) if email in m["to"] and "löst" in m["text"]]
    assert len(mails) == 1, [m["text"][:80] for m in mails]
    (mail,) = mails
    assert mail["language"] == "sv"
    assert ref in mail["subject"] and ref in mail["text"]
    assert "Vi har markerat din fråga som löst" in mail["text"]
    links = re.findall(r"(https?://\S+/rate/\S+)", mail["text"])
    assert len(links) == 3, mail["text"]
    assert all(link in mail["html"] for link in links)
    # AND the stored message names the template id, version and language
    (stored,) = resolution_messages(ref)
    assert (stored.template_id, stored.template_language) == ("resolution.email", "sv")
    assert int(stored.template_version) >= 1
    assert result["template"] == {"id": "resolution.email", "version": int(stored.template_version), "language": "sv"}
    assert after["resolution_message"]["last_sent_at"] == stored.created_at
    # WHEN the customer clicks "Bra" (good)
    status, page = get_page(links[0])
    # THEN the rating is stored on the conversation, and a second click changes nothing
    assert status == 200 and "Tack" in page, page
    from chalicelib import store

    conv = store.get_conversation(ref)
    assert conv is not None and conv.csat is not None and conv.csat.as_dict()["rating"] == "good"
    status, page = get_page(links[2])
    conv = store.get_conversation(ref)
    assert conv is not None and conv.csat.as_dict()["rating"] == "good"


def test_resolving_an_sms_conversation_sends_one_short_rating_link(
    stack: Any, drain: Any, agent: dict[str, str]
) -> None:
    # GIVEN an SMS conversation
    phone = fresh_phone()
    send_sms(stack, phone, "Hi, do you have the trail boots in size 44?")
    drain()
    ref = sms_conversation(phone).conversation_id
    with Client(stack.app_module.app) as client:
        seen = view(client, agent, ref)
        assert seen["resolution_message"]["available"] is True and seen["reply_channel"] == "sms"
        # WHEN the agent resolves it with the resolution message
        done = patch(
            client, agent, ref, {"version": seen["version"], "status": "resolved", "send_resolution_message": True}
        )
    assert done.status_code == 200, done.body
    assert done.json_body["resolution_message"]["sent"] is True
    # THEN the phone got an SMS with the reference and one short link to the rating choice
    texts = [m["text"] for m in replies_for(stack.moto_data(), phone)]
    (sms,) = [t for t in texts if "resolved" in t]
    assert ref in sms
    (short,) = re.findall(r"(https?://\S+/r/\S+)", sms)
    from chalicelib.sms import count_segments

    assert count_segments(sms).segments <= stack.campaign.sms.segment_budget
    (stored,) = resolution_messages(ref)
    assert stored.template_id == "resolution.sms" and stored.template_language == "en"
    # WHEN the customer opens it
    status, page = get_page(short)
    # THEN the page offers the three ratings; choosing one stores it
    assert status == 200, page
    choices = re.findall(r'href="\.\./rate/([^"]+)"', page)
    assert len(choices) == 3 and "How did we do?" in page
    status, thanks = get_page(short.rsplit("/r/", 1)[0] + "/rate/" + choices[1])
    assert status == 200 and "Thank" in thanks, thanks
    from chalicelib import store

    conv = store.get_conversation(ref)
    assert conv is not None and conv.csat.as_dict()["rating"] == "okay"
    # AND an altered short link is refused with a clear page, not a crash
    status, page = get_page(short[:-1] + ("A" if short[-1] != "A" else "B"))
    assert status == 400 and "not valid" in page


def test_without_the_box_nothing_is_sent_and_the_flag_needs_a_resolve(
    stack: Any, drain: Any, agent: dict[str, str]
) -> None:
    # GIVEN an SMS conversation
    phone = fresh_phone()
    send_sms(stack, phone, "Do you ship to Finland?")
    drain()
    ref = sms_conversation(phone).conversation_id
    with Client(stack.app_module.app) as client:
        seen = view(client, agent, ref)
        # WHEN the flag comes without resolving, or is not a boolean
        for body, words in (
            ({"version": seen["version"], "status": "open", "send_resolution_message": True}, "goes with 'status'"),
            ({"version": seen["version"], "status": "resolved", "send_resolution_message": "yes"}, "true or false"),
        ):
            bad = patch(client, agent, ref, body)
            # THEN it is a 400 naming the field, and nothing changed
            assert bad.status_code == 400 and words in bad.json_body["Message"], bad.body
        assert view(client, agent, ref)["status"] == seen["status"]
        # WHEN the agent resolves without the box ticked
        done = patch(client, agent, ref, {"version": seen["version"], "status": "resolved"})
    # THEN it is resolved and the customer got only the ack
    assert done.status_code == 200 and "resolution_message" not in done.json_body
    assert len(replies_for(stack.moto_data(), phone)) == 1
    assert resolution_messages(ref) == []
