"""Decoding never crashes: hostile charsets, lone surrogates and nested JSON become text, a problem or a reason."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest
from mailcorpus import parse_bytes

from chalicelib.config import Settings
from chalicelib.errors import InvalidInput
from chalicelib.intake import loader
from chalicelib.intake.email import decode_bytes
from chalicelib.intake.sms import parse_sms

pytestmark = pytest.mark.unit

CHARSETS = ["undefined", "punycode", "idna", "x-no-such-charset", "raw-unicode-escape", "unicode_escape", "base64",
            "rot13", "utf-7", "utf-16", "utf-8"]  # fmt: skip
BODIES = [b"caf\xc3\xa9 hello", b"\xed\xa0\x80abc", b"+2D8A-", b"\\ud800 x", b"\xff\xfe\x00\xd8", b"plain"]


def _valid_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@pytest.mark.parametrize("charset", CHARSETS)
@pytest.mark.parametrize("body", BODIES)
def test_decode_bytes_never_raises_and_never_returns_surrogates(charset: str, body: bytes) -> None:
    # GIVEN bytes declared in a hostile or bogus charset WHEN decoded THEN the result is storable text
    assert _valid_text(decode_bytes(body, charset))


@pytest.mark.parametrize("charset", CHARSETS)
def test_mail_in_any_declared_charset_parses_to_storable_text(charset: str) -> None:
    # GIVEN a mail whose subject word, body, HTML part and attachment name all declare the charset
    cs = charset.encode()
    raw = (
        b"From: =?" + cs + b"?q?A=FF?= <a@example.com>\r\nSubject: =?" + cs + b"?q?hi=FF?=\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=" + cs + b"\r\n\r\n"
        b"\xed\xa0\x80 caf\xc3\xa9 \\ud800\r\n--b\r\nContent-Type: application/pdf; name*=" + cs + b"''%FF%ED%A0%80\r\n"
        b"Content-Disposition: attachment; filename*=" + cs + b"''%ff%ed%a0%80.pdf\r\n\r\nx\r\n"
        b"--b\r\nContent-Type: text/html; charset=" + cs + b"\r\n\r\n<p>\xed\xa0\x80</p>\r\n--b--\r\n"
    )
    # WHEN it is parsed THEN nothing raises and every text field is valid UTF-8 (DynamoDB and SES take it)
    msg = parse_bytes(raw).message
    assert msg.sender == "a@example.com"
    fields = [msg.text, msg.subject, msg.new_text or "", msg.html or "", msg.sender_name]
    assert all(_valid_text(f) for f in fields + [a.filename for a in msg.attachments])
    assert len(msg.attachments) == 1


def _sms(**fields: object) -> dict[str, object]:
    return {
        "originationNumber": "+14255550182",
        "destinationNumber": "+46720100100",
        "messageKeyword": "KEYWORD",
        "inboundMessageId": "id-1",
        **fields,
    }


def test_sms_body_with_lone_surrogates_is_kept_with_a_problem() -> None:
    # GIVEN an SMS JSON whose body escapes a lone surrogate
    payload = json.dumps(_sms(messageBody="hi \ud800 there"))
    # WHEN parsed THEN the text is storable and the problem is recorded (stored, not retried)
    msg = parse_sms(payload, raw_key="raw/sms/x", received_at=datetime.now(UTC))
    assert _valid_text(msg.text) and "hi" in msg.text
    assert "messageBody has invalid characters (lone surrogates)" in msg.problems


@pytest.mark.parametrize("source_id", ["a\ud800", "a b c", "x" * 300, "\x00"])
def test_sms_with_an_id_no_key_can_hold_is_invalid_input(source_id: str) -> None:
    with pytest.raises(InvalidInput, match="inboundMessageId"):
        parse_sms(
            json.dumps(_sms(inboundMessageId=source_id, messageBody="hi")), raw_key="k", received_at=datetime.now(UTC)
        )


def test_sms_nested_too_deeply_is_invalid_input_with_a_reason() -> None:
    # GIVEN an SMS payload nesting 100,000 levels deep
    with pytest.raises(InvalidInput, match="nested too deeply"):
        parse_sms("[" * 100_000, raw_key="k", received_at=datetime.now(UTC))


@pytest.fixture(scope="module")
def settings() -> Settings:
    # unwrap reads only the raw bucket from Settings; the values are never used to reach AWS.
    return Settings(**{f.name: "x" for f in dataclasses.fields(Settings)} | {"endpoint_url": None})


def test_queue_record_nested_too_deeply_is_invalid_input(settings: Settings) -> None:
    with pytest.raises(InvalidInput, match="nested too deeply"):
        loader.unwrap("[" * 100_000, settings)


def test_sns_message_nested_too_deeply_is_kept_as_text_and_flagged(settings: Settings) -> None:
    # GIVEN an SNS envelope (valid) whose Message string is JSON nested 100,000 levels deep
    inner = "[" * 100_000
    body = json.dumps({"Type": "Notification", "TopicArn": "arn:aws:sns:x", "MessageId": "m", "Message": inner})
    # WHEN unwrapped THEN the message is the original text, marked as too deep for the SMS loader's reason
    unwrapped = loader.unwrap(body, settings)
    assert isinstance(unwrapped, dict)
    assert isinstance(unwrapped["message"], loader.TooDeep) and unwrapped["message"] == inner
    # AND the raw bytes kept for it are exactly what arrived
    assert loader._raw_json(unwrapped["message"]) == inner.encode()


def test_raw_json_keeps_lone_surrogates_as_escapes() -> None:
    # GIVEN a decoded SMS object holding a lone surrogate WHEN it is serialised for the raw bucket
    raw = loader._raw_json({"messageBody": "a\ud800"})
    # THEN it is bytes that decode back to the same object
    assert json.loads(raw) == {"messageBody": "a\ud800"}
