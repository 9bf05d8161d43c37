"""send_sms against moto's SNS: it publishes, and it refuses suppressed and SNS-opted-out numbers."""

from __future__ import annotations

import itertools
import json
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.config import Campaign, load_campaign
from chalicelib.errors import DeliveryError, ValidationError, is_retryable
from chalicelib.sms import SmsSkipReason, count_segments, send_sms

pytestmark = pytest.mark.functional

REGION = "us-east-1"
_numbers = itertools.count(100)


def fresh_number(*, opted_out_at_sns: bool = False) -> str:
    """A US number no other test used (moto keeps every SMS for the server's lifetime).

    moto's SNS reports exactly the numbers ending in 99 as opted out.
    """
    n = next(_numbers)
    if opted_out_at_sns:
        return f"+14255{n:04d}99"
    while n % 100 == 99:
        n = next(_numbers)
    return f"+1425555{n:04d}"


@pytest.fixture
def sns(moto_url: str) -> Any:
    return boto3.session.Session().client("sns", region_name=REGION, endpoint_url=moto_url)


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return load_campaign("demo")


def recorded_sms(moto_url: str, phone: str) -> list[dict[str, str]]:
    """What moto recorded as sent to `phone`, read over HTTP as an operator would."""
    with urllib.request.urlopen(f"{moto_url}/moto-api/data.json", timeout=10) as resp:
        data = json.load(resp)
    return [sms for sms in data["sns"]["SMS"] if sms["phone_number"] == phone]


def captured_publishes(sns: Any) -> list[dict[str, Any]]:
    """The parameters of each Publish call this client makes (moto does not record SMS attributes)."""
    calls: list[dict[str, Any]] = []
    sns.meta.events.register("provide-client-params.sns.Publish", lambda params, **_: calls.append(dict(params)))
    return calls


def never_suppressed(_phone: str) -> bool:
    return False


def test_a_transactional_sms_is_published_from_the_campaign_number(moto_url: str, sns: Any, campaign: Campaign) -> None:
    # GIVEN a number that is neither suppressed nor opted out at SNS
    phone = fresh_number()
    calls = captured_publishes(sns)
    text = "Northwind Outdoor: thanks, we got your message. Your reference is RD-7K3M9Q. Reply STOP to stop."
    # WHEN an SMS is sent
    result = send_sms(sns=sns, phone=phone, text=text, campaign=campaign, suppressed=never_suppressed)
    # THEN it is sent, and moto recorded exactly that text to exactly that number
    assert result.sent
    assert result.reason is None
    assert result.segments == 1
    assert recorded_sms(moto_url, phone) == [{"message": text, "message_id": result.message_id, "phone_number": phone}]
    # AND it went as Transactional from the campaign's origination number
    (call,) = calls
    assert call["PhoneNumber"] == phone
    assert call["MessageAttributes"] == {
        "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
        "AWS.MM.SMS.OriginationNumber": {"DataType": "String", "StringValue": campaign.sms.number},
    }


def test_a_long_unicode_sms_is_published_whole_with_its_segment_count(
    moto_url: str, sns: Any, campaign: Campaign
) -> None:
    # GIVEN a reply of several UCS-2 segments
    phone = fresh_number()
    text = "Ваш заказ отправлен 📦 " * 8
    # WHEN it is sent
    result = send_sms(sns=sns, phone=phone, text=text, campaign=campaign, suppressed=never_suppressed)
    # THEN SNS gets the whole text (SNS splits it), and the result says how many segments it costs
    assert result.sent
    assert result.segments == count_segments(text).segments == 3
    assert [sms["message"] for sms in recorded_sms(moto_url, phone)] == [text]


def test_a_number_sns_reports_opted_out_gets_nothing(moto_url: str, sns: Any, campaign: Campaign) -> None:
    # GIVEN a number SNS reports as opted out (moto: numbers ending in 99) that we never suppressed
    phone = fresh_number(opted_out_at_sns=True)
    calls = captured_publishes(sns)
    # WHEN an SMS is sent, even as a keyword response
    results = [
        send_sms(
            sns=sns, phone=phone, text="Hello", campaign=campaign, suppressed=never_suppressed, keyword_response=kr
        )
        for kr in (False, True)
    ]
    # THEN nothing is published and the reason is SNS's opt-out
    assert [(r.sent, r.reason, r.message_id) for r in results] == [(False, SmsSkipReason.OPTED_OUT, None)] * 2
    assert calls == []
    assert recorded_sms(moto_url, phone) == []


def test_a_suppressed_number_gets_nothing(moto_url: str, sns: Any, campaign: Campaign) -> None:
    # GIVEN a number on our own suppression list
    phone = fresh_number()
    asked: list[str] = []

    def suppressed(number: str) -> bool:
        asked.append(number)
        return number == phone

    # WHEN an acknowledgement is sent to it
    result = send_sms(
        sns=sns, phone=phone, text="Your reference is RD-7K3M9Q", campaign=campaign, suppressed=suppressed
    )
    # THEN nothing is published, the reason is ours, and the check was made with the E.164 number
    assert (result.sent, result.reason) == (False, SmsSkipReason.SUPPRESSED)
    assert asked == [phone]
    assert recorded_sms(moto_url, phone) == []


def test_a_keyword_response_reaches_a_number_we_suppressed(moto_url: str, sns: Any, campaign: Campaign) -> None:
    # GIVEN a number that has just opted out with us (so it is suppressed)
    phone = fresh_number()
    # WHEN the one STOP confirmation is sent as a keyword response
    result = send_sms(
        sns=sns,
        phone=phone,
        text="You are unsubscribed.",
        campaign=campaign,
        suppressed=lambda _number: True,
        keyword_response=True,
    )
    # THEN it goes out (carrier rules require the confirmation)
    assert result.sent
    assert [sms["message"] for sms in recorded_sms(moto_url, phone)] == ["You are unsubscribed."]


@pytest.mark.parametrize(
    ("phone", "text", "reason"),
    [
        ("4255550182", "Hello", SmsSkipReason.INVALID_PHONE),
        ("", "Hello", SmsSkipReason.INVALID_PHONE),
        ("+14255550182", "  \n", SmsSkipReason.EMPTY),
    ],
)
def test_invalid_numbers_and_empty_texts_are_not_sent(
    sns: Any, campaign: Campaign, phone: str, text: str, reason: SmsSkipReason
) -> None:
    # GIVEN a number that is not E.164, or a blank text
    calls = captured_publishes(sns)
    # WHEN it is sent
    result = send_sms(sns=sns, phone=phone, text=text, campaign=campaign, suppressed=never_suppressed)
    # THEN nothing is published and the reason says why
    assert (result.sent, result.reason) == (False, reason)
    assert calls == []


def test_a_text_longer_than_sns_accepts_is_refused_before_sending(sns: Any, campaign: Campaign) -> None:
    # GIVEN 1,601 characters
    # WHEN sent
    # THEN it is refused as invalid input, naming the limit
    with pytest.raises(ValidationError, match="1600"):
        send_sms(sns=sns, phone=fresh_number(), text="x" * 1601, campaign=campaign, suppressed=never_suppressed)


@pytest.mark.parametrize(("code", "retryable"), [("Throttling", True), ("InvalidParameter", False)])
def test_an_sns_error_becomes_a_delivery_error(sns: Any, campaign: Campaign, code: str, retryable: bool) -> None:
    # GIVEN SNS refusing the publish (stubbed: moto cannot be made to throttle)
    phone = fresh_number()
    with Stubber(sns) as stub:
        stub.add_response("check_if_phone_number_is_opted_out", {"isOptedOut": False}, {"phoneNumber": phone})
        stub.add_client_error("publish", service_error_code=code, http_status_code=400)
        # WHEN an SMS is sent
        with pytest.raises(DeliveryError) as info:
            send_sms(sns=sns, phone=phone, text="Hello", campaign=campaign, suppressed=never_suppressed)
    # THEN the AWS code is kept, and only throttling is worth a retry
    assert info.value.aws_code == code
    assert is_retryable(info.value) is retryable
