"""The events queue: SES bounce/complaint feedback and messages the state machines send to our code."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib import store
from chalicelib.coldstart import settled
from chalicelib.errors import InvalidInput
from chalicelib.metrics import Metric, count
from chalicelib.observability import logger


def feedback_suppressions(notification: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(identity, reason) pairs an SES feedback notification asks for; transient bounces ask for none."""
    kind = notification.get("notificationType") or notification.get("eventType")
    if kind == "Bounce":
        bounce = notification.get("bounce") or {}
        if bounce.get("bounceType") != "Permanent":
            return []
        recipients = bounce.get("bouncedRecipients") or []
        reason = "bounce"
    elif kind == "Complaint":
        recipients = (notification.get("complaint") or {}).get("complainedRecipients") or []
        reason = "complaint"
    else:
        return []
    out = []
    for r in recipients:
        addr = str((r or {}).get("emailAddress") or "").strip().lower()
        if "@" in addr:
            out.append((f"email#{addr}", reason))
    return out


def handle_event(body: str) -> dict[str, Any]:
    from chalicelib.runtime import get_runtime

    rt = get_runtime()
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidInput("event is not JSON") from exc
    if isinstance(data, dict) and data.get("Type") == "Notification":
        message = data.get("Message")
        if isinstance(message, str):
            message = json.loads(message)
        added = 0
        for identity, reason in feedback_suppressions(message or {}):
            if store.add_suppression(identity, reason=reason, source="ses", now=rt.clock()):
                added += 1
                count(Metric.SUPPRESSIONS_ADDED, reason=reason)
        logger.info("ses feedback", extra={"suppressions_added": added})
        return {"suppressions_added": added}
    if isinstance(data, dict) and "action" in data:
        from chalicelib.workflow_events import handle_workflow_event

        return handle_workflow_event(data, rt)
    raise InvalidInput("unknown event shape")


@settled
def events_record_handler() -> Callable[[SQSRecord], dict[str, Any]]:
    def record_handler(record: SQSRecord) -> dict[str, Any]:
        logger.thread_safe_clear_keys()  # per record and per thread (the local pump runs batches at once)
        try:
            return handle_event(record.body)
        except InvalidInput as exc:
            logger.warning("event rejected", extra={"reason": exc.reason})
            raise
        finally:
            logger.thread_safe_clear_keys()

    return record_handler
