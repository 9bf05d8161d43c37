"""What the state machines ask of our code through the events queue (they cannot emit EMF or render)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib import outbox, workflow
from chalicelib.errors import InvalidInput, TransientError, error_code
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


def _announce_breach(data: dict[str, Any], rt: Runtime) -> dict[str, Any]:
    """The supervisors' notice (once) and the SlaBreached metric (once per notice) for a recorded breach."""
    queue, kind, level = (str(data.get(k) or "") for k in ("queue", "kind", "level"))
    notice = notify_supervisors(data, rt)
    if notice.duplicate:
        return {"notice": notice.status.value, "duplicate": True}
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
    return {"notice": notice.status.value, "duplicate": False}


def fired_key(version: int | str, kind: str, level: int | str) -> str:
    return f"v{version}-{kind}-l{level}"


def _record_breach(conversation_id: str, version: str, timer: Mapping[str, str], at: str) -> bool:
    """Record the missed deadline on the conversation; False if it no longer applies.

    True also when a redelivered timer finds its breach recorded already (then the notice, kept once
    by the outbox, is still due). The condition is the one the machine used to check, plus the marker.
    """
    from pynamodb.exceptions import UpdateError

    from chalicelib import store
    from chalicelib.models import Breach, ConversationModel

    kind, level, due = timer["kind"], timer["level"], timer["due"]
    key = fired_key(version, kind, level)
    entry = workflow.TimelineEntry(
        workflow.parse_timestamp(at), workflow.TimelineKind.SLA_BREACHED, f"{kind} level {level}, due {due}"
    )
    breach = Breach(kind=kind, level=int(level), at=at, due=due)  # type: ignore[no-untyped-call]
    condition = (
        (ConversationModel.workflow_version == int(version))
        & ConversationModel.status.is_in(*_OPEN_FOR_BREACH[kind])
        & (ConversationModel.sla_fired.does_not_exist() | ~ConversationModel.sla_fired.contains(key))
    )
    if kind == workflow.TimerKind.FIRST_RESPONSE:
        condition = condition & ConversationModel.first_response_at.does_not_exist()
    try:
        ConversationModel(conversation_id=conversation_id).update(
            actions=[
                ConversationModel.breaches.set(ConversationModel.breaches.append([breach])),
                ConversationModel.timeline.set(ConversationModel.timeline.append([entry.to_item()])),
                ConversationModel.urgency.set(timer["urgency"]),
                # The urgency's why, as every other change of it keeps one (console reasons).
                ConversationModel.reasons.set(
                    ConversationModel.reasons.append(
                        [f"urgency {timer['urgency']}: {kind} deadline missed (level {level})"]
                    )
                ),
                ConversationModel.queue.set(timer["queue"]),
                ConversationModel.updated_at.set(store.iso(workflow.parse_timestamp(at))),
                ConversationModel.sla_fired.add({key}),
            ],
            condition=condition,
        )
    except UpdateError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise TransientError("recording the SLA breach failed") from exc
        # Answered, resolved or superseded since the read, or recorded by an earlier delivery.
        conv = store.get_conversation(conversation_id)
        return conv is not None and key in (conv.sla_fired or set())
    return True


# Statuses in which a missed deadline of each kind is a breach (pending on the customer pauses the
# resolution clock; the first response is owed whatever the status, until it is made).
_OPEN_FOR_BREACH = {
    workflow.TimerKind.FIRST_RESPONSE.value: ("new", "open", "pending_customer"),
    workflow.TimerKind.RESOLUTION.value: ("new", "open"),
}


def handle_sla_due(data: Mapping[str, Any], rt: Runtime) -> dict[str, Any]:
    """One SLA timer fired: decide in Python what the old looping machine decided in Choice states.

    Gone, superseded (a newer clock version) or resolved/closed: the clock ends. A met deadline: on to
    the next timer. A missed one: the breach recorded once, the notice sent once, then the next timer
    as this version's next step (its deterministic name makes a redelivered event start it once).
    """
    from chalicelib import store

    clock = data.get("clock")
    if not isinstance(clock, Mapping) or not isinstance(clock.get("timer"), Mapping):
        raise InvalidInput("sla_due event without its clock")
    conversation_id = str(clock.get("conversation_id") or "")
    version, step = str(clock.get("version") or ""), int(str(clock.get("step") or "0"))
    timer: Mapping[str, str] = clock["timer"]
    rest: list[Mapping[str, str]] = [t for t in clock.get("rest") or () if isinstance(t, Mapping)]
    kind = str(timer.get("kind") or "")
    if kind not in _OPEN_FOR_BREACH or not version:
        raise InvalidInput("sla_due event with an unknown timer")
    conv = store.get_conversation(conversation_id)
    if conv is None:
        return {"action": "sla_due", "outcome": "gone"}
    if str(int(conv.workflow_version or 0)) != version:
        return {"action": "sla_due", "outcome": "superseded"}
    if conv.status in ("resolved", "closed"):
        return {"action": "sla_due", "outcome": "done"}
    met = conv.first_response_at is not None if kind == workflow.TimerKind.FIRST_RESPONSE else False
    paused = kind == workflow.TimerKind.RESOLUTION and conv.status == "pending_customer"
    outcome = "met" if met else "paused" if paused else "changed"
    if not met and not paused:
        at = str(data.get("at") or workflow.sfn_timestamp(rt.clock()))
        if _record_breach(conversation_id, version, timer, at):
            notice_data = {
                "conversation_id": conversation_id,
                "version": version,
                **{k: timer.get(k) for k in ("kind", "level", "due", "queue", "urgency")},
                "at": at,
            }
            _announce_breach(notice_data, rt)
            outcome = "breached"
    if conv.first_response_at is not None or outcome == "changed":
        # Answered: the first response's later levels have nothing left to escalate.
        rest = [t for t in rest if t.get("kind") != workflow.TimerKind.FIRST_RESPONSE]
    if rest:
        workflow.start_sla_step(
            sfn=rt.sfn,
            state_machine_arn=rt.settings.sla_state_machine_arn,
            conversation_id=conversation_id,
            version=version,
            step=step + 1,
            timers=rest,
        )
    logger.info("sla timer", extra={"outcome": outcome, "step": step, "next": bool(rest)})
    return {"action": "sla_due", "outcome": outcome, "next": bool(rest)}


def _follow_up_not_due(data: Mapping[str, Any], reply_id: str, rt: Runtime) -> str | None:
    """Why the follow-up (or the auto-resolve) no longer applies, or None while it does."""
    from chalicelib import store

    conv = store.get_conversation(str(data["conversation_id"]))
    if conv is None:
        return "gone"
    if conv.status in ("resolved", "closed"):
        return "done"
    expected = data.get("inbound_count")
    if expected is not None and str(int(conv.inbound_count or 0)) != str(expected):
        return "customer_replied"
    if conv.follow_up_id is not None and conv.follow_up_id != reply_id:
        return "superseded"
    return None


def _end_follow_up(token: str, reason: str, rt: Runtime) -> None:
    """Answer the follow-up task: the execution ends now instead of waiting to auto-resolve."""
    try:
        rt.sfn.send_task_success(taskToken=token, output=json.dumps({"follow_up": "skipped", "reason": reason}))
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("TaskDoesNotExist", "TaskTimedOut", "InvalidToken"):
            return  # already ended (stopped, timed out, or answered by an earlier delivery)
        raise TransientError(f"SendTaskSuccess failed: {code}") from exc


def handle_follow_up_due(data: Mapping[str, Any], rt: Runtime) -> dict[str, Any]:
    """The follow-up's time came: Python decides whether it is still due, and sends it at most once."""
    from chalicelib.reply import send_follow_up

    conversation_id, reply_id = str(data["conversation_id"]), str(data.get("reply_id") or "")
    reason = _follow_up_not_due(data, reply_id, rt)
    if reason is not None:
        token = data.get("token")
        if token:
            _end_follow_up(str(token), reason, rt)
        logger.info("follow-up not due", extra={"reason": reason})
        return {"action": "send_follow_up", "sent": False, "reason": reason}
    sent = send_follow_up(conversation_id, reply_id, rt=rt)
    logger.info("follow-up sent" if sent else "follow-up not sent")
    return {"action": "send_follow_up", "sent": sent}


def handle_auto_resolve(data: Mapping[str, Any], rt: Runtime) -> dict[str, Any]:
    """The customer's time to answer the follow-up ran out: resolve the conversation, once."""
    from pynamodb.exceptions import UpdateError

    from chalicelib import store
    from chalicelib.models import ConversationModel, Status

    conversation_id, reply_id = str(data["conversation_id"]), str(data.get("reply_id") or "")
    reason = _follow_up_not_due(data, reply_id, rt)
    if reason is not None:
        logger.info("auto resolve not due", extra={"reason": reason})
        return {"action": "auto_resolve", "resolved": False, "reason": reason}
    conv = store.get_conversation(conversation_id)
    if conv is None:
        return {"action": "auto_resolve", "resolved": False, "reason": "gone"}
    now = rt.clock()
    entry = workflow.TimelineEntry(now, workflow.TimelineKind.AUTO_RESOLVED, "no customer reply after the follow-up")
    condition = (ConversationModel.inbound_count == int(conv.inbound_count or 0)) & ~ConversationModel.status.is_in(
        Status.RESOLVED.value, Status.CLOSED.value
    )
    try:
        ConversationModel(conversation_id=conversation_id).update(
            actions=[
                ConversationModel.status.set(Status.RESOLVED.value),
                ConversationModel.status_due.set(
                    str(data.get("resolved_status_due") or store.status_due(Status.RESOLVED.value, conv.resolution_due))
                ),
                ConversationModel.resolved_at.set(store.iso(now)),
                ConversationModel.updated_at.set(store.iso(now)),
                ConversationModel.timeline.set(ConversationModel.timeline.append([entry.to_item()])),
                ConversationModel.version.add(1),
            ],
            condition=condition,
        )
    except UpdateError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            # The customer wrote or staff closed it since the read (or a redelivery finds it resolved).
            return {"action": "auto_resolve", "resolved": False, "reason": "changed"}
        raise TransientError("auto-resolving failed") from exc
    count(Metric.AUTO_RESOLVED)
    indices.observe_auto_resolution(conversation_id, store.iso(now), rt.campaign)
    logger.info("auto resolved")
    return {"action": "auto_resolve", "resolved": True}


def handle_workflow_event(data: dict[str, Any], rt: Runtime) -> dict[str, Any]:
    action = data.get("action")
    conversation_id = str(data.get("conversation_id") or "")
    if not conversation_id:
        raise InvalidInput("workflow event without conversation_id")
    logger.thread_safe_append_keys(correlation_id=conversation_id)
    if action == workflow.SlaAction.SLA_DUE:
        return handle_sla_due(data, rt)
    if action == workflow.SlaAction.FOLLOW_UP_DUE:
        return handle_follow_up_due(data, rt)
    if action == workflow.SlaAction.AUTO_RESOLVE_DUE:
        return handle_auto_resolve(data, rt)
    if action == "sla_breached":
        # A breach recorded elsewhere (the looping machine's executions still running at deploy time).
        return {"action": action, **_announce_breach(data, rt)}
    if action == "auto_resolved":
        # Resolved by the earlier follow-up machine itself: only the metric and the index are ours.
        count(Metric.AUTO_RESOLVED)
        indices.observe_auto_resolution(conversation_id, data.get("at"), rt.campaign)
        logger.info("auto resolved")
        return {"action": action}
    if action in ("retire_close", "retire_reassign"):
        from chalicelib.campaign.winddown import handle_retire_event

        return handle_retire_event(data, rt)
    raise InvalidInput(f"unknown workflow action {action!r}")
