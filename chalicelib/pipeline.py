"""The one processing path: intake record → parse → stages → one commit → effects (chalicelib.processing)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import ClientError

from chalicelib import aws, processing, runtime
from chalicelib.classify import warm_up
from chalicelib.coldstart import settled
from chalicelib.errors import InvalidInput, MissingArtefact, is_retryable
from chalicelib.inbound import Channel, InboundMessage
from chalicelib.intake.loader import load_inbound
from chalicelib.metrics import Metric, count
from chalicelib.observability import logger
from chalicelib.processing import AUTOMATED, KEYWORD_HELP, KEYWORD_OPT_IN, KEYWORD_OPT_OUT, Outcome
from chalicelib.runtime import Runtime

# Kept importable from here: the reasons that mean "a machine wrote this".
__all__ = ["AUTOMATED", "KEYWORD_HELP", "KEYWORD_OPT_IN", "KEYWORD_OPT_OUT", "Outcome", "handle_inbound"]


@settled
def get_runtime() -> Runtime:
    """The intake path's runtime: the shared one, with the classifier's models loaded at cold start."""
    rt = runtime.get_runtime()
    # Every message reads S3 and most send or start a clock: the intake path makes its clients now,
    # outside any message's timing (the staff API makes them on first use).
    rt.make_clients()
    try:
        warm_up(rt.campaign)  # outside any message's timing
    except OSError as exc:
        # `replydesk package` and `campaign check` refuse a campaign without its model; should one be
        # deployed anyway, each message is parked once with this reason instead of retried to the DLQ.
        raise MissingArtefact(f"topic model of campaign {rt.campaign.name}") from exc
    return rt


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
    try:
        return replace(msg, received_at=datetime.fromisoformat(stamp.replace("Z", "+00:00")))
    except ValueError:
        return msg


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


@settled
def intake_record_handler() -> Callable[[SQSRecord], dict[str, Any]]:
    """The batch record handler: parse, then the one processing path.

    No idempotency record around it: every stage is re-entrant on the channel's source id (derived
    conversation and message ids, the commit's condition that the message and the input's marker are
    new, the outbox's deterministic effect ids, the clock's execution name), so a duplicate delivery,
    in the same envelope or another, converges on the same state and sends nothing again; two calls
    less per message.
    """

    def record_handler(record: SQSRecord) -> dict[str, Any]:
        try:
            rt = get_runtime()
        except MissingArtefact as exc:
            logger.error("processing impossible", extra={"reason": exc.reason, "sqs_message_id": record.message_id})
            channel, source_id, raw_key = _envelope_facts(record)
            park_in_dlq(
                record, exc.reason, runtime.get_runtime(), channel=channel, source_id=source_id, raw_key=raw_key
            )
            return {"rejected": exc.reason}
        started = time.perf_counter()
        # Nothing of the previous record may leak into this one's log lines. The keys are per thread:
        # on Lambda one record runs at a time, the local pump runs several batches at once.
        logger.thread_safe_clear_keys()
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
            logger.thread_safe_append_keys(correlation_id=msg.source_id)
            facts = {"channel": msg.channel.value, "source_id": msg.source_id, "raw_key": msg.raw_key}
            try:
                result: dict[str, Any] = handle_inbound(msg, rt).to_dict()
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
            logger.thread_safe_clear_keys()

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
