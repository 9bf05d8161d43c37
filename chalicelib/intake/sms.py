"""SMS intake: the AWS two-way SMS JSON (as SNS delivers it) into an InboundMessage."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import phonenumbers

from chalicelib.errors import InvalidInput
from chalicelib.inbound import Channel, InboundMessage
from chalicelib.sms import detect_keyword

if TYPE_CHECKING:
    from chalicelib.config import Campaign

# How many SNS wrappers to peel off: SNS→SQS raw envelope, Lambda SNS record ({"Sns": {...}}).
_MAX_ENVELOPES = 3
# An inbound SMS is at most 1,600 characters (6,400 bytes of UTF-8 at 4 bytes each).
MAX_TEXT_BYTES = 8 * 1024
_SURROGATE = re.compile("[\ud800-\udfff]")


def _decode(payload: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(payload, Mapping):
        return payload
    if isinstance(payload, bytes | bytearray):
        try:
            # utf-8-sig: a BOM from a hand-edited fixture or a replayed file must not break the parse.
            payload = bytes(payload).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"SMS payload is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"SMS payload is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    except RecursionError as exc:
        raise InvalidInput("SMS payload JSON is nested too deeply") from exc
    if not isinstance(data, Mapping):
        raise InvalidInput(f"SMS payload is JSON but not an object (a {type(data).__name__})")
    return data


def _unwrap(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """The two-way SMS object itself, whether given bare or inside SNS envelopes.

    moto (unlike AWS) may deliver an SNS→SQS envelope whose `Message` is already an object
    rather than a JSON string, so both are accepted.
    """
    for _ in range(_MAX_ENVELOPES):
        if "inboundMessageId" in data:
            return data
        if isinstance(data.get("Sns"), Mapping):
            data = data["Sns"]
        if "Message" not in data:
            return data
        inner = data["Message"]
        data = inner if isinstance(inner, Mapping) else _decode(inner if isinstance(inner, str) else "")
    return data


_SAFE_ID = re.compile(r"^[\x21-\x7e]{1,256}$")


def is_safe_id(value: str) -> bool:
    """Whether a provider's message id can go into an S3 key and a DynamoDB key as it is."""
    return bool(_SAFE_ID.match(value.strip()))


def _e164(value: Any, region: str) -> str | None:
    """E.164 form of a valid phone number, or None; the same rule the web form applies to `phone`."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def parse_sms(
    payload: bytes | str | Mapping[str, Any],
    *,
    raw_key: str,
    received_at: datetime,
    default_region: str = "US",
    campaign: Campaign | None = None,
) -> InboundMessage:
    """Parse one inbound SMS as the two-way SMS number publishes it to SNS.

    A message whose sender number is missing or invalid is still returned, with `sender=""` and the
    reason in `problems`, so it is stored but never acknowledged. Raises InvalidInput when there is
    no message at all (not JSON, no `inboundMessageId`): the caller parks it in the DLQ, raw kept.
    Unknown fields are ignored. `campaign` adds its own opt-out/opt-in words to keyword detection.
    """
    data = _unwrap(_decode(payload))
    source_id = data.get("inboundMessageId")
    if isinstance(source_id, int) and not isinstance(source_id, bool):
        source_id = str(source_id)
    if not isinstance(source_id, str) or not source_id.strip():
        raise InvalidInput("SMS payload has no inboundMessageId")
    if not is_safe_id(source_id):
        raise InvalidInput("SMS inboundMessageId is not a printable id of at most 256 characters")

    problems: list[str] = []
    origination = data.get("originationNumber")
    sender = _e164(origination, default_region)
    if sender is None:
        problems.append("missing originationNumber" if origination in (None, "") else "invalid originationNumber")

    body = data.get("messageBody")
    if body is None:
        text = ""
    elif isinstance(body, str):
        text = body
        if _SURROGATE.search(text):
            # JSON may carry "\ud800" escapes that decode to lone surrogates; no store or SMS takes them.
            text = _SURROGATE.sub("\ufffd", text)
            problems.append("messageBody has invalid characters (lone surrogates)")
    elif isinstance(body, int | float) and not isinstance(body, bool):
        text = str(body)  # a bare number such as a PIN, if a producer sent it unquoted
    else:
        text = ""
        problems.append("messageBody is not text")

    if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
        # AWS delivers at most 1,600 characters; anything longer did not come from a phone.
        text = text.encode("utf-8")[:MAX_TEXT_BYTES].decode("utf-8", "ignore")
        problems.append(f"messageBody longer than {MAX_TEXT_BYTES} bytes, cut")

    # Our own number writing to us is our own message looping back: its "STOP" must not opt the
    # campaign number out (and answer itself); the guard gives it no ack either.
    own = campaign is not None and sender is not None and sender == campaign.sms.number
    if own:
        problems.append("sent from the campaign's own number")

    destination = data.get("destinationNumber")
    # Our own number only tells which campaign number was used; a bad one must not block the reply.
    recipient = _e164(destination, default_region) or (
        _SURROGATE.sub("", destination.strip())[:64] if isinstance(destination, str) else ""
    )
    previous = data.get("previousPublishedMessageId")

    return InboundMessage(
        channel=Channel.SMS,
        source_id=source_id.strip(),
        raw_key=raw_key,
        received_at=received_at,
        sender=sender or "",
        phone=sender,
        text=text,
        recipients=(recipient,) if recipient else (),
        # The SNS MessageId of the last SMS we published to this number: a threading hint.
        in_reply_to=(previous,) if isinstance(previous, str) and previous else (),
        keyword=None if own else detect_keyword(text, campaign),
        problems=tuple(problems),
    )
