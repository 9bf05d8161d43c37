"""The SMS channel end to end on the local stack: inbound SMS topic → queue → stored → one ack SMS."""

from __future__ import annotations

import json
import random
import re
import urllib.parse
import urllib.request
import uuid
from typing import Any

import pytest

from local.phone import publish_raw, replies_for, send_sms
from tests.conftest import dlq_messages

pytestmark = pytest.mark.integration

_USED: set[str] = set()


def fresh_phone(prefix: str = "+1425555", digits: int = 4, *, opted_out_at_sns: bool = False) -> str:
    """A valid number no other test here used; moto's SNS reports numbers ending in 99 as opted out."""
    while True:
        tail = f"{random.randrange(10**digits):0{digits}d}"
        if opted_out_at_sns:
            tail = tail[:-2] + "99"
        elif tail.endswith("99"):
            continue
        phone = prefix + tail
        if phone not in _USED:
            _USED.add(phone)
            return phone


def sms_to(stack: Any, phone: str) -> list[str]:
    return [m["text"] for m in replies_for(stack.moto_data(), phone)]


def inbound(source_id: str) -> Any:
    """The stored inbound message with this source id (the by_source index holds keys only)."""
    from chalicelib import store
    from chalicelib.models import MessageModel

    hit = store.find_message_by_source(source_id)
    assert hit is not None, f"inbound message {source_id} was not stored"
    return MessageModel.get(hit.conversation_id, hit.sort, consistent_read=True)


def sms_conversation(phone: str) -> Any:
    from chalicelib import store
    from chalicelib.inbound import Channel
    from chalicelib.models import IdentityModel

    customer_id = IdentityModel.get(f"phone#{phone}").customer_id
    conv = store.latest_conversation(customer_id, channel=Channel.SMS)
    assert conv is not None
    return conv


def raw_object(stack: Any, key: str) -> bytes:
    body: bytes = stack.client("s3").get_object(Bucket=stack.env["RAW_BUCKET"], Key=key)["Body"].read()
    return body


def dlq_entries(stack: Any) -> list[dict[str, Any]]:
    return dlq_messages(stack)


def test_sms_is_stored_raw_and_acknowledged_once_with_the_reference(stack: Any, drain: Any) -> None:
    # GIVEN a customer's phone that has never written before
    phone = fresh_phone()
    # WHEN it sends an SMS to the campaign number
    first = send_sms(stack, phone, "Hi, my order 4471 has not arrived yet. Can you check?")
    drain()
    # THEN the raw JSON, exactly as the number published it, is in the raw bucket under raw/sms/
    msg = inbound(first)
    assert msg.raw_key.startswith("raw/sms/")
    raw = json.loads(raw_object(stack, msg.raw_key))
    assert raw["inboundMessageId"] == first
    assert raw["originationNumber"] == phone
    assert raw["destinationNumber"] == stack.campaign.sms.number
    # AND exactly one SMS went to that phone: the ack, with the conversation's reference
    conv = sms_conversation(phone)
    texts = sms_to(stack, phone)
    assert len(texts) == 1, texts
    assert conv.reference in texts[0]
    assert re.search(r"RD-[A-HJ-NP-Z2-9]{6}", texts[0])
    assert conv.channel == "sms"
    assert conv.ack_sent_at is not None

    # WHEN the same phone sends a second SMS
    second = send_sms(stack, phone, "It was supposed to come on Monday.")
    drain()
    # THEN it joins the same conversation, and no second ack is sent
    assert inbound(second).conversation_id == conv.conversation_id
    assert len(sms_to(stack, phone)) == 1
    from chalicelib import store

    directions = [m.direction for m in store.conversation_messages(conv.conversation_id)]
    assert directions.count("in") == 2
    assert directions.count("out") == 1


def test_the_same_inbound_sms_delivered_twice_is_stored_and_acknowledged_once(stack: Any, drain: Any) -> None:
    # GIVEN one inbound SMS that SNS delivers twice (at-least-once), with the same inboundMessageId
    phone = fresh_phone()
    inbound_id = send_sms(stack, phone, "Do you ship to Norway?")
    send_sms(stack, phone, "Do you ship to Norway?", inbound_message_id=inbound_id)
    # WHEN both are processed
    drain()
    # THEN one stored inbound message and one ack
    from chalicelib import store

    conv = sms_conversation(phone)
    assert [m.direction for m in store.conversation_messages(conv.conversation_id)].count("in") == 1
    assert len(sms_to(stack, phone)) == 1


def test_stop_is_confirmed_once_then_silence_and_start_reenables(stack: Any, drain: Any) -> None:
    # GIVEN a phone that opts out before writing anything else
    phone = fresh_phone()
    # WHEN it sends STOP (in any case, with stray whitespace)
    stop = send_sms(stack, phone, "  stop ")
    drain()
    # THEN one confirmation goes out, the number is suppressed, and the STOP is stored with its reason
    from chalicelib import store

    texts = sms_to(stack, phone)
    assert len(texts) == 1, texts
    assert "unsubscribed" in texts[0].lower()
    assert store.suppression_reason(f"phone#{phone}") == "opt_out"
    assert inbound(stop).suppressed_reason == "keyword_stop"

    # WHEN the phone then writes an ordinary message, and STOP again
    later = send_sms(stack, phone, "Actually, where is my parcel?")
    drain()
    send_sms(stack, phone, "STOP")
    drain()
    # THEN nothing more is sent: no ack for the message, no second confirmation
    assert len(sms_to(stack, phone)) == 1, sms_to(stack, phone)
    later_conv = store.get_conversation(inbound(later).conversation_id)
    assert later_conv is not None
    assert later_conv.ack_sent_at is None

    # WHEN it sends START
    send_sms(stack, phone, "Start")
    drain()
    # THEN the opt-in is confirmed and our suppression is gone
    texts = sms_to(stack, phone)
    assert len(texts) == 2, texts
    assert "subscribed again" in texts[1]
    assert store.suppression_reason(f"phone#{phone}") is None

    # WHEN the phone writes again
    after = send_sms(stack, phone, "Hello again, any news about my parcel?")
    drain()
    # THEN our list no longer holds it back: the conversation gets its one ack with the reference
    assert inbound(after).suppressed_reason is None
    conv = store.get_conversation(inbound(after).conversation_id)
    texts = sms_to(stack, phone)
    assert len(texts) == 3, texts
    assert conv is not None
    assert conv.reference in texts[2]


def test_campaign_opt_out_word_is_a_stop_too(stack: Any, drain: Any) -> None:
    # GIVEN a Swedish customer using the campaign's own opt-out word
    phone = fresh_phone("+4670", 7)
    # WHEN they send it
    send_sms(stack, phone, "Avsluta")
    drain()
    # THEN they are opted out with one confirmation
    from chalicelib import store

    assert store.suppression_reason(f"phone#{phone}") == "opt_out"
    assert len(sms_to(stack, phone)) == 1


def test_start_from_a_number_that_never_stopped_is_an_ordinary_message(stack: Any, drain: Any) -> None:
    # GIVEN a phone that never opted out
    phone = fresh_phone()
    # WHEN it sends "Yes"
    send_sms(stack, phone, "Yes")
    drain()
    # THEN no opt-in confirmation is sent: it is a message, acknowledged as one
    texts = sms_to(stack, phone)
    assert len(texts) == 1, texts
    assert "subscribed again" not in texts[0]
    assert sms_conversation(phone).reference in texts[0]


def test_help_is_answered_with_the_campaign_help_text(stack: Any, drain: Any) -> None:
    # GIVEN any phone
    phone = fresh_phone()
    # WHEN it sends HELP
    help_id = send_sms(stack, phone, "HELP")
    drain()
    # THEN the campaign's help text is the one reply, and no staff work item is acked
    assert sms_to(stack, phone) == [stack.campaign.sms.help_text]
    assert inbound(help_id).suppressed_reason == "keyword_help"


def test_number_opted_out_at_sns_gets_nothing(stack: Any, drain: Any) -> None:
    # GIVEN a phone that SNS reports as opted out (moto: numbers ending in 99)
    phone = fresh_phone(opted_out_at_sns=True)
    # WHEN it writes a message, asks for HELP and sends STOP
    first = send_sms(stack, phone, "Where is my order?")
    send_sms(stack, phone, "HELP")
    send_sms(stack, phone, "STOP")
    drain()
    # THEN its message is stored, and nothing at all is sent to it
    assert inbound(first).direction == "in"
    assert sms_to(stack, phone) == []


@pytest.mark.parametrize(
    ("body", "extra"),
    [
        ("Hej! 😀 Paketet kom fram, men en stövel saknas 🥾", {}),
        ("Здравствуйте, где мой заказ? Спасибо.", {}),
        ("我的订单在哪里？谢谢", {}),
        ("x" * 1600, {}),
        ("Where is my order?", {"carrierName": "Example Mobile", "futureField": {"nested": [1, 2]}}),
    ],
    ids=["emoji", "cyrillic", "chinese", "1600-chars", "unknown-fields"],
)
def test_unusual_bodies_are_stored_whole_and_acknowledged(
    stack: Any, drain: Any, body: str, extra: dict[str, Any]
) -> None:
    # GIVEN an SMS with emoji, a non-Latin script, the maximum length, or fields we do not know
    phone = fresh_phone()
    payload = {
        "originationNumber": phone,
        "destinationNumber": stack.campaign.sms.number,
        "messageKeyword": "",
        "messageBody": body,
        "inboundMessageId": f"test-{random.random()}",
        "previousPublishedMessageId": "",
        **extra,
    }
    # WHEN it arrives
    publish_raw(stack, json.dumps(payload, ensure_ascii=False))
    drain()
    # THEN the text is stored unchanged, and one ack within the segment budget goes out
    assert inbound(payload["inboundMessageId"]).text == body
    from chalicelib.sms import count_segments

    texts = sms_to(stack, phone)
    assert len(texts) == 1, texts
    assert count_segments(texts[0]).segments <= stack.campaign.sms.segment_budget


def test_empty_body_is_stored_and_acknowledged(stack: Any, drain: Any) -> None:
    # GIVEN an SMS with an empty body (a picture-only MMS arrives like this)
    phone = fresh_phone()
    # WHEN it arrives
    msg_id = send_sms(stack, phone, "")
    drain()
    # THEN it is stored, and the customer still learns we received it
    assert inbound(msg_id).text == ""
    assert len(sms_to(stack, phone)) == 1


@pytest.mark.parametrize(
    ("origination", "problem"),
    [
        (None, "missing originationNumber"),
        ("", "missing originationNumber"),
        ("+15550100123", "invalid originationNumber"),
        ("not a number", "invalid originationNumber"),
    ],
    ids=["absent", "empty", "invalid-555", "garbage"],
)
def test_sms_without_a_valid_sender_is_stored_with_the_reason_and_nothing_is_sent(
    stack: Any, drain: Any, origination: str | None, problem: str
) -> None:
    # GIVEN an inbound SMS whose originationNumber is missing or invalid
    inbound_id = f"bad-sender-{random.random()}"
    payload: dict[str, Any] = {
        "destinationNumber": stack.campaign.sms.number,
        "messageKeyword": "",
        "messageBody": "STOP",
        "inboundMessageId": inbound_id,
        "previousPublishedMessageId": "",
    }
    if origination is not None:
        payload["originationNumber"] = origination
    drain()  # other tests' records first: what they send is not this message's doing
    before = len(stack.moto_data().get("sns", {}).get("SMS", []))
    # WHEN it is published and processed
    publish_raw(stack, json.dumps(payload))
    drain()
    # THEN the raw JSON is kept, the message is stored with a clear reason, and no SMS is sent at all
    msg = inbound(inbound_id)
    assert json.loads(raw_object(stack, msg.raw_key))["inboundMessageId"] == inbound_id
    assert msg.suppressed_reason == "no_sender"
    assert problem in list(msg.problems)
    # (a timer of another test's conversation may send meanwhile: nothing new goes to this sender, and
    # this message's conversation holds no outbound message)
    new = stack.moto_data().get("sns", {}).get("SMS", [])[before:]
    assert [m for m in new if m.get("phone_number") in {origination, "", None}] == []
    if origination:
        assert [m for m in new if str(m.get("phone_number", "")).endswith(origination[-7:])] == []
    # AND it opens no staff work: its conversation is closed, with no SLA clock (nobody could be answered)
    from chalicelib import store

    conv = store.get_conversation(msg.conversation_id)
    assert conv is not None and conv.status == "closed"
    assert not conv.workflow_version and not conv.workflow_execution
    assert [m for m in store.conversation_messages(msg.conversation_id) if m.direction == "out"] == []


def _malformed_entry(stack: Any, sns_message_id: str) -> dict[str, Any]:
    entries = [m for m in dlq_entries(stack) if sns_message_id in m["Body"]]
    assert len(entries) == 1, f"expected one DLQ entry for {sns_message_id}, got {len(entries)}"
    return entries[0]


def _raw_keys_for(stack: Any, sns_message_id: str) -> list[str]:
    s3 = stack.client("s3")
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.env["RAW_BUCKET"], Prefix="raw/sms/")
        for o in page.get("Contents", [])
    ]
    return [k for k in keys if sns_message_id in k]


@pytest.mark.parametrize(
    "body", ["{not json", '{"messageBody": "no id"}', ""], ids=["malformed", "no-inbound-id", "empty"]
)
def test_unparseable_sms_payload_is_kept_raw_and_parked_in_the_dlq_with_a_reason(
    stack: Any, drain: Any, body: str
) -> None:
    # GIVEN a payload on the inbound-sms topic that is no two-way SMS at all, and nothing else queued
    # (an earlier test's record still on a queue would send its ack inside this drain)
    drain()
    before = len(stack.moto_data().get("sns", {}).get("SMS", []))
    # WHEN it is published and processed
    sns_id = publish_raw(stack, body)
    drain()
    # THEN processing did not crash: the queue is empty, the record is in the DLQ with a reason
    entry = _malformed_entry(stack, sns_id)
    assert entry["MessageAttributes"]["reason"]["StringValue"].strip()
    # AND the raw payload is kept in the raw bucket, and nothing was sent
    keys = _raw_keys_for(stack, sns_id)
    assert len(keys) == 1, keys
    assert len(stack.moto_data().get("sns", {}).get("SMS", [])) == before
    attrs = stack.sqs.get_queue_attributes(
        QueueUrl=stack.env["INTAKE_QUEUE_URL"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"


def test_phone_typed_on_the_web_form_is_kept_unverified_and_merges_nobody(
    stack: Any, drain: Any, unique_email: Any
) -> None:
    # GIVEN someone who used the web form and typed a mobile number (unproven: anyone can type any number)
    phone = fresh_phone("+4670", 7)
    email = unique_email("sms-web")
    spaced = f"{phone[:3]} {phone[3:5]} {phone[5:8]} {phone[8:10]} {phone[10:]}"  # +46 70 123 45 67
    form = {
        "name": "Sara Lind",
        "email": email,
        "phone": spaced,
        "topic": "order_status",
        "message": "Where is my order? It should have arrived on Monday.",
        "consent": True,
    }
    req = urllib.request.Request(
        f"{stack.api_url}/contact",
        data=json.dumps(form).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 202
        web_reference = json.loads(resp.read())["reference"]
    drain()
    # WHEN they send an SMS from that phone
    send_sms(stack, phone, "Hi, I wrote on your website about my order, any news?")
    drain()
    # THEN the number is kept on the web customer as an unverified contact detail only
    from chalicelib import store
    from chalicelib.models import CustomerModel, IdentityModel

    customer_id = IdentityModel.get(f"email#{email}").customer_id
    assert f"phone#{phone}" in (CustomerModel.get(customer_id).unverified_contacts or set())
    # AND the SMS belongs to the number's own customer: the web submitter does not see its history
    sms_customer = IdentityModel.get(f"phone#{phone}").customer_id
    assert sms_customer != customer_id
    assert sms_conversation(phone).customer_id == sms_customer
    assert {c.channel for c in store.customer_conversations(customer_id)} == {"web"}
    assert web_reference in {c.reference for c in store.customer_conversations(customer_id)}


def test_short_sms_keeps_the_customers_stored_language(stack: Any, drain: Any) -> None:
    # GIVEN a customer whose first SMS, in Swedish, set their language
    phone = fresh_phone("+4670", 7)
    send_sms(stack, phone, "Hej! Jag har inte fått mitt paket än. Kan ni kolla var det är?")
    drain()
    from chalicelib.models import CustomerModel, IdentityModel

    customer_id = IdentityModel.get(f"phone#{phone}").customer_id
    assert CustomerModel.get(customer_id).language == "sv"
    # WHEN they answer just "ok"
    ok_id = send_sms(stack, phone, "ok")
    drain()
    # THEN the language stays Swedish, for the customer and for that message
    assert CustomerModel.get(customer_id).language == "sv"
    assert inbound(ok_id).classification["language"] == "sv"


# ------------------------------------------------------------------ edge cases of the processing path


def test_message_from_an_opted_out_number_is_stored_with_the_reason(stack: Any, drain: Any) -> None:
    # GIVEN a phone that opted out
    phone = fresh_phone()
    send_sms(stack, phone, "STOP")
    drain()
    # WHEN it writes an ordinary message
    later = send_sms(stack, phone, "Where is my parcel?")
    drain()
    # THEN the stored message says why it got no ack
    assert inbound(later).suppressed_reason == "suppressed"


@pytest.mark.parametrize("payload", [["a", "list"], None, 42], ids=["list", "null", "number"])
def test_sms_payload_that_is_json_but_not_an_object_is_invalid_input(stack: Any, payload: Any) -> None:
    # GIVEN the runtime of the local stack and an SNS message that is JSON but not an object
    # (published to the topic it crashes the batch, is redelivered and reaches the DLQ without a reason)
    from chalicelib import pipeline
    from chalicelib.errors import InvalidInput
    from chalicelib.intake import loader

    rt = pipeline.get_runtime()
    # WHEN it is loaded (called directly: a crash on the queue would be redelivered into other tests)
    # THEN it is rejected as invalid input, which parks it in the DLQ with the reason
    with pytest.raises(InvalidInput):
        loader.load_sms(payload, f"not-object-{random.random()}", rt)


def test_malformed_json_reason_names_json_and_raw_is_the_original_text(stack: Any, drain: Any) -> None:
    # GIVEN a payload on the inbound-sms topic that is not JSON
    body = '{"originationNumber": "+14255550100", broken'
    # WHEN it is published and processed
    sns_id = publish_raw(stack, body)
    drain()
    # THEN the DLQ reason says it is not JSON, and the raw object holds exactly what was published
    reason = _malformed_entry(stack, sns_id)["MessageAttributes"]["reason"]["StringValue"]
    keys = _raw_keys_for(stack, sns_id)
    assert "JSON" in reason, reason
    assert raw_object(stack, keys[0]) == body.encode()


# ------------------------------------------------------------------ developer tools: CLI, simulator API


def test_cli_send_publishes_and_replies_lists_the_ack(
    stack: Any, drain: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the running local stack and a phone
    from cli.main import main

    phone = fresh_phone()
    # WHEN a developer sends an SMS with `replydesk sms send` (not waiting: this stack's pump is manual)
    rc = main(
        ["sms", "send", "--from", phone, "Is the shop open on Sunday?", "--endpoint", stack.endpoint, "--wait", "0"]
    )
    drain()
    # THEN it went to the campaign number, and `replydesk sms replies` lists the ack with its reference
    assert rc == 0
    assert stack.campaign.sms.number in capsys.readouterr().out
    assert main(["sms", "replies", "--to", phone, "--endpoint", stack.endpoint]) == 0
    out = capsys.readouterr().out
    assert f"<- {sms_to(stack, phone)[0]}" in out
    assert sms_conversation(phone).reference in out


def test_simulator_api_sends_and_shows_the_thread(stack: Any, drain: Any) -> None:
    # GIVEN the phone simulator of the local stack, whose raw bucket also holds a hostile "SMS" nested
    # deeper than any JSON parser goes (the hostile-input tests store such objects)
    stack.client("s3").put_object(
        Bucket=stack.env["RAW_BUCKET"], Key=f"raw/sms/deep-{uuid.uuid4().hex}.json", Body=b"[" * 200_000
    )
    phone = fresh_phone()
    body = json.dumps({"phone": phone, "text": "Hello from the page"}).encode()
    request = urllib.request.Request(
        f"{stack.phone_url}/api/send", method="POST", data=body, headers={"Content-Type": "application/json"}
    )
    # WHEN a message is sent through its API and processed
    with urllib.request.urlopen(request, timeout=30) as resp:
        inbound_id = json.loads(resp.read())["inboundMessageId"]
    drain()
    # THEN the thread holds the sent message, then the ack, in that order
    query = urllib.parse.urlencode({"phone": phone})
    with urllib.request.urlopen(f"{stack.phone_url}/api/thread?{query}", timeout=30) as resp:
        thread = json.loads(resp.read())
    assert thread["campaign_number"] == stack.campaign.sms.number
    assert [(m["direction"], m["text"]) for m in thread["messages"]] == [
        ("in", "Hello from the page"),
        ("out", sms_to(stack, phone)[0]),
    ]
    # AND the message the processing path stored is that one
    assert inbound(inbound_id).text == "Hello from the page"
