"""The one commit: the conversation (derived id), the message and its count written together, once."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, overload

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import searchindex, store, workflow
from chalicelib.errors import TransientError, error_code
from chalicelib.inbound import Attachment, Channel, InboundMessage
from chalicelib.metrics import Metric, count
from chalicelib.models import (
    ConversationModel,
    CustomerModel,
    IntakeSeenModel,
    MessageModel,
    SearchTokenModel,
    Status,
)
from chalicelib.processing.decisions import Committed, Decided

if TYPE_CHECKING:
    from chalicelib.runtime import Runtime

# DynamoDB items hold 400 KB; past this many bytes of body the text goes to S3 and the item keeps a pointer.
BODY_INLINE_BYTES = 300_000
PREVIEW_CHARS = 20_000
# A short message's search index entries ride in the commit's transaction (DynamoDB takes 100 items in
# one, the emulator 25): message, conversation, customer and up to this many words.
INDEX_IN_COMMIT = 20


def _attachment_dict(a: Attachment) -> dict[str, Any]:
    return {
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.size,
        "s3_key": a.s3_key,
        "inline": a.inline,
        "content_id": a.content_id,
    }


def _body_pointer(msg: InboundMessage, item: MessageModel, rt: Runtime) -> None:
    """Keep a body over the item limit in the raw bucket; the item keeps a preview and the key."""
    size = len(msg.text.encode()) + len((msg.html or "").encode()) + len((msg.new_text or "").encode())
    if size <= BODY_INLINE_BYTES:
        return
    key = f"bodies/{msg.channel.value}/{item.message_id}.json"
    body = json.dumps({"text": msg.text, "html": msg.html, "new_text": msg.new_text}, ensure_ascii=False).encode()
    rt.s3.put_object(Bucket=rt.settings.raw_bucket, Key=key, Body=body, ContentType="application/json")
    item.text = msg.text[:PREVIEW_CHARS]
    item.new_text = msg.new_text[:PREVIEW_CHARS] if msg.new_text else None
    item.html = None
    item.text_key = key


def _clock_plan(conv: ConversationModel, d: Decided, rt: Runtime) -> dict[str, Any]:
    """The SLA clock's version and deadlines for a conversation this commit opens (what the effects
    stage would store before its start), written with it: one write less on the way to the ack."""
    deadlines = workflow.compute_deadlines(
        workflow.parse_timestamp(conv.created_at),
        d.classification.urgency,
        rt.campaign.queues[d.route.queue],
        rt.campaign.business_hours,
    )
    first_due = store.iso(deadlines.first_response_due) if deadlines.first_response_due else None
    resolution_due = store.iso(deadlines.resolution_due)
    plan: dict[str, Any] = {
        "workflow_version": 1,
        "resolution_due": resolution_due,
        "status_due": store.status_due(conv.status, first_due or resolution_due),
        # The execution's name is derived, so its ARN is known before the start: stored now, no write after.
        "workflow_execution": sla_execution_arn(conv.conversation_id, rt),
    }
    if first_due:
        plan["first_response_due"] = first_due
    return plan


def sla_execution_arn(conversation_id: str, rt: Runtime) -> str:
    """The ARN the conversation's first SLA clock has (or will have): its name is derived from the id."""
    name = workflow.execution_name(conversation_id, 1, workflow.ClockKind.SLA)
    return workflow.execution_arn(rt.settings.sla_state_machine_arn, name)


def commit(msg: InboundMessage, d: Decided, rt: Runtime) -> Committed:
    """Write conversation, message and its count in one transaction; a repeat finds the message and skips.

    A new conversation is written by the same transaction, under an id derived from the source id (or
    the web reference): a retry derives the same id and finds its own conversation (`origin_source_id`);
    a collision with another source's conversation moves on to the next derived id.
    """
    now = rt.clock()
    if d.existing is not None:
        return _commit_into(d.existing, msg, d, rt, now, created=False, new=False)
    status = Status.NEW.value if d.opens_work else Status.CLOSED.value
    for attempt in range(6):
        if attempt == 0 and msg.reference:
            ref = msg.reference
        else:
            ref = store.derive_reference(rt.campaign.reference_prefix, msg.source_id, attempt)
        fresh = store.conversation_item(
            reference=ref, customer_id=d.customer.customer_id, msg=msg, queue=d.route.queue, now=now, status=status
        )
        committed = _commit_into(fresh, msg, d, rt, now, created=True, new=True)
        if committed is not None:
            return committed
        existing = store.get_conversation(ref)
        if existing is not None and existing.origin_source_id == msg.source_id:
            # Our own earlier delivery opened it: commit into it (a repeat finds the message stored).
            return _commit_into(existing, msg, d, rt, now, created=True, new=False)
    raise TransientError("could not allocate a unique reference number")


@overload
def _commit_into(
    conv: ConversationModel,
    msg: InboundMessage,
    d: Decided,
    rt: Runtime,
    now: datetime,
    *,
    created: bool,
    new: Literal[False],
) -> Committed: ...
@overload
def _commit_into(
    conv: ConversationModel, msg: InboundMessage, d: Decided, rt: Runtime, now: datetime, *, created: bool, new: bool
) -> Committed | None: ...
def _commit_into(
    conv: ConversationModel, msg: InboundMessage, d: Decided, rt: Runtime, now: datetime, *, created: bool, new: bool
) -> Committed | None:
    """The one transaction; `new`: the conversation is written by it too (None: that id is taken)."""
    c = d.classification
    item = store.inbound_message_item(
        msg,
        conversation_id=conv.conversation_id,
        classification=c.to_dict(),
        suppressed_reason=d.reason,
        attachments=[_attachment_dict(a) for a in msg.attachments],
    )
    _body_pointer(msg, item, rt)
    ts = store.iso(now)
    # (attribute, value) pairs set on the conversation: sent as the update, or applied to a new
    # conversation's item before it is written (and then it needs no read back).
    sets: dict[str, Any] = {"updated_at": ts}
    status = conv.status
    if not d.automated:
        sets["last_inbound_at"] = ts
        if conv.status in (Status.RESOLVED.value, Status.PENDING_CUSTOMER.value):
            status = Status.OPEN.value
            sets |= {"status": status, "status_due": store.status_due(status, conv.resolution_due)}
    # A keyword or an auto-reply never reclassifies a conversation (nor raises its urgency).
    if created or (conv.topic == "unknown" and not d.automated):
        sets |= {
            "topic": c.topic,
            "language": c.language,
            "urgency": c.urgency,
            "sentiment": c.sentiment,
            "reasons": list(c.reasons),
            "queue": d.route.queue,
        }
        if status == conv.status:
            sets["status_due"] = store.status_due(status, conv.first_response_due)
        if not created:
            # A running conversation's urgency only rises, with its clock and its reason (effects stage).
            del sets["urgency"]
    if created and d.opens_work and not int(conv.workflow_version or 0):
        sets |= _clock_plan(conv, d, rt)
    adds = [("version", 1)] + ([("inbound_count", 1)] if not d.automated else [])
    if new:
        for name, value in sets.items():
            setattr(conv, name, value)
        for name, n in adds:
            setattr(conv, name, int(getattr(conv, name) or 0) + n)
        update: ConversationModel | list[Any] = conv
    else:
        update = [getattr(ConversationModel, name).set(value) for name, value in sets.items()]
        update += [getattr(ConversationModel, name).add(n) for name, n in adds]
        if conv.status == Status.RESOLVED.value and status == Status.OPEN.value:
            update += _reopen(msg, now)
    language = c.language if d.customer.language is None and c.language_source == "detected" else None
    words = searchindex.tokens(f"{item.subject}\n{item.new_text or item.text}")
    stored = _transact(
        item,
        conv.conversation_id,
        update,
        seen=_seen(msg, now),
        customer_id=d.customer.customer_id,
        language=language,
        words=words,
    )
    if stored is None:
        return None  # the new conversation's id is taken
    if created and d.opens_work and (stored or not new):
        count(Metric.CONVERSATIONS_CREATED, channel=msg.channel.value)
    if stored:
        count(Metric.MESSAGES_RECEIVED, channel=msg.channel.value)
        if len(words) > INDEX_IN_COMMIT:
            # The staff search index, as store.put_message keeps it for messages written on their own.
            searchindex.index_message(
                item.conversation_id, subject=item.subject, text=item.new_text or item.text, at=item.created_at
            )
        if created and d.opens_work:
            count(Metric.CONVERSATIONS_CLASSIFIED, topic=c.topic, language=c.language)
    else:
        count(Metric.DUPLICATES_IGNORED, channel=msg.channel.value)
        if language is not None:
            store.set_customer_language(d.customer.customer_id, language)  # the transaction that set it did not run
    if new:
        return Committed(conversation=conv, stored=True, created=True)  # exactly what the transaction wrote
    fresh = store.get_conversation(conv.conversation_id)
    if fresh is None:
        raise TransientError("conversation not readable after the commit")
    return Committed(conversation=fresh, stored=stored, created=created)


def _reopen(msg: InboundMessage, now: datetime) -> list[Any]:
    """The customer wrote to a resolved conversation: say so in its timeline, and the resolution it had
    is no longer met (its deadline shows pending again, `resolved_at` returns with the next resolution)."""
    entry = workflow.TimelineEntry(now, workflow.TimelineKind.REOPENED, f"customer wrote ({msg.channel.value})")
    return [
        ConversationModel.resolved_at.remove(),
        ConversationModel.timeline.set(ConversationModel.timeline.append([entry.to_item()])),
    ]


# How long the commit remembers an input by its source id: longer than SQS keeps a message (14 days)
# and than a retrying MTA tries (RFC 5321 suggests giving up after 4-5 days).
SEEN_FOR = timedelta(days=15)


def _seen(msg: InboundMessage, now: datetime) -> IntakeSeenModel:
    """The input's marker: a hash of channel and source id (no address), expiring after SEEN_FOR."""
    digest = hashlib.sha256(f"{msg.channel.value}#{msg.source_id}".encode()).hexdigest()[:40]
    return IntakeSeenModel(id=f"intake#{digest}", expiration=int((now + SEEN_FOR).timestamp()))


# The connection transactions go through (the fault injector hooks its client).
transaction_connection = store.transaction_connection


def _transact(
    item: MessageModel,
    conversation_id: str,
    update: ConversationModel | list[Any],
    *,
    seen: IntakeSeenModel,
    customer_id: str,
    language: str | None,
    words: list[str],
) -> bool | None:
    """The message (only if new), the input's marker (only if new: the same source id in another
    envelope has another receipt time, so another sort key), the conversation (`update`: a new
    conversation's whole item, written only if its id is free; or the actions on an existing one),
    the customer's detected language and (for a short message) its search index entries, atomically.

    False if the message was already committed; None if a new conversation's id is taken.
    """
    try:
        with TransactWrite(connection=transaction_connection()) as tx:
            if isinstance(update, ConversationModel):
                tx.save(update, condition=ConversationModel.conversation_id.does_not_exist())
            else:
                tx.update(ConversationModel(conversation_id=conversation_id), actions=update)
            tx.save(item, condition=MessageModel.sort.does_not_exist())
            tx.save(seen, condition=IntakeSeenModel.id.does_not_exist())
            if language is not None:
                tx.update(CustomerModel(customer_id=customer_id), actions=[CustomerModel.language.set(language)])
            if len(words) <= INDEX_IN_COMMIT:
                for word in words:
                    tx.save(SearchTokenModel(token=searchindex.WORD + word, ref=conversation_id, at=item.created_at))
    except TransactWriteError as exc:
        # One reason per item (None where that item was fine), puts first in the order they were
        # added (PynamoDB sends puts before updates): a new conversation, then the message.
        reasons = [getattr(r, "code", None) for r in (exc.cancellation_reasons or [])]
        new = isinstance(update, ConversationModel)
        if new and reasons and reasons[0] == "ConditionalCheckFailed":
            return None  # a new conversation's id is taken (by our earlier delivery, or another source)
        at = 1 if new else 0
        if "ConditionalCheckFailed" in reasons[at : at + 2]:
            return False  # this message (or this input in another envelope) is already stored
        if error_code(exc) == "ValidationException":
            raise store.item_rejected(exc) from exc
        raise TransientError(f"commit failed: {error_code(exc) or type(exc).__name__}") from exc
    return True


__all__ = ["Channel", "commit"]
