"""Property-based fuzzing of the parsers: every input becomes a message or is rejected with a reason.

Web form bodies, two-way SMS JSON, queue records and raw MIME (corpus files mutated byte-wise and
header-wise) go straight into the parsers (unit tier: no AWS). Examples are few and there is no
deadline, so the suite stays fast and never fails on a slow machine.
"""

from __future__ import annotations

import dataclasses
import json
import os
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mailcorpus import DATA, parse_bytes, rows

from chalicelib.config import Campaign, Settings, load_campaign
from chalicelib.errors import InvalidInput, ValidationError
from chalicelib.guard import check_message
from chalicelib.inbound import InboundMessage
from chalicelib.intake import loader, web
from chalicelib.intake.sms import parse_sms
from chalicelib.sms import Keyword, detect_keyword

pytestmark = pytest.mark.unit
T = TypeVar("T")

# REPLYDESK_FUZZ_EXAMPLES=5000 runs a deeper hunt locally; the suite keeps it small.
FUZZ = settings(
    max_examples=int(os.environ.get("REPLYDESK_FUZZ_EXAMPLES", "120")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
CAMPAIGN: Campaign = load_campaign("demo")
# unwrap reads only the raw bucket from Settings; the values are never used to reach AWS.
SETTINGS = Settings(**{f.name: "x" for f in dataclasses.fields(Settings)} | {"endpoint_url": None})

# Text as attackers send it: any code point (lone surrogates included), control characters, RTL
# marks, very long runs.
nasty_text = st.one_of(
    st.text(st.characters(codec=None), max_size=60),
    st.text(st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=60),
    st.sampled_from(["\r\n", "\ud800", "\x00", "\u202e", "a" * 300, "=?utf-8?q?=0D=0A?=", "<b>", "@", "\u2028"]),
)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | nasty_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(nasty_text, inner, max_size=4),
    max_leaves=12,
)


def _attempt(call: Callable[[], T], rejected: type[Exception]) -> tuple[T | None, Exception | None]:
    """The call's result, or the rejection it raised; any other exception fails the property."""
    try:
        return call(), None
    except rejected as exc:
        return None, exc


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _assert_message(msg: InboundMessage) -> None:
    """What every parsed message must be: storable text, a source id, a checkable guard result."""
    for value in (msg.text, msg.subject, msg.sender, msg.sender_name, msg.new_text or "", msg.html or ""):
        assert _storable(value)
    assert msg.source_id
    assert not any(c in msg.sender_name for c in "\r\n")
    check_message(msg, CAMPAIGN)


# ------------------------------------------------------------------ web form

FORM_FIELDS = ("name", "email", "phone", "topic", "message", "consent", "language", "website")
VALID_FORM = {"name": "Ada Lovelace", "email": "ada@customer.test", "message": "Where is my order?", "consent": True}
form_fields = st.one_of(
    # anything at all in any field
    st.fixed_dictionaries({}, optional=dict.fromkeys(FORM_FIELDS, json_value | nasty_text)),
    # a valid submission with one or two fields replaced by hostile values
    st.dictionaries(st.sampled_from(FORM_FIELDS), json_value | nasty_text, max_size=2).map(lambda d: VALID_FORM | d),
    st.just(VALID_FORM),
)


def _encode_form(data: dict[str, Any]) -> bytes:
    flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
    return urllib.parse.urlencode(flat, errors="surrogatepass").encode()


@FUZZ
@given(data=form_fields, as_json=st.booleans(), garbage=st.binary(max_size=200), use_garbage=st.booleans())
def test_web_form_body_is_accepted_or_rejected_with_a_reason(
    data: dict[str, Any], as_json: bool, garbage: bytes, use_garbage: bool
) -> None:
    # GIVEN any body: a JSON or form-encoded submission of hostile values, or raw bytes
    if use_garbage:
        body, ctype = garbage, "application/json" if as_json else "application/x-www-form-urlencoded"
    elif as_json:
        body, ctype = json.dumps(data).encode(), "application/json"
    else:
        body, ctype = _encode_form(data), "application/x-www-form-urlencoded"
    # WHEN it is decoded and validated
    submission, rejection = _attempt(lambda: web.validate(web.decode_form(body, ctype), CAMPAIGN), ValidationError)
    if submission is None:
        # THEN a rejection names what is wrong
        assert isinstance(rejection, ValidationError) and str(rejection) and rejection.field
        return
    # OR the accepted submission is storable as it is queued, and its name fits a mail header
    assert json.loads(submission.to_json())["email"] == submission.email
    assert not any(ord(c) < 32 for c in submission.name)


# ------------------------------------------------------------------ SMS

sms_payload = st.fixed_dictionaries(
    {},
    optional={
        "originationNumber": st.sampled_from(["+14255550182", "+46701234567", "+46720100100", "", "123"]) | nasty_text,
        "destinationNumber": st.just("+46720100100") | nasty_text,
        "messageBody": st.sampled_from(["STOP", "stop 🛑", "Hjälp", "Where is my order?"]) | json_value,
        "inboundMessageId": st.uuids().map(str) | json_value,
        "previousPublishedMessageId": json_value,
        "messageKeyword": nasty_text,
    },
)


@FUZZ
@given(payload=sms_payload, wrap=st.sampled_from(["bare", "text", "sns", "garbage"]), garbage=nasty_text)
def test_sms_json_is_parsed_or_rejected_with_a_reason(payload: dict[str, Any], wrap: str, garbage: str) -> None:
    # GIVEN any two-way SMS payload: bare, as JSON text, inside an SNS envelope, or not JSON at all
    value: Any = {
        "bare": payload,
        "text": json.dumps(payload),
        "sns": {"Type": "Notification", "Message": json.dumps(payload)},
        "garbage": garbage,
    }[wrap]
    # WHEN it is parsed
    msg, rejection = _attempt(
        lambda: parse_sms(value, raw_key="raw/sms/fuzz", received_at=loader._parse_time(None), campaign=CAMPAIGN),
        InvalidInput,
    )
    if msg is None:
        assert isinstance(rejection, InvalidInput) and rejection.reason  # THEN a rejection says why
        return
    # OR it is a storable message whose id can be a key
    _assert_message(msg)
    assert msg.source_id.isprintable() and len(msg.source_id) <= 256


@FUZZ
@given(body=nasty_text | json_value.map(json.dumps))
def test_keyword_detection_never_raises(body: str) -> None:
    # GIVEN any text WHEN keyword detection runs THEN it answers one of the keywords or None
    assert detect_keyword(body, CAMPAIGN) in (None, *Keyword)


@FUZZ
@given(record=json_value.map(json.dumps) | nasty_text)
def test_queue_record_is_unwrapped_or_rejected_with_a_reason(record: str) -> None:
    unwrapped, rejection = _attempt(lambda: loader.unwrap(record, SETTINGS), InvalidInput)
    # GIVEN any queue record WHEN unwrapped THEN it is an envelope or notification, or rejected with a reason
    assert unwrapped is not None or (isinstance(rejection, InvalidInput) and rejection.reason)


# ------------------------------------------------------------------ raw MIME

SEEDS = sorted(
    (r.path for r in rows() if r.path.stat().st_size < 20_000),
    key=lambda p: p.as_posix(),
)[::10]
HEADER_INJECTIONS = [
    b"From: =?utf-8?q?victim=40x=2Etest=0D=0ABcc=3A_v=40x=2Etest?= <mallory@evil.test>\r\n",
    b"Content-Type: text/plain; charset=undefined\r\n",
    b"Content-Type: text/plain; charset=idna\r\n",
    b"Content-Type: multipart/mixed; boundary=\r\n",
    b"Auto-Submitted: no\r\nAuto-Submitted : auto-replied\r\n",
    b"Subject: =?punycode?q?=FF=FE?=\r\n",
    b"Content-Disposition: attachment; filename*=undefined''%ff%fe\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
]


@st.composite
def mutated_mail(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(SEEDS)).read_bytes())
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "header", "truncate"]))
        at = draw(st.integers(0, max(0, len(raw) - 1)))
        if kind == "flip" and raw:
            raw[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=40))
        elif kind == "delete":
            del raw[at : at + draw(st.integers(1, 200))]
        elif kind == "header":
            raw[0:0] = draw(st.sampled_from(HEADER_INJECTIONS))
        else:
            del raw[at:]
    return bytes(raw)


@FUZZ
@given(raw=mutated_mail())
def test_mutated_corpus_mail_is_parsed_or_rejected_with_a_reason(raw: bytes) -> None:
    # GIVEN a corpus mail with random byte flips, insertions, deletions, cuts and hostile headers
    assert SEEDS and all(p.is_relative_to(DATA) for p in SEEDS)
    # WHEN it is parsed
    parsed, rejection = _attempt(lambda: parse_bytes(raw), InvalidInput)
    if parsed is None:
        assert isinstance(rejection, InvalidInput) and rejection.reason  # THEN a rejection says why (parked)
        return
    # OR every field is storable, the sender never comes from a display name, and the guard runs
    _assert_message(parsed.message)
    assert parsed.message.sender != "victim@x.test"
    assert all(_storable(a.filename) for a, _ in parsed.attachment_payloads)
