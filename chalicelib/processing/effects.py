"""The effects after the commit: keyword answers, the ack, the SLA clock; each through the outbox, re-entrant."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from chalicelib import outbox, sms, store, workflow
from chalicelib.acknowledge import OutboundEmail, compose_email, reply_subject, template_context
from chalicelib.config import URGENCIES
from chalicelib.delivery import Delivered, SmsText, deliver_email, deliver_sms
from chalicelib.guard.ratelimit import AckSlot
from chalicelib.inbound import Channel, InboundMessage, TemplateRef
from chalicelib.metrics import Metric, count, milliseconds
from chalicelib.models import ConversationModel, EffectStatus, Status
from chalicelib.observability import logger
from chalicelib.outbox import Effect, Kind, Policy
from chalicelib.processing.commit import sla_execution_arn
from chalicelib.processing.decisions import Committed, Decided
from chalicelib.processing.stages import ack_effect_id, keyword_effect_id

if TYPE_CHECKING:
    from chalicelib.runtime import Runtime

# Reasons a send was skipped on purpose: stated and counted, never parked.
SKIPPED = frozenset({"rate_limited", "suppressed", "opted_out", "invalid_phone", "empty", "not_sent"})


def parkable(delivered: Delivered) -> bool:
    """A refusal that needs a person (broken template, address the mail library refuses): park it once."""
    return (
        delivered.status is EffectStatus.FAILED and not delivered.duplicate and (delivered.reason or "") not in SKIPPED
    )


def _sms_effect(effect_id: str, kind: Kind, conversation_id: str) -> Effect:
    return Effect(effect_id, kind, Policy.AT_MOST_ONCE, Channel.SMS.value, "phone", conversation_id)


def _rendered_sms(rt: Runtime, purpose: str, language: str | None, context: dict[str, object]) -> SmsText:
    rendered = rt.templates.render(purpose, "sms", "txt", language, context)
    text = sms.fit_to_budget(rendered.text, rt.campaign.sms.segment_budget)
    return SmsText(
        text=text,
        template=rendered.template,
        ref=TemplateRef(rendered.template_id or rendered.template, rendered.version, rendered.language),
    )


def keyword_answer(msg: InboundMessage, d: Decided, conv: ConversationModel, rt: Runtime) -> Delivered | None:
    """STOP opts out (confirmed once), START opts back in, HELP answers; each answer sent at most once."""
    identity = msg.identity()
    if d.keyword is None or identity is None:
        return None
    campaign = rt.campaign
    now = rt.clock()
    context = template_context(
        campaign=campaign, customer_name="", reference="", language=campaign.default_language, topic=None
    )
    effect = _sms_effect(keyword_effect_id(msg.source_id, d.keyword), Kind.KEYWORD, conv.conversation_id)
    never = lambda _p: False  # noqa: E731 - carrier rules allow these answers even to an opted-out number
    if d.keyword == "stop":
        if not store.add_suppression(identity, reason="opt_out", source="sms", now=now, origin=msg.source_id):
            return None  # already opted out by an earlier message: silence
        if outbox.get(effect.effect_id) is None:
            count(Metric.SUPPRESSIONS_ADDED, reason="opt_out")
        compose = lambda: _rendered_sms(rt, "opt_out_confirmation", None, context)  # noqa: E731
        return deliver_sms(effect, compose, phone=msg.sender, rt=rt, suppressed=never, keyword_response=True)
    if d.keyword == "start":
        return deliver_sms(
            effect,
            lambda: _rendered_sms(rt, "opt_in_confirmation", None, context),
            phone=msg.sender,
            rt=rt,
            suppressed=never,
            keyword_response=True,
            # Undone only once the outbox holds the answer's record: a retry then still knows it was START.
            before_send=lambda: (store.remove_suppression(identity, only_reason="opt_out"), None)[1],
        )
    help_text = SmsText(text=campaign.sms.help_text, template=None, ref=None)
    return deliver_sms(effect, lambda: help_text, phone=msg.sender, rt=rt, suppressed=never, keyword_response=True)


def acknowledge(msg: InboundMessage, d: Decided, conv: ConversationModel, rt: Runtime) -> Delivered | None:
    """The conversation's one ack, on the customer's channel; its rate-limit slot is spent only on a real send."""
    if d.reason is not None:
        return None
    if conv.ack_sent_at is not None:
        return None
    identity = msg.identity()
    assert identity is not None
    campaign = rt.campaign
    limit = campaign.ack_rate_limit
    effect_id = ack_effect_id(conv.conversation_id)
    language = d.classification.language

    # The slot is written with the ack's in-flight mark, from the ack log identify read.
    slot = AckSlot(identity, effect_id, rt.clock(), limit, known=d.customer.ack_log)

    def give_back() -> None:
        store.release_ack_slot(identity, effect_id)

    # The web form's name is the submitter's free text and its address unverified: the ack echoes neither.
    customer_name = "" if msg.channel is Channel.WEB else (d.customer.name or msg.sender_name)
    context = template_context(
        campaign=campaign,
        customer_name=customer_name if msg.channel is not Channel.SMS else "",
        reference=conv.reference,
        language=language,
        topic=d.classification.topic,
    )
    if msg.channel is Channel.SMS:
        effect = _sms_effect(effect_id, Kind.ACK, conv.conversation_id)
        delivered = deliver_sms(
            effect,
            lambda: _rendered_sms(rt, "acknowledge", language, context),
            phone=msg.sender,
            rt=rt,
            # The screen stage checked our suppression list in this delivery (an ack is only sent when
            # it passed); SNS's own opt-out list is still checked right before the publish.
            suppressed=lambda _phone: False,
            ack=True,
            reserve=slot,
            on_not_sent=give_back,
        )
    else:
        effect = Effect(effect_id, Kind.ACK, Policy.AT_MOST_ONCE, Channel.EMAIL.value, "email", conv.conversation_id)
        threaded = msg.channel is Channel.EMAIL and msg.message_id is not None

        def compose(message_id: str) -> OutboundEmail:
            return compose_email(
                purpose="acknowledge",
                campaign=campaign,
                templates=rt.templates,
                to=msg.sender,
                to_name="" if msg.channel is Channel.WEB else msg.sender_name,
                language=language,
                context=context,
                now=rt.clock(),
                subject=reply_subject(msg.subject, conv.reference) if threaded else None,
                in_reply_to=msg.message_id if threaded else None,
                references=msg.references if threaded else (),
                message_id=message_id,
            )

        delivered = deliver_email(effect, compose, to=msg.sender, rt=rt, ack=True, reserve=slot, on_not_sent=give_back)
    # A sent (or possibly sent) ack marked its conversation acknowledged with its stored message.
    if delivered.sent and not delivered.duplicate:
        count(Metric.ACK_SENT, channel=msg.channel.value)
        milliseconds(Metric.ACK_LATENCY, max(0.0, (rt.clock() - msg.received_at).total_seconds() * 1000))
        logger.info("ack sent", extra={"channel": msg.channel.value, "language": language})
    elif delivered.status is EffectStatus.FAILED and not delivered.duplicate:
        reason = delivered.reason or "not_sent"
        count(Metric.ACK_SUPPRESSED, channel=msg.channel.value, reason=reason.split(":", 1)[0])
        logger.info("ack not sent", extra={"reason": reason})
    return delivered


# ------------------------------------------------------------------ the SLA clock


def ensure_clock(d: Decided, conv: ConversationModel, rt: Runtime) -> None:
    """Start the SLA clock whenever a conversation that needs one has none (version 1), not only on first try.

    The execution's deterministic name is the start's outbox record: Step Functions keeps names unique
    (`ExecutionAlreadyExists` is success), so a retry after any failure, a lost answer included,
    converges on the one clock without an outbox item of ours. Its ARN follows from the name and is
    stored with the clock's version and deadlines before the start (by the commit that opened the
    conversation): nothing is written after it. So whether the start happened is not recorded: a later
    delivery into a version-1 conversation asks again, and Step Functions answers "already exists".
    """
    if not d.opens_work or conv.status == Status.CLOSED.value:
        return
    if int(conv.workflow_version or 0) > 1:
        return  # paused or re-planned: the clock exists
    queue = rt.campaign.queues[conv.queue]
    deadlines = workflow.compute_deadlines(
        workflow.parse_timestamp(conv.created_at), conv.urgency, queue, rt.campaign.business_hours
    )
    first_due = store.iso(deadlines.first_response_due) if deadlines.first_response_due else None
    resolution_due = store.iso(deadlines.resolution_due)
    arn = sla_execution_arn(conv.conversation_id, rt)
    # The version is stored before the start: the machine escalates only while it matches. The commit
    # already stored it for a conversation it opened (same inputs, same deadlines, same ARN).
    if int(conv.workflow_version or 0) != 1 or conv.resolution_due != resolution_due or conv.workflow_execution != arn:
        store.set_clock(
            conv.conversation_id,
            version=1,
            first_response_due=first_due,
            resolution_due=resolution_due,
            execution=arn,
            status=conv.status,
        )
    workflow.start_sla_clock(
        sfn=rt.sfn,
        state_machine_arn=rt.settings.sla_state_machine_arn,
        conversation_id=conv.conversation_id,
        version=1,
        deadlines=deadlines,
        urgency=conv.urgency,
        queue=queue,
        hours=rt.campaign.business_hours,
    )


def resume_if_paused(conv: ConversationModel, rt: Runtime) -> bool:
    """The customer answered while we waited on them: the resolution clock runs again (state-based, re-entrant).

    True when it changed the clock (the caller's copy of the conversation is then stale).
    """
    if conv.status != Status.OPEN.value:
        return False
    paused_at = workflow.paused_since(conv)
    if paused_at is None or conv.resolution_due is None:
        return False
    queue = rt.campaign.queues[conv.queue]
    version = int(conv.workflow_version or 1)
    change = workflow.resume_sla_clock(
        sfn=rt.sfn,
        state_machine_arn=rt.settings.sla_state_machine_arn,
        conversation_id=conv.conversation_id,
        version=version,
        deadlines=workflow.Deadlines(
            first_response_due=None
            if conv.first_response_at
            else (workflow.parse_timestamp(conv.first_response_due) if conv.first_response_due else None),
            resolution_due=workflow.parse_timestamp(conv.resolution_due),
        ),
        paused_at=paused_at,
        now=rt.clock(),
        urgency=conv.urgency,
        queue=queue,
        hours=rt.campaign.business_hours,
        first_response_met=conv.first_response_at is not None,
    )
    store.set_clock(
        conv.conversation_id,
        version=change.version,
        first_response_due=conv.first_response_due,
        resolution_due=store.iso(change.deadlines.resolution_due),
        execution=change.execution_arn,
        status=Status.OPEN.value,
        timeline_entry=change.entry.to_item(),
        expected_version=version,
    )
    return True


def _more_urgent(new: str, old: str) -> bool:
    return new in URGENCIES and old in URGENCIES and URGENCIES.index(new) > URGENCIES.index(old)


def reprioritise_if_needed(conv: ConversationModel, urgency: str, rt: Runtime, why: tuple[str, ...] = ()) -> bool:
    """A later message raised the urgency (e.g. a chargeback threat): deadlines from the stricter target.

    `why` (the message's urgency reasons) is stored with the new urgency in one write, so the
    conversation's reasons say why it was raised. True when it changed the clock (the caller's copy
    of the conversation is then stale).
    """
    if not int(conv.workflow_version or 0) or not _more_urgent(urgency, conv.urgency):
        return False
    reason = workflow.urgency_reason(conv.urgency, urgency, why, "a later message")
    conv = store.get_conversation(conv.conversation_id) or conv  # a resume just now bumped the version
    queue = rt.campaign.queues[conv.queue]
    version = int(conv.workflow_version or 1)
    change = workflow.reprioritise(
        sfn=rt.sfn,
        state_machine_arn=rt.settings.sla_state_machine_arn,
        conversation_id=conv.conversation_id,
        version=version,
        created_at=workflow.parse_timestamp(conv.created_at),
        urgency=urgency,
        queue=queue,
        hours=rt.campaign.business_hours,
        first_response_met=conv.first_response_at is not None,
        now=rt.clock(),
    )
    ConversationModel(conversation_id=conv.conversation_id).update(
        actions=[
            ConversationModel.urgency.set(urgency),
            ConversationModel.reasons.set(ConversationModel.reasons.append([reason])),
            ConversationModel.version.add(1),
        ]
    )
    first_due = change.deadlines.first_response_due
    store.set_clock(
        conv.conversation_id,
        version=change.version,
        first_response_due=store.iso(first_due) if first_due else None,
        resolution_due=store.iso(change.deadlines.resolution_due),
        execution=change.execution_arn,
        status=conv.status,
        timeline_entry=replace(change.entry, detail=f"{change.entry.detail} ({reason})").to_item(),
        expected_version=version,
    )
    return True


CALLBACK_RE = re.compile(
    r"\b(call me|please call|ring me|call back|callback|ring mig|ringa mig|rufen sie mich an|r[üu]ckruf|"
    r"appelez[- ]moi|rappel|ll[áa]m[ae]me|devu[ée]lvame la llamada)\b",
    re.IGNORECASE,
)


def request_callback(conv: ConversationModel, msg: InboundMessage, rt: Runtime) -> None:
    """ "Call me" after a staff answer becomes a call-back task on the conversation, visible in its queue."""
    if not CALLBACK_RE.search(msg.body[:2000]):
        return
    store.add_timeline(
        conv.conversation_id,
        workflow.TimelineEntry(rt.clock(), "callback_requested", msg.channel.value).to_item(),
        ConversationModel.callback_requested_at.set(store.iso(rt.clock())),
    )


@dataclass(frozen=True, slots=True)
class Done:
    """What the effects stage did for one message: the keyword answer and the ack, if any."""

    keyword: Delivered | None
    ack: Delivered | None

    @property
    def parked(self) -> str | None:
        for d in (self.keyword, self.ack):
            if d is not None and parkable(d):
                return d.reason
        return None


def run(msg: InboundMessage, d: Decided, committed: Committed, rt: Runtime) -> Done:
    """Every effect the committed state asks for; each converges when run again after a failure."""
    conv = committed.conversation

    def reread() -> ConversationModel:
        return store.get_conversation(conv.conversation_id) or conv

    answered = keyword_answer(msg, d, conv, rt)
    # The commit's fresh read is current until a clock change below: only then is it read again.
    changed = False
    if d.opens_work and not d.automated:
        changed = resume_if_paused(conv, rt)
        c = d.classification
        changed = reprioritise_if_needed(reread() if changed else conv, c.urgency, rt, c.urgency_reasons) or changed
        if committed.stored and not committed.created:
            request_callback(conv, msg, rt)
    acked = acknowledge(msg, d, conv, rt)
    # The ack changes only ack fields; the clock's state comes from the commit or a clock change.
    ensure_clock(d, reread() if changed else conv, rt)
    return Done(keyword=answered, ack=acked)
