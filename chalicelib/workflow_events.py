"""What the state machines ask of our code through the events queue (they cannot emit EMF or render)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.errors import InvalidInput
from chalicelib.metrics import Metric, count
from chalicelib.observability import logger
from chalicelib.ops import indices

if TYPE_CHECKING:
    from chalicelib.runtime import Runtime


def handle_workflow_event(data: dict[str, Any], rt: Runtime) -> dict[str, Any]:
    action = data.get("action")
    conversation_id = str(data.get("conversation_id") or "")
    if not conversation_id:
        raise InvalidInput("workflow event without conversation_id")
    logger.set_correlation_id(conversation_id)
    if action == "sla_breached":
        queue, kind, level = (str(data.get(k) or "") for k in ("queue", "kind", "level"))
        count(Metric.SLA_BREACHED, queue=queue, kind=kind, level=level)
        logger.warning(
            # "level" would collide with the log record's own level key and be lost.
            "sla breached",
            extra={"kind": data.get("kind"), "breach_level": data.get("level"), "queue": data.get("queue")},
        )
        return {"action": action}
    if action == "send_follow_up":
        from chalicelib.reply import send_follow_up

        sent = send_follow_up(conversation_id, str(data.get("reply_id") or ""), rt=rt)
        logger.info("follow-up sent" if sent else "follow-up not sent")
        return {"action": action, "sent": sent}
    if action == "auto_resolved":
        count(Metric.AUTO_RESOLVED)
        indices.observe_auto_resolution(conversation_id, data.get("at"), rt.campaign)
        logger.info("auto resolved")
        return {"action": action}
    raise InvalidInput(f"unknown workflow action {action!r}")
