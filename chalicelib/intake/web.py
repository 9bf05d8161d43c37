"""Web-form intake: validate a contact submission, store it raw, enqueue it, hand out the reference."""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from chalicelib.config import Campaign
from chalicelib.errors import InvalidInput, PayloadTooLarge, ValidationError
from chalicelib.inbound import Channel, InboundMessage

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

# API Gateway accepts 10 MB; a contact form never needs more than this, and a cap keeps abuse cheap.
MAX_BODY_BYTES = 64 * 1024
# Caps are in UTF-8 bytes (what DynamoDB and SES count), not characters: 5,000 characters of CJK
# are 15,000 bytes, so the page's 5,000-character hint always fits the message cap.
MAX_MESSAGE_BYTES = 15_000
MAX_MESSAGE_CHARS = MAX_MESSAGE_BYTES // 3  # the page's maxlength: 3 bytes per UTF-16 unit at most
MAX_NAME_BYTES = 200
MAX_EMAIL_BYTES = 254  # RFC 5321 path limit
MAX_PHONE_BYTES = 32
# json.loads recurses per nesting level; a form is flat, so anything deeper is refused unparsed.
MAX_JSON_DEPTH = 20
HONEYPOT_FIELD = "website"
# Crockford-like alphabet without 0/O, 1/I/L: references are read aloud and typed by customers.
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A name goes into our ack's To header: no line breaks or other controls (C0, DEL, C1, U+2028/9),
# no angle brackets, quotes or @ that would make it read as another address, no URL (relay text).
_NAME_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029<>\"@]")
# Any scheme, www., or a host name (label.tld, however new the TLD): a name never needs one, and
# "St. John" with its space still passes.
_URL_RE = re.compile(r"(?i)\b(?:[a-z][a-z0-9+.-]*://|www\.)|[a-z0-9-]+\.[a-z]{2,63}(?![a-z])")
_SURROGATE = re.compile("[\ud800-\udfff]")


def new_reference(prefix: str) -> str:
    return f"{prefix}-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))


@dataclass(frozen=True, slots=True)
class Submission:
    """A validated contact-form submission, as stored raw and queued."""

    submission_id: str
    reference: str
    received_at: str
    name: str
    email: str
    phone: str | None
    topic: str | None
    message: str
    consent: bool
    language: str | None
    # The optional second box: the customer accepts offers (the follow-up's complementary offer).
    marketing: bool = False

    def to_json(self) -> bytes:
        return json.dumps({"type": "web_submission", "version": 1, **_asdict(self)}, ensure_ascii=False).encode()


def _asdict(s: Submission) -> dict[str, Any]:
    return {f: getattr(s, f) for f in s.__slots__}


@dataclass(frozen=True, slots=True)
class Accepted:
    reference: str
    submission_id: str


def decode_form(body: bytes, content_type: str) -> dict[str, Any]:
    """JSON or form-encoded body -> dict; raises ValidationError naming the problem."""
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the submission is larger than {MAX_BODY_BYTES // 1024} KB", field="body")
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError("the body is not UTF-8", field="body") from exc
        if _json_depth(text) > MAX_JSON_DEPTH:
            raise ValidationError(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels", field="body")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"the body is not valid JSON: {exc}", field="body") from exc
        except RecursionError as exc:  # the depth scan above should make this unreachable
            raise ValidationError("the JSON body nests too deeply", field="body") from exc
        if not isinstance(data, dict):
            raise ValidationError("the JSON body must be an object", field="body")
        return data
    if ctype == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, errors="strict")
        except UnicodeDecodeError as exc:
            raise ValidationError("the form body is not UTF-8", field="body") from exc
        return {k: v[0] if len(v) == 1 else v for k, v in pairs.items()}
    raise ValidationError(
        "send the form as application/json or application/x-www-form-urlencoded", field="content-type"
    )


def _json_depth(text: str) -> int:
    """The deepest bracket nesting outside strings, found without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _text(data: Mapping[str, Any], field: str, *, required: bool, limit: int) -> str:
    """A text field, stripped; `limit` is in UTF-8 bytes."""
    value = data.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(f"'{field}' is required", field=field)
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"'{field}' must be text", field=field)
    if _SURROGATE.search(value):
        # "\ud800" in JSON is valid syntax but no text: UTF-8 (DynamoDB, SES) cannot hold it.
        raise ValidationError(f"'{field}' contains invalid characters (unpaired surrogates)", field=field)
    value = _CONTROL_RE.sub("", value).strip()
    if len(value.encode("utf-8")) > limit:
        raise ValidationError(f"'{field}' is longer than {limit} bytes (UTF-8)", field=field)
    return value


def _name(data: Mapping[str, Any]) -> str:
    """The customer's name, checked like an address: it lands in a mail header and on the customer."""
    raw = data.get("name")
    if isinstance(raw, str) and _NAME_FORBIDDEN.search(raw):
        raise ValidationError(
            "'name' must not contain line breaks, control characters, quotes, angle brackets or @", field="name"
        )
    name = _text(data, "name", required=True, limit=MAX_NAME_BYTES)
    if _URL_RE.search(name):
        raise ValidationError("'name' must not contain a web address", field="name")
    return name


def _email(data: Mapping[str, Any]) -> str:
    email = _text(data, "email", required=True, limit=MAX_EMAIL_BYTES).lower()
    if not _EMAIL_RE.match(email):
        raise ValidationError("'email' is not a valid email address", field="email")
    # The regex is looser than RFC 5322 in places (dots at the ends or doubled in the local part);
    # the address must also be one the mail library can put in a To header, or no ack could go out.
    try:
        address = Address(addr_spec=email)
    except (ValueError, IndexError, TypeError, HeaderParseError) as exc:
        raise ValidationError("'email' is not a valid email address", field="email") from exc
    if address.addr_spec != email or len(address.username) > 64:
        raise ValidationError("'email' is not a valid email address", field="email")
    return email


def validate(data: Mapping[str, Any], campaign: Campaign, *, now: datetime | None = None) -> Submission:
    """Check one decoded submission; the first problem found is raised as ValidationError."""
    if str(data.get(HONEYPOT_FIELD) or "").strip():
        # Bots fill every field; people never see this one. Say so plainly rather than pretend success.
        raise ValidationError("the submission was rejected as automated", field=HONEYPOT_FIELD)
    name = _name(data)
    email = _email(data)
    phone = _text(data, "phone", required=False, limit=MAX_PHONE_BYTES) or None
    if phone is not None:
        phone = normalise_phone(phone, campaign_region(campaign))
    topic = _text(data, "topic", required=False, limit=64) or None
    if topic is not None and topic not in campaign.topic_ids() and topic != "other":
        raise ValidationError(f"'topic' must be one of {', '.join(campaign.topic_ids())} or other", field="topic")
    message = _text(data, "message", required=True, limit=MAX_MESSAGE_BYTES)
    consent = data.get("consent")
    if isinstance(consent, str):
        consent = consent.strip().lower() in ("1", "true", "yes", "on")
    if consent is not True:
        raise ValidationError("'consent' must be given so we may store and answer your message", field="consent")
    marketing = data.get("marketing")
    if isinstance(marketing, str):
        marketing = marketing.strip().lower() in ("1", "true", "yes", "on")
    language = _text(data, "language", required=False, limit=8).lower() or None
    if language is not None and language not in campaign.languages:
        language = None
    received = (now or datetime.now(UTC)).isoformat()
    return Submission(
        submission_id=f"web-{uuid.uuid4().hex}",
        reference=new_reference(campaign.reference_prefix),
        received_at=received,
        name=name,
        email=email,
        phone=phone,
        topic=topic if topic != "other" else None,
        message=message,
        consent=True,
        language=language,
        marketing=marketing is True,
    )


def campaign_region(campaign: Campaign) -> str:
    """The country of the campaign's SMS number: how customers of this campaign write local numbers."""
    import phonenumbers

    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(campaign.sms.number)) or "US"
    except phonenumbers.NumberParseException:
        return "US"


def normalise_phone(raw: str, region: str = "US") -> str:
    import phonenumbers  # imported here: only the optional phone field needs it

    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError("'phone' is not a phone number", field="phone") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError("'phone' is not a valid phone number (use +country code)", field="phone")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def raw_key(channel: Channel, received_at: str, source_id: str) -> str:
    return f"raw/{channel.value}/{received_at[:10]}/{source_id}"


def accept(submission: Submission, *, s3: S3Client, sqs: SQSClient, bucket: str, queue_url: str) -> Accepted:
    """Store the submission raw first, then enqueue it: if the enqueue fails, the raw object remains."""
    key = raw_key(Channel.WEB, submission.received_at, submission.submission_id) + ".json"
    s3.put_object(Bucket=bucket, Key=key, Body=submission.to_json(), ContentType="application/json")
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=json.dumps(
            {"channel": Channel.WEB.value, "bucket": bucket, "key": key, "source_id": submission.submission_id}
        ),
    )
    return Accepted(reference=submission.reference, submission_id=submission.submission_id)


def parse_submission(raw: bytes, *, raw_key: str) -> InboundMessage:
    """Stored raw submission -> InboundMessage (the processing side of the web channel)."""
    try:
        data = json.loads(raw)
        received = datetime.fromisoformat(data["received_at"])
        return InboundMessage(
            channel=Channel.WEB,
            source_id=data["submission_id"],
            raw_key=raw_key,
            received_at=received,
            sender=data["email"],
            sender_name=data.get("name") or "",
            phone=data.get("phone"),
            text=data["message"],
            topic_hint=data.get("topic"),
            language_hint=data.get("language"),
            consent=bool(data.get("consent")),
            marketing_opt_in=data.get("marketing") is True,
            reference=data["reference"],
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"stored web submission is malformed: {type(exc).__name__}") from exc
