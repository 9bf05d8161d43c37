"""parse_sms: the AWS two-way SMS JSON, its SNS envelopes and the bad inputs it must survive."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chalicelib.config import load_campaign
from chalicelib.errors import InvalidInput
from chalicelib.inbound import Channel
from chalicelib.intake.sms import parse_sms
from chalicelib.sms import Keyword

pytestmark = pytest.mark.unit

SAMPLE = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "data"
    / "aws_events"
    / "aws_docs"
    / "sns_two_way_sms_inbound.json"
)
WHEN = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
RAW_KEY = "raw/sms/2026-03-02/cae173d2"


def sample_bytes() -> bytes:
    return SAMPLE.read_bytes()


def sample(**changes: Any) -> dict[str, Any]:
    """The AWS docs sample, with fields replaced (or removed when the value is ...)."""
    data: dict[str, Any] = json.loads(sample_bytes())
    for key, value in changes.items():
        if value is ...:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def parse(payload: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
    return parse_sms(payload, raw_key=RAW_KEY, received_at=WHEN, **kwargs)


def test_the_aws_docs_sample_parses_as_is() -> None:
    # GIVEN the sample payload exactly as AWS documents it, as raw bytes from the bucket
    raw = sample_bytes()
    # WHEN it is parsed
    msg = parse(raw)
    # THEN every field lands where the pipeline expects it
    assert msg.channel is Channel.SMS
    assert msg.source_id == "cae173d2-66b9-564c-8309-21f858e9fb84"
    assert msg.sender == msg.phone == "+14255550182"
    assert msg.identity() == "phone#+14255550182"
    assert msg.recipients == ("+12125550101",)
    assert msg.text == "EXAMPLE"
    assert msg.in_reply_to == ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",)
    assert msg.raw_key == RAW_KEY
    assert msg.received_at == WHEN
    assert msg.keyword is None
    assert msg.problems == ()


@pytest.mark.parametrize("form", ["bytes", "str", "mapping"])
def test_bytes_str_and_mapping_give_the_same_message(form: str) -> None:
    # GIVEN the same payload in each accepted form
    payload = {"bytes": sample_bytes(), "str": sample_bytes().decode(), "mapping": sample()}[form]
    # WHEN it is parsed
    msg = parse(payload)
    # THEN the result does not depend on the form
    assert msg == parse(sample_bytes())


def test_an_sns_envelope_with_message_as_a_json_string_is_unwrapped() -> None:
    # GIVEN the SNS→SQS raw envelope AWS delivers: Message is a JSON string
    envelope = {"Type": "Notification", "MessageId": "sns-1", "Message": json.dumps(sample())}
    # WHEN it is parsed
    msg = parse(json.dumps(envelope).encode())
    # THEN the SMS inside is used, and its own id is the source id (not the SNS one)
    assert msg.source_id == "cae173d2-66b9-564c-8309-21f858e9fb84"
    assert msg.sender == "+14255550182"


def test_an_sns_envelope_with_message_as_an_object_is_unwrapped() -> None:
    # GIVEN the moto quirk: the envelope carries Message as an object, not a string
    envelope = {"Type": "Notification", "MessageId": "sns-1", "Message": sample()}
    # WHEN it is parsed (as a mapping and as bytes)
    msgs = [parse(envelope), parse(json.dumps(envelope).encode())]
    # THEN both give the SMS inside
    assert {m.source_id for m in msgs} == {"cae173d2-66b9-564c-8309-21f858e9fb84"}


def test_a_lambda_sns_record_is_unwrapped() -> None:
    # GIVEN the Lambda SNS record shape, {"Sns": {"Message": "..."}}
    record = {"EventSource": "aws:sns", "Sns": {"Type": "Notification", "Message": json.dumps(sample())}}
    # WHEN it is parsed
    msg = parse(record)
    # THEN the SMS inside is found
    assert msg.sender == "+14255550182"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"originationNumber": "+14255550182", "messageBody": "hi"', "not JSON"),
        (b"", "not JSON"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"[1, 2, 3]", "not an object"),
        (b'"just a string"', "not an object"),
        (json.dumps({"Type": "Notification", "Message": "{broken"}).encode(), "not JSON"),
    ],
    ids=["truncated", "empty", "binary", "array", "string", "envelope-with-broken-message"],
)
def test_malformed_json_raises_invalid_input_with_a_reason(payload: bytes, reason: str) -> None:
    # GIVEN a raw object that is not a two-way SMS JSON object
    # WHEN it is parsed
    with pytest.raises(InvalidInput) as info:
        parse(payload)
    # THEN the error names the reason for the DLQ
    assert reason in info.value.reason


@pytest.mark.parametrize("value", [..., None, "", "   "], ids=["absent", "null", "empty", "blank"])
def test_a_missing_inbound_message_id_raises_invalid_input(value: Any) -> None:
    # GIVEN a payload without its message id (there is nothing to be idempotent on)
    payload = sample(inboundMessageId=value)
    # WHEN / THEN it is refused with a clear reason
    with pytest.raises(InvalidInput, match="inboundMessageId"):
        parse(payload)


@pytest.mark.parametrize("value", [..., None, ""], ids=["absent", "null", "empty"])
def test_a_missing_origination_number_is_kept_with_a_problem(value: Any) -> None:
    # GIVEN an SMS without a sender number
    payload = sample(originationNumber=value)
    # WHEN it is parsed
    msg = parse(payload)
    # THEN the message exists, has no sender identity, and says why (so no ack goes out)
    assert msg.sender == ""
    assert msg.phone is None
    assert msg.identity() is None
    assert msg.problems == ("missing originationNumber",)
    assert msg.text == "EXAMPLE"


@pytest.mark.parametrize("value", ["12345", "+1555", "not a number", "+999123456789", 14255550182, "+15550100100"])
def test_an_invalid_origination_number_is_kept_with_a_problem(value: Any) -> None:
    # GIVEN an SMS from a number that is not a valid phone number (555 is not an area code)
    payload = sample(originationNumber=value)
    # WHEN it is parsed
    msg = parse(payload)
    # THEN it is stored without sender and with the reason
    assert msg.sender == ""
    assert msg.problems == ("invalid originationNumber",)


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+1 (425) 555-0182", "US", "+14255550182"),
        ("4255550182", "US", "+14255550182"),
        ("+46 70 123 45 67", "US", "+46701234567"),
        ("070-123 45 67", "SE", "+46701234567"),
    ],
)
def test_origination_numbers_are_normalised_to_e164(raw: str, region: str, e164: str) -> None:
    # GIVEN a sender number in a national or formatted style
    payload = sample(originationNumber=raw)
    # WHEN it is parsed with the campaign's default region
    msg = parse(payload, default_region=region)
    # THEN the identity is E.164, the form every lookup uses
    assert msg.sender == e164
    assert msg.problems == ()


@pytest.mark.parametrize(
    "body",
    [
        "",
        "x" * 1600,
        "Mitt paket har inte kommit 📦😡 kan ni kolla? 👍🏽",
        "طلبي لم يصل بعد، هل يمكنكم المساعدة؟",
        "我的包裹还没有到，请帮忙查一下。",
        "Привет! Где мой заказ?",
        "line one\nline two\r\nline three",
        "€ [x] {y} ~z~ ^ | \\",
    ],
    ids=["empty", "1600-chars", "emoji", "arabic", "chinese", "cyrillic", "newlines", "gsm-extension"],
)
def test_any_body_is_kept_exactly(body: str) -> None:
    # GIVEN an SMS body that is empty, maximal, emoji or in a non-Latin script (as JSON bytes)
    raw = json.dumps(sample(messageBody=body), ensure_ascii=False).encode("utf-8")
    # WHEN it is parsed
    msg = parse(raw)
    # THEN the text is kept exactly and nothing is flagged
    assert msg.text == body
    assert msg.problems == ()


def test_a_missing_body_is_an_empty_message() -> None:
    # GIVEN a payload without messageBody
    # WHEN it is parsed
    msg = parse(sample(messageBody=...))
    # THEN it is an empty message, not an error
    assert msg.text == ""
    assert msg.problems == ()


def test_a_non_text_body_is_flagged() -> None:
    # GIVEN a payload whose body is an object
    # WHEN it is parsed
    msg = parse(sample(messageBody={"oops": 1}))
    # THEN it is stored empty, with the reason
    assert msg.text == ""
    assert msg.problems == ("messageBody is not text",)


def test_unknown_fields_are_ignored() -> None:
    # GIVEN a payload with fields AWS may add later
    payload = sample(carrierName="Example Mobile", isoCountryCode="US", extra={"nested": [1, 2]})
    # WHEN it is parsed
    msg = parse(payload)
    # THEN they change nothing
    assert msg == parse(sample())
    assert msg.problems == ()


def test_a_bad_destination_number_does_not_block_the_message() -> None:
    # GIVEN a payload whose destination is our fictional demo number (not a valid NANP number)
    # WHEN it is parsed
    msg = parse(sample(destinationNumber="+15550100100"))
    # THEN it is kept as given and raises no problem
    assert msg.recipients == ("+15550100100",)
    assert msg.problems == ()


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("STOP", Keyword.STOP),
        (" stop. ", Keyword.STOP),
        ("Start", Keyword.START),
        ("help?", Keyword.HELP),
        ("please stop", None),
    ],
)
def test_the_keyword_is_detected_on_the_whole_body(body: str, keyword: Keyword | None) -> None:
    # GIVEN an SMS whose body may be a keyword
    # WHEN it is parsed
    msg = parse(sample(messageBody=body))
    # THEN the keyword is set only when the whole body is one
    assert msg.keyword == keyword


def test_campaign_keywords_are_used_when_the_campaign_is_given() -> None:
    # GIVEN the demo campaign, which adds the Swedish STOPP, and an SMS saying "Stopp"
    campaign = load_campaign("demo")
    payload = sample(messageBody="Stopp")
    # WHEN it is parsed with and without the campaign
    with_campaign, without = parse(payload, campaign=campaign), parse(payload)
    # THEN only the campaign knows the word
    assert with_campaign.keyword is Keyword.STOP
    assert without.keyword is None
