"""The one processing path: intake record → parse → stages → one commit → effects (chalicelib.processing)."""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from botocore.exceptions import ClientError

from chalicelib import aws, processing, runtime, store
from chalicelib.classify import warm_up
from chalicelib.config import Settings, get_settings
from chalicelib.errors import InvalidInput, TransientError, is_retryable
from chalicelib.inbound import Attachment, Channel, InboundMessage
from chalicelib.intake import web as web_intake
from chalicelib.metrics import Metric, count
from chalicelib.observability import logger
from chalicelib.processing import AUTOMATED, KEYWORD_HELP, KEYWORD_OPT_IN, KEYWORD_OPT_OUT, Outcome
from chalicelib.runtime import Runtime

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Kept importable from here: the reasons that mean "a machine wrote this".
__all__ = ["AUTOMATED", "KEYWORD_HELP", "KEYWORD_OPT_IN", "KEYWORD_OPT_OUT", "Outcome", "handle_inbound"]


@functools.cache
def get_runtime() -> Runtime:
    """The intake path's runtime: the shared one, with the classifier's models loaded at cold start."""
    rt = runtime.get_runtime()
    warm_up(rt.campaign)  # outside any message's timing
    return rt


# ------------------------------------------------------------------ reading the queue record


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
    from chalicelib.intake import email as email_intake

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
    from chalicelib.intake import sms as sms_intake

    now = rt.clock()
    inbound_id = payload.get("inboundMessageId") if isinstance(payload, dict) else None
    source = str(inbound_id or f"sns-{sns_message_id}")
    key = web_intake.raw_key(Channel.SMS, now.isoformat(), source) + ".json"
    body = payload.encode() if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False).encode()
    # Raw first: the SMS exists nowhere else once the queue message is deleted.
    rt.s3.put_object(Bucket=rt.settings.raw_bucket, Key=key, Body=body, ContentType="application/json")
    if isinstance(payload, str):
        raise InvalidInput("SMS payload is not JSON")
    if not isinstance(payload, dict):
        raise InvalidInput("SMS payload is JSON but not an object")
    return sms_intake.parse_sms(payload, raw_key=key, received_at=now, campaign=rt.campaign)


def _parse_time(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    return datetime.now(UTC)


# ------------------------------------------------------------------ handling one message


def handle_inbound(msg: InboundMessage, rt: Runtime) -> Outcome:
    """Everything after parsing: the named stages, one commit, then the effects (chalicelib.processing)."""
    return processing.process(msg, rt)


def stable_received_at(record: SQSRecord, msg: InboundMessage) -> InboundMessage:
    """An SMS has no time of its own: take the SNS publish time, the same on every redelivery.

    The message's sort key holds its time, so a time taken from the clock at processing would store
    a retried SMS twice.
    """
    if msg.channel is not Channel.SMS:
        return msg
    try:
        data = json.loads(record.body)
    except json.JSONDecodeError:
        return msg
    stamp = data.get("Timestamp") if isinstance(data, dict) else None
    if not isinstance(stamp, str):
        sent = record.attributes.sent_timestamp
        if not sent:
            return msg
        return replace(msg, received_at=datetime.fromtimestamp(int(sent) / 1000, tz=UTC))
    return replace(msg, received_at=_parse_time(stamp))


# ------------------------------------------------------------------ the SQS record handler


def park_in_dlq(
    record: SQSRecord, reason: str, rt: Runtime, *, channel: str = "", source_id: str = "", raw_key: str = ""
) -> None:
    """Park a record that can never succeed: one shape for everything parked, no body, no address, no phone.

    The body is `{reason, channel, source_id, raw_key}`; the raw object stays in S3 for a replay.
    """
    body = {"reason": scrub(reason)[:256], "channel": channel, "source_id": source_id, "raw_key": raw_key}
    count(Metric.MESSAGES_PARKED, reason=reason.split(":", 1)[0][:64])
    aws.sqs().send_message(
        QueueUrl=rt.settings.intake_dlq_url,
        MessageBody=json.dumps(body, sort_keys=True),
        MessageAttributes={
            "reason": {"DataType": "String", "StringValue": scrub(reason)[:256] or "unknown"},
            "source_queue_message_id": {"DataType": "String", "StringValue": record.message_id},
        },
    )


_EMAIL_RE = re.compile(r"[^\s<>\"'@]+@[^\s<>\"'@]+")
_PHONE_RE = re.compile(r"\+?\d[\d\s().-]{6,}\d")


def scrub(text: str) -> str:
    """Error text without addresses or numbers (botocore messages can quote request values)."""
    return _PHONE_RE.sub("<number>", _EMAIL_RE.sub("<address>", text))


def _envelope_facts(record: SQSRecord) -> tuple[str, str, str]:
    """Channel, source id and raw key of a record that did not parse, from its envelope only."""
    try:
        data = json.loads(record.body)
    except (json.JSONDecodeError, RecursionError):
        return "", "", ""
    if not isinstance(data, dict):
        return "", "", ""
    if data.get("channel") and data.get("key"):
        return str(data.get("channel")), str(data.get("source_id") or ""), str(data.get("key"))
    message = data.get("Message")
    if isinstance(message, str):
        try:
            message = json.loads(message)
        except (json.JSONDecodeError, RecursionError):
            message = None
    if isinstance(message, dict) and isinstance(message.get("mail"), dict):
        # An SES receipt: its message id and the raw object's key name no person.
        action = (message.get("receipt") or {}).get("action") or {}
        key = unquote_plus(str(action.get("objectKey") or "")) if isinstance(action, dict) else ""
        return Channel.EMAIL.value, str(message["mail"].get("messageId") or ""), key
    if isinstance(message, dict) and "originationNumber" in message:
        return Channel.SMS.value, str(message.get("inboundMessageId") or data.get("MessageId") or ""), ""
    return "", str(data.get("MessageId") or ""), ""


@functools.cache
def idempotency_config() -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="source_id", raise_on_no_idempotency_key=True, expires_after_seconds=7 * 24 * 3600
    )


def register_lambda_context(context: Any) -> None:
    """Lets idempotency records expire with the invocation if it times out mid-record."""
    if context is not None:
        idempotency_config().register_lambda_context(context)


@functools.cache
def intake_record_handler() -> Callable[[SQSRecord], dict[str, Any]]:
    """The batch record handler, with idempotency keyed on the channel's source id (not the SQS id)."""
    settings = get_settings()
    persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=aws.dynamodb())
    config = idempotency_config()

    @idempotent_function(  # type: ignore[untyped-decorator]  # Powertools leaves it untyped
        data_keyword_argument="key", persistence_store=persistence, config=config
    )
    def handle_once(*, key: dict[str, str], msg: InboundMessage) -> dict[str, Any]:
        return handle_inbound(msg, get_runtime()).to_dict()

    def record_handler(record: SQSRecord) -> dict[str, Any]:
        rt = get_runtime()
        started = time.perf_counter()
        # Nothing of the previous record may leak into this one's log lines.
        logger.remove_keys(["customer_id"])
        logger.set_correlation_id(None)
        try:
            try:
                msg = load_inbound(record.body, rt)
            except InvalidInput as exc:
                # Retrying cannot fix it: park it in the DLQ with the reason now; its raw object stays in S3.
                count(Metric.MESSAGES_REJECTED, reason="invalid_input")
                logger.warning("input rejected", extra={"reason": exc.reason, "sqs_message_id": record.message_id})
                channel, source_id, raw_key = _envelope_facts(record)
                park_in_dlq(record, exc.reason, rt, channel=channel, source_id=source_id, raw_key=raw_key)
                return {"rejected": exc.reason}
            except Exception as exc:
                channel, source_id, raw_key = _envelope_facts(record)
                facts = {"channel": channel, "source_id": source_id, "raw_key": raw_key}
                if is_retryable(exc):
                    logger.warning(
                        "reading the record failed, will retry",
                        extra={"error": type(exc).__name__, "aws_code": _aws_code(exc), **facts},
                    )
                    raise
                reason = _reason(exc)
                logger.error("reading the record failed", extra={"reason": reason, **facts})
                park_in_dlq(record, reason, rt, **facts)
                return {"rejected": type(exc).__name__}
            msg = stable_received_at(record, msg)
            logger.set_correlation_id(msg.source_id)
            facts = {"channel": msg.channel.value, "source_id": msg.source_id, "raw_key": msg.raw_key}
            try:
                result: dict[str, Any] = handle_once(key={"source_id": f"{msg.channel.value}#{msg.source_id}"}, msg=msg)
            except Exception as exc:
                if is_retryable(exc):
                    logger.warning(
                        "processing failed, will retry",
                        extra={"error": type(exc).__name__, "aws_code": _aws_code(exc), **facts},
                    )
                    raise  # back to the queue; after maxReceiveCount SQS moves it to the DLQ
                count(Metric.PROCESSING_FAILED, channel=msg.channel.value)
                reason = _reason(exc)
                logger.error("processing failed", extra={"reason": reason, **facts})
                park_in_dlq(record, reason, rt, **facts)
                return {"rejected": type(exc).__name__}
            if result.get("parked"):
                # The message, its conversation and clock are stored; one effect can never succeed.
                park_in_dlq(record, str(result["parked"]), rt, **facts)
            logger.info(
                "message processed",
                extra={
                    "channel": msg.channel.value,
                    "ack": result.get("ack"),
                    "reason": result.get("reason"),
                    "text_length": len(msg.text),
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            return result
        finally:
            logger.remove_keys(["customer_id"])
            logger.set_correlation_id(None)

    return record_handler


def _aws_code(exc: BaseException) -> str:
    cur: BaseException | None = exc
    while cur is not None:
        if isinstance(cur, ClientError):
            return str(cur.response.get("Error", {}).get("Code", ""))
        code = getattr(cur, "cause_response_code", None)
        if code:
            return str(code)
        cur = cur.__cause__
    return ""


def _reason(exc: BaseException) -> str:
    """A parked record's reason: the error's class and AWS code, and our own message (never botocore's)."""
    code = _aws_code(exc)
    if isinstance(exc, InvalidInput):
        return scrub(exc.reason)
    return f"{type(exc).__name__}:{code}" if code else type(exc).__name__
