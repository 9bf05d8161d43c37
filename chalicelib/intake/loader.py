"""The parse stage: one intake queue record (our envelope or an SNS notification) to an InboundMessage."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from chalicelib import store
from chalicelib.config import Settings
from chalicelib.errors import InvalidInput, TransientError
from chalicelib.inbound import Attachment, Channel, InboundMessage
from chalicelib.intake import email as email_intake
from chalicelib.intake import sms as sms_intake
from chalicelib.intake import web as web_intake
from chalicelib.runtime import Runtime

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True, slots=True)
class Envelope:
    """Where a queued input came from and where its raw bytes are."""

    channel: Channel
    bucket: str
    key: str
    source_id: str | None
    notification: Mapping[str, Any] = field(default_factory=dict)


def unwrap(body: str, settings: Settings) -> Envelope | dict[str, Any]:
    """Our own intake envelope, or an SNS notification (SES receipt or two-way SMS)."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidInput("queue message is not JSON") from exc
    except RecursionError as exc:  # nesting deeper than the interpreter's stack: never a real message
        raise InvalidInput("queue message JSON is nested too deeply") from exc
    if not isinstance(data, dict):
        raise InvalidInput("queue message is not a JSON object")
    if data.get("Type") == "Notification" and "TopicArn" in data:
        message = data.get("Message")
        # moto (and raw delivery) may hand the SNS Message over as an object rather than a string.
        if isinstance(message, str):
            try:
                message = json.loads(message)
            except json.JSONDecodeError:
                pass  # kept as the text it was, so the raw object and the DLQ reason say what arrived
            except RecursionError:
                message = TooDeep(message)
        return {"topic_arn": data["TopicArn"], "sns_message_id": data.get("MessageId", ""), "message": message}
    if data.get("channel") in {c.value for c in Channel} and data.get("key"):
        return Envelope(
            channel=Channel(data["channel"]),
            bucket=data.get("bucket") or settings.raw_bucket,
            key=data["key"],
            source_id=data.get("source_id"),
        )
    raise InvalidInput("queue message is neither an intake envelope nor an SNS notification")


def read_raw(s3: S3Client, bucket: str, key: str) -> bytes:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("NoSuchKey", "404", "NoSuchBucket"):
            raise InvalidInput(f"raw object is missing ({code})") from exc
        raise TransientError("reading the raw object failed") from exc


def load_inbound(record_body: str, rt: Runtime) -> InboundMessage:
    """Turn one intake queue record into an InboundMessage, storing raw input first where needed."""
    unwrapped = unwrap(record_body, rt.settings)
    if isinstance(unwrapped, Envelope):
        raw = read_raw(rt.s3, unwrapped.bucket, unwrapped.key)
        if unwrapped.channel is Channel.WEB:
            return web_intake.parse_submission(raw, raw_key=unwrapped.key)
        raise InvalidInput(f"no intake for channel {unwrapped.channel.value} envelopes")
    topic = unwrapped["topic_arn"]
    message = unwrapped["message"]
    if topic == rt.settings.inbound_email_topic_arn:
        return load_email(message, rt)
    if topic == rt.settings.inbound_sms_topic_arn:
        return load_sms(message, unwrapped["sns_message_id"], rt)
    raise InvalidInput("notification from an unknown topic")


def load_email(notification: Any, rt: Runtime) -> InboundMessage:
    if not isinstance(notification, dict) or notification.get("notificationType") != "Received":
        raise InvalidInput("SES notification without notificationType Received")
    mail = notification.get("mail") or {}
    receipt = notification.get("receipt") or {}
    action = receipt.get("action") or {}
    bucket = action.get("bucketName") or rt.settings.raw_bucket
    # S3 keys in notifications may arrive URL-encoded.
    key = unquote_plus(action.get("objectKey") or "")
    source_id = mail.get("messageId") or ""
    if not key or not source_id:
        raise InvalidInput("SES notification without action.objectKey or mail.messageId")
    raw = read_raw(rt.s3, bucket, key)
    verdicts = {
        name: str((receipt.get(f"{name}Verdict") or {}).get("status", "GRAY"))
        for name in ("spf", "dkim", "dmarc", "spam", "virus")
    }
    received = _parse_time(mail.get("timestamp") or receipt.get("timestamp"))
    parsed = email_intake.parse_email(
        raw,
        source_id=source_id,
        raw_key=key,
        received_at=received,
        verdicts=verdicts,
        envelope_sender=mail.get("source"),
    )
    if parsed.message.message_id:
        # SES gives every delivery a new id; the same mail delivered twice keeps its Message-ID.
        source_id = "mid-" + store.stable_id(parsed.message.message_id, parsed.message.sender)
        parsed = replace(parsed, message=replace(parsed.message, source_id=source_id))
    stored = []
    for i, (att, payload) in enumerate(parsed.attachment_payloads):
        att_key = f"attachments/{source_id}/{i:03d}"
        rt.s3.put_object(
            Bucket=rt.settings.raw_bucket,
            Key=att_key,
            Body=payload,
            ContentType=att.content_type or "application/octet-stream",
        )
        stored.append(
            Attachment(
                filename=att.filename,
                content_type=att.content_type,
                size=att.size,
                s3_key=att_key,
                inline=att.inline,
                content_id=att.content_id,
            )
        )
    if not stored:
        return parsed.message
    return replace(parsed.message, attachments=tuple(stored))


def load_sms(payload: Any, sns_message_id: str, rt: Runtime) -> InboundMessage:
    now = rt.clock()
    inbound_id = payload.get("inboundMessageId") if isinstance(payload, dict) else None
    source = str(inbound_id or "")
    if not sms_intake.is_safe_id(source):
        source = f"sns-{sns_message_id}"  # an id no key can hold: parse_sms rejects it with the reason
    key = web_intake.raw_key(Channel.SMS, now.isoformat(), source) + ".json"
    # Raw first: the SMS exists nowhere else once the queue message is deleted.
    rt.s3.put_object(Bucket=rt.settings.raw_bucket, Key=key, Body=_raw_json(payload), ContentType="application/json")
    if isinstance(payload, TooDeep):
        raise InvalidInput("SMS payload JSON is nested too deeply")
    if isinstance(payload, str):
        raise InvalidInput("SMS payload is not JSON")
    if not isinstance(payload, dict):
        raise InvalidInput("SMS payload is JSON but not an object")
    return sms_intake.parse_sms(payload, raw_key=key, received_at=now, campaign=rt.campaign)


class TooDeep(str):
    """An SNS Message whose JSON nests deeper than the parser's stack: kept as the text that arrived."""

    __slots__ = ()


def _raw_json(payload: Any) -> bytes:
    """The bytes to keep as the raw object: the text as it arrived, else the JSON (lone surrogates escaped)."""
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogatepass")
    try:
        return json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        # "\ud800" in the JSON decodes to a lone surrogate, which UTF-8 cannot hold: keep the escapes.
        return json.dumps(payload).encode("ascii")


def _parse_time(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    return datetime.now(UTC)
