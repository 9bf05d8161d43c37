"""Console writes: field changes conditional on the version the agent saw, notes, call-back requests.

A change is one conditional UpdateItem on `version` (409 when someone else changed the conversation
first); the SLA clock then follows the new status exactly as a reply or a customer message moves it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pynamodb.exceptions import UpdateError

from chalicelib import searchindex, store, workflow
from chalicelib.auth import Role, Staff
from chalicelib.config import URGENCIES
from chalicelib.errors import Conflict, Forbidden, NotFound, TransientError, ValidationError
from chalicelib.inbound import Channel, TemplateRef
from chalicelib.models import ConversationModel, Direction, Status
from chalicelib.observability import logger
from chalicelib.ops import indices
from chalicelib.reply import send_resolution_message

if TYPE_CHECKING:
    from chalicelib.runtime import Runtime

MAX_NOTE_CHARS = 10_000
MAX_KEY_CHARS = 100
_PAUSED = (Status.PENDING_CUSTOMER.value, Status.RESOLVED.value, Status.CLOSED.value)
_STATUS_KIND = "status_changed"


def template_ref(value: Any) -> TemplateRef | None:
    """The library template a reply started from, as the composer sends it."""
    if value in (None, {}):
        return None
    if not isinstance(value, Mapping):
        raise ValidationError("'template' must be an object {id, version, language}", field="template")
    tid, version, language = value.get("id"), value.get("version"), value.get("language")
    if not isinstance(tid, str) or not tid or len(tid) > 100:
        raise ValidationError("'template.id' is required", field="template.id")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValidationError("'template.version' must be a positive number", field="template.version")
    if not isinstance(language, str) or not re.match(r"^[a-z]{2}$", language):
        raise ValidationError("'template.language' must be a language code like 'sv'", field="template.language")
    return TemplateRef(tid, version, language)


@dataclass(frozen=True, slots=True)
class Change:
    field: str
    old: str | None
    new: str | None


def _version(body: Mapping[str, Any]) -> int:
    v = body.get("version")
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ValidationError("'version' is required: the version of the conversation you saw", field="version")
    return v


def _due_for(conv: ConversationModel) -> str | None:
    return conv.resolution_due if conv.first_response_at else (conv.first_response_due or conv.resolution_due)


def _changes(conv: ConversationModel, body: Mapping[str, Any], staff: Staff, rt: Runtime) -> list[Change]:
    out: list[Change] = []
    if body.get("take"):
        out.append(Change("assignee", conv.assignee, staff.username))
    elif "assignee" in body:
        who = body["assignee"]
        if who is not None and (not isinstance(who, str) or not re.match(r"^[\w.@+-]{1,128}$", who)):
            raise ValidationError("'assignee' must be a staff username or null", field="assignee")
        # An agent takes or lets go of their own work; giving it to someone else is a supervisor's call.
        if who not in (None, staff.username) and not staff.has(Role.SUPERVISOR):
            raise Forbidden("assigning to someone else needs the supervisor role")
        if who is None and conv.assignee not in (None, staff.username) and not staff.has(Role.SUPERVISOR):
            raise Forbidden("unassigning someone else's conversation needs the supervisor role")
        out.append(Change("assignee", conv.assignee, who))
    if "queue" in body:
        if body["queue"] not in rt.campaign.queues:
            raise ValidationError(f"unknown queue {body['queue']!r}", field="queue")
        out.append(Change("queue", conv.queue, str(body["queue"])))
    if "urgency" in body:
        if body["urgency"] not in URGENCIES:
            raise ValidationError(f"'urgency' must be one of {', '.join(URGENCIES)}", field="urgency")
        out.append(Change("urgency", conv.urgency, str(body["urgency"])))
    if "topic" in body:
        if body["topic"] not in (*rt.campaign.topic_ids(), "unknown"):
            raise ValidationError(f"unknown topic {body['topic']!r}", field="topic")
        out.append(Change("topic", conv.topic, str(body["topic"])))
    if "status" in body:
        allowed = [s.value for s in Status if s is not Status.NEW]
        if body["status"] not in allowed:
            raise ValidationError(f"'status' must be one of {', '.join(allowed)}", field="status")
        out.append(Change("status", conv.status, str(body["status"])))
    changes = [c for c in out if c.old != c.new]
    if not out:
        raise ValidationError("nothing to change: give assignee, take, queue, urgency, topic or status")
    return changes


def _resolution_flag(body: Mapping[str, Any]) -> bool:
    flag = body.get("send_resolution_message", False)
    if not isinstance(flag, bool):
        raise ValidationError("'send_resolution_message' must be true or false", field="send_resolution_message")
    if flag and body.get("status") != Status.RESOLVED.value:
        raise ValidationError(
            "'send_resolution_message' goes with 'status': 'resolved'", field="send_resolution_message"
        )
    return flag


def patch_conversation(conversation_id: str, body: Mapping[str, Any], *, staff: Staff, rt: Runtime) -> dict[str, Any]:
    """Apply the agent's changes if the conversation is still at the version they saw; 409 otherwise.

    With `send_resolution_message` (and `status: resolved`) the customer is then told, once per
    resolution: a retry of the same request (nothing left to change) sends what the first did not.
    """
    notify = _resolution_flag(body)
    result = _apply(conversation_id, body, staff=staff, rt=rt)
    if notify and result["status"] == Status.RESOLVED.value:
        result["resolution_message"] = send_resolution_message(conversation_id, sent_by=staff.display_name, rt=rt)
    return result


def _apply(conversation_id: str, body: Mapping[str, Any], *, staff: Staff, rt: Runtime) -> dict[str, Any]:
    seen = _version(body)
    conv = store.get_conversation(conversation_id)
    if conv is None:
        raise NotFound(f"no conversation {conversation_id}")
    changes = _changes(conv, body, staff, rt)
    if not changes:
        return summary(conv)
    now = rt.clock()
    ts = store.iso(now)
    fields = {c.field: c.new for c in changes}
    actions: list[Any] = [ConversationModel.version.add(1), ConversationModel.updated_at.set(ts)]
    entries = []
    for c in changes:
        attr = getattr(ConversationModel, c.field)
        actions.append(attr.set(c.new) if c.new is not None else attr.remove())
        kind = _STATUS_KIND if c.field == "status" else f"{c.field}_changed"
        entries.append(workflow.TimelineEntry(now, kind, f"{c.old or '-'} -> {c.new or '-'} by {staff.username}"))
    status = str(fields.get("status") or conv.status)
    if "status" in fields:
        actions.append(ConversationModel.status_due.set(store.status_due(status, _due_for(conv))))
        if status == Status.RESOLVED.value:
            actions.append(ConversationModel.resolved_at.set(ts))
        elif status == Status.OPEN.value and conv.resolved_at:
            actions.append(ConversationModel.resolved_at.remove())
    actions.append(ConversationModel.timeline.set(ConversationModel.timeline.append([e.to_item() for e in entries])))
    if "urgency" in fields:
        # The why of an urgency is kept with it, as a later message's raise keeps its own.
        why = workflow.urgency_reason(conv.urgency, str(fields["urgency"]), (), f"set by {staff.username}")
        actions.append(ConversationModel.reasons.set(ConversationModel.reasons.append([why])))
    condition = ConversationModel.version == seen
    if seen == 0:
        condition = condition | ConversationModel.version.does_not_exist()
    try:
        ConversationModel(conversation_id=conversation_id).update(actions=actions, condition=condition)
    except UpdateError as exc:
        if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
            current = store.get_conversation(conversation_id)
            raise Conflict(
                f"{conversation_id} was changed by someone else since you opened it (your version {seen}, "
                f"now {int(current.version or 0) if current else '?'}): reload it and try again"
            ) from exc
        raise TransientError("the conversation could not be updated") from exc
    logger.info(
        "conversation changed",
        extra={"conversation_id": conversation_id, "fields": sorted(fields), "staff": staff.username},
    )
    if fields.get("status") == Status.RESOLVED.value:
        # Once per resolution: the write above was conditional on the version the agent saw.
        indices.observe_resolution(conv, now, rt.campaign)
    fresh = store.get_conversation(conversation_id) or conv
    _follow_the_clock(fresh, before=conv, fields=fields, rt=rt)
    if "topic" in fields:
        record_relabel(fresh, previous=conv.topic, staff=staff, rt=rt)
    return summary(store.get_conversation(conversation_id) or fresh)


def _follow_the_clock(
    conv: ConversationModel, *, before: ConversationModel, fields: Mapping[str, Any], rt: Runtime
) -> None:
    """Status and priority drive the SLA clock as replies and customer messages do."""
    version = int(conv.workflow_version or 0)
    if not version or not conv.resolution_due:
        return  # no clock yet (not classified) or never started
    status = conv.status
    paused = workflow.paused_since(conv)
    if status in _PAUSED and paused is None:
        change = workflow.pause_sla_clock(
            sfn=rt.sfn,
            state_machine_arn=rt.settings.sla_state_machine_arn,
            conversation_id=conv.conversation_id,
            version=version,
            deadlines=workflow.Deadlines(None, workflow.parse_timestamp(conv.resolution_due)),
            now=rt.clock(),
        )
        entry = workflow.TimelineEntry(change.entry.at, workflow.TimelineKind.CLOCK_PAUSED, status.replace("_", " "))
        store.set_clock(
            conv.conversation_id,
            version=change.version,
            first_response_due=conv.first_response_due,
            resolution_due=conv.resolution_due,
            execution=None,
            status=status,
            timeline_entry=entry.to_item(),
            expected_version=version,
            answered=conv.first_response_at is not None,
        )
        return
    queue = rt.campaign.queues[conv.queue]
    if status == Status.OPEN.value and paused is not None:
        change = workflow.resume_sla_clock(
            sfn=rt.sfn,
            state_machine_arn=rt.settings.sla_state_machine_arn,
            conversation_id=conv.conversation_id,
            version=version,
            deadlines=workflow.Deadlines(
                None
                if conv.first_response_at or not conv.first_response_due
                else workflow.parse_timestamp(conv.first_response_due),
                workflow.parse_timestamp(conv.resolution_due),
            ),
            paused_at=paused,
            now=rt.clock(),
            urgency=conv.urgency,
            queue=queue,
            hours=rt.campaign.business_hours,
            first_response_met=conv.first_response_at is not None,
        )
    elif status not in _PAUSED and ("urgency" in fields or "queue" in fields):
        change = workflow.reprioritise(
            sfn=rt.sfn,
            state_machine_arn=rt.settings.sla_state_machine_arn,
            conversation_id=conv.conversation_id,
            version=version,
            created_at=workflow.parse_timestamp(conv.created_at),
            urgency=conv.urgency,
            queue=queue,
            hours=rt.campaign.business_hours,
            first_response_met=conv.first_response_at is not None,
            now=rt.clock(),
        )
    else:
        return
    first_due = change.deadlines.first_response_due
    store.set_clock(
        conv.conversation_id,
        version=change.version,
        first_response_due=store.iso(first_due) if first_due else None,
        resolution_due=store.iso(change.deadlines.resolution_due),
        execution=change.execution_arn,
        status=status,
        timeline_entry=change.entry.to_item(),
        expected_version=version,
        answered=conv.first_response_at is not None,
    )


def summary(conv: ConversationModel) -> dict[str, Any]:
    return {
        "conversation_id": conv.conversation_id,
        "version": int(conv.version or 0),
        "status": conv.status,
        "assignee": conv.assignee,
        "queue": conv.queue,
        "urgency": conv.urgency,
        "topic": conv.topic,
        "resolution_due": conv.resolution_due,
        "first_response_due": conv.first_response_due,
        "updated_at": conv.updated_at,
    }


def add_note(conversation_id: str, body: Mapping[str, Any], *, staff: Staff, rt: Runtime) -> dict[str, Any]:
    """An internal note (never sent to the customer); the same idempotency key stores it once."""
    text = str(body.get("text") or "").strip()
    if not text:
        raise ValidationError("'text' is required", field="text")
    if len(text) > MAX_NOTE_CHARS:
        raise ValidationError(f"'text' is longer than {MAX_NOTE_CHARS} characters", field="text")
    key = str(body.get("idempotency_key") or "").strip()
    if not key or len(key) > MAX_KEY_CHARS:
        raise ValidationError(
            f"'idempotency_key' is required (at most {MAX_KEY_CHARS} characters)", field="idempotency_key"
        )
    conv = store.get_conversation(conversation_id)
    if conv is None:
        raise NotFound(f"no conversation {conversation_id}")
    source_id = "note-" + store.stable_id("note", conversation_id, key)
    existing = store.find_message_by_source(source_id)
    if existing is not None:
        return {**_note(existing), "duplicate": True}
    item = store.outbound_message_item(
        conversation_id=conversation_id,
        channel=Channel(conv.channel) if conv.channel in {c.value for c in Channel} else Channel.WEB,
        source_id=source_id,
        now=rt.clock(),
        text=text,
        sent_by=staff.display_name,
    )
    item.direction = Direction.NOTE.value
    item.classification = {"mentions": searchindex.mentions(text), "author": staff.username}
    stored = store.put_message(item)
    if stored:
        store.add_timeline(
            conversation_id,
            workflow.TimelineEntry(rt.clock(), "note_added", staff.username).to_item(),
            ConversationModel.updated_at.set(store.iso(rt.clock())),
        )
    return {**_note(item), "duplicate": not stored}


def _note(m: Any) -> dict[str, Any]:
    meta = dict(m.classification.attribute_values) if m.classification else {}
    return {
        "message_id": m.message_id,
        "at": m.created_at,
        "kind": "note",
        "text": m.text,
        "author": meta.get("author"),
        "sent_by": m.sent_by,
        "mentions": list(meta.get("mentions") or []),
        "source_id": m.source_id,
    }


def request_callback(conversation_id: str, *, staff: Staff, rt: Runtime) -> dict[str, Any]:
    """Staff note that the customer wants a call (as a customer's "call me" does); once per conversation."""
    conv = store.get_conversation(conversation_id)
    if conv is None:
        raise NotFound(f"no conversation {conversation_id}")
    now = rt.clock()
    entry = workflow.TimelineEntry(now, "callback_requested", f"staff:{staff.username}")
    if conv.callback_requested_at is None:
        store.add_timeline_once(
            conversation_id,
            entry.to_item(),
            ConversationModel.callback_requested_at.set(store.iso(now)),
            condition=ConversationModel.callback_requested_at.does_not_exist(),
        )
        return {"at": store.iso(now), "kind": entry.kind, "detail": entry.detail, "duplicate": False}
    return {"at": conv.callback_requested_at, "kind": entry.kind, "detail": entry.detail, "duplicate": True}


def record_relabel(conv: ConversationModel, *, previous: str, staff: Staff, rt: Runtime) -> None:
    """A staff topic change is a labelled example for the next `replydesk topics train --campaign X`.

    Stored next to the raw input (same bucket, same retention) as the label only; the text stays in
    the messages table and is read at training time, so erasing a customer leaves no copy behind.
    """
    body = {
        "conversation_id": conv.conversation_id,
        "topic": conv.topic,
        "previous": previous,
        "by": staff.username,
        "at": store.iso(rt.clock()),
    }
    rt.s3.put_object(
        Bucket=rt.settings.raw_bucket,
        Key=f"{RELABEL_PREFIX}{conv.conversation_id}.json",
        Body=json.dumps(body).encode(),
        ContentType="application/json",
    )


RELABEL_PREFIX = "labels/topic/"
