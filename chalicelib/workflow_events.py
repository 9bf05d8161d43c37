"""What the state machines ask of our code through the events queue (they cannot emit EMF or render)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalicelib import outbox
from chalicelib.errors import InvalidInput
from chalicelib.metrics import Metric, count
from chalicelib.observability import logger
from chalicelib.ops import indices
from chalicelib.outbox import Effect, EffectResult, Kind, Policy, Sent

if TYPE_CHECKING:
    from chalicelib.runtime import Runtime

# What a notice may carry: ids, deadlines and routing, never what the customer wrote or who they are.
_NOTICE_FIELDS = ("conversation_id", "kind", "level", "due", "queue", "urgency", "at")


def escalation_effect_id(conversation_id: str, version: int | str, kind: str, level: int | str) -> str:
    """One notice per breach: the conversation's clock version, the deadline's kind and the level."""
    return f"esc-{conversation_id}-v{version}-{kind}-l{level}"


def notify_supervisors(data: dict[str, Any], rt: Runtime) -> EffectResult:
    """Publish the breach to the escalation topic at most once, through the outbox.

    The state machine records the breach and hands it to us as an event; a redelivered event, or a
    publish retried after its answer was lost, finds the outbox record and sends nothing more.
    """
    conversation_id = str(data["conversation_id"])
    kind, level = str(data.get("kind") or ""), str(data.get("level") or "")
    effect = Effect(
        escalation_effect_id(conversation_id, data.get("version") or 1, kind, level),
        Kind.ESCALATION,
        Policy.AT_MOST_ONCE,
        "sns",
        "topic",
        conversation_id,
    )
    notice = {"type": "sla_breached", **{k: data.get(k) for k in _NOTICE_FIELDS}}

    def publish() -> Sent:
        resp = rt.sns.publish(
            TopicArn=rt.settings.escalation_topic_arn,
            Subject=f"SLA breached: {conversation_id} {kind} (level {level})",
            Message=json.dumps(notice),
        )
        return Sent(provider_id=resp["MessageId"])

    return outbox.perform(effect, publish, now=rt.clock)


def handle_workflow_event(data: dict[str, Any], rt: Runtime) -> dict[str, Any]:
    action = data.get("action")
    conversation_id = str(data.get("conversation_id") or "")
    if not conversation_id:
        raise InvalidInput("workflow event without conversation_id")
    logger.thread_safe_append_keys(correlation_id=conversation_id)
    if action == "sla_breached":
        queue, kind, level = (str(data.get(k) or "") for k in ("queue", "kind", "level"))
        notice = notify_supervisors(data, rt)
        if notice.duplicate:
            return {"action": action, "notice": notice.status.value, "duplicate": True}
        # Counted once per breach: a redelivered event finds the notice's record and counts nothing.
        count(Metric.SLA_BREACHED, queue=queue, kind=kind, level=level)
        logger.warning(
            # "level" would collide with the log record's own level key and be lost.
            "sla breached",
            extra={
                "kind": data.get("kind"),
                "breach_level": data.get("level"),
                "queue": data.get("queue"),
                "notice": notice.status.value,
                "reason": notice.reason,
            },
        )
        return {"action": action, "notice": notice.status.value, "duplicate": False}
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
    if action in ("retire_close", "retire_reassign"):
        from chalicelib.campaign.winddown import handle_retire_event

        return handle_retire_event(data, rt)
    raise InvalidInput(f"unknown workflow action {action!r}")
