"""Staff replies and follow-ups: sent on the customer's channel, threaded, then the clock adjusts."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pynamodb.exceptions import UpdateError

from chalicelib import store, workflow
from chalicelib.acknowledge import OutboundEmail, compose_email, reply_subject, template_context
from chalicelib.delivery import Delivered, SmsText, deliver_email, deliver_sms
from chalicelib.errors import NotFound, TransientError, ValidationError, error_code
from chalicelib.inbound import Channel, TemplateRef
from chalicelib.metrics import Metric, count
from chalicelib.models import ConversationModel, EffectStatus, Status
from chalicelib.observability import logger
from chalicelib.ops import indices
from chalicelib.outbox import Effect, Kind, Policy

if TYPE_CHECKING:
    from chalicelib.runtime import Runtime

MAX_REPLY_CHARS = 20_000


MAX_KEY_CHARS = 200


def _suppressed_phone(phone: str) -> bool:
    return store.suppression_reason(f"phone#{phone}") is not None


def _deliver(
    conv: ConversationModel,
    *,
    effect: Effect,
    purpose: str,
    staff_text: str,
    sent_by: str,
    rt: Runtime,
    auto_submitted: bool,
    template: TemplateRef | None = None,
) -> Delivered:
    """Render `purpose` for the conversation's channel and send it once, through the outbox, to the last address."""
    campaign = rt.campaign
    last = store.last_inbound(conv.conversation_id)
    if last is None or not last.sender:
        raise NotFound(f"conversation {conv.conversation_id} has no customer address to answer")
    customer = store.get_customer(conv.customer_id)
    language = (template.language if template else None) or conv.language or campaign.default_language
    # The complementary offer is marketing: only for customers who have not opted out of it.
    offer = campaign.follow_up.offer if customer is not None and not customer.marketing_opt_out else None
    context = template_context(
        campaign=campaign,
        customer_name=customer.name if customer else "",
        reference=conv.reference,
        language=language,
        topic=conv.topic,
        extra={"reply": {"text": staff_text, "sent_by": sent_by}, "offer": offer or ""},
    )
    if last.channel == Channel.SMS.value:
        effect = replace(effect, channel=Channel.SMS.value, target_kind="phone")

        def compose_sms() -> SmsText:
            rendered = rt.templates.render(purpose, "sms", "txt", language, context)
            ref = _ref(rendered.template_id or rendered.template, rendered.version, rendered.language, template)
            return SmsText(text=rendered.text.strip(), template=rendered.template, ref=ref)

        return deliver_sms(effect, compose_sms, phone=last.sender, rt=rt, suppressed=_suppressed_phone, sent_by=sent_by)
    if store.suppression_reason(f"email#{last.sender}") is not None:
        return Delivered(EffectStatus.FAILED, False, "", "suppressed")
    references = tuple(str(r) for r in last.references or ()) + ((last.rfc_message_id,) if last.rfc_message_id else ())
    sender = last.sender

    def compose(message_id: str) -> OutboundEmail:
        email = compose_email(
            purpose=purpose,
            campaign=campaign,
            templates=rt.templates,
            to=sender,
            to_name="",
            language=language,
            context=context,
            now=rt.clock(),
            subject=reply_subject(conv.subject, conv.reference),
            in_reply_to=last.rfc_message_id,
            references=references,
            auto_submitted=auto_submitted,
            message_id=message_id,
        )
        if template is not None:
            # The staff member started from a library template: that is the one the message records.
            email = replace(email, template_id=template.id, template_version=template.version)
        return email

    return deliver_email(effect, compose, to=sender, rt=rt, sent_by=sent_by)


def send_final_message(conv: ConversationModel, *, effect: Effect, text: str, sent_by: str, rt: Runtime) -> Delivered:
    """An automatic last answer (a retired campaign's closing message) in the reply wrapper, on the
    conversation's channel, through the outbox like any reply; no clock or follow-up follows it."""
    return _deliver(conv, effect=effect, purpose="reply", staff_text=text, sent_by=sent_by, rt=rt, auto_submitted=True)


def _ref(template_id: str, version: int, language: str, chosen: TemplateRef | None) -> TemplateRef:
    return chosen if chosen is not None else TemplateRef(template_id, version, language)


def reply_effect_id(conversation_id: str, idempotency_key: str) -> str:
    return "reply-" + store.stable_id("reply", conversation_id, idempotency_key)


def staff_reply(
    conversation_id: str,
    text: str,
    *,
    sent_by: str,
    idempotency_key: str,
    rt: Runtime,
    wait_for_customer: bool = True,
    template: TemplateRef | None = None,
) -> dict[str, Any]:
    """Answer the customer once per `idempotency_key`; the first answer meets the first-response target.

    The same key again sends nothing and returns the first result with `"duplicate": True`. If the
    send's outcome is unknown, OutcomeUnknown (retryable) is raised: retry with the same key, and the
    mail goes out again with the same Message-ID, so the customer's client shows it once.
    """
    text = (text or "").strip()
    if not text:
        raise ValidationError("'text' is required", field="text")
    if len(text) > MAX_REPLY_CHARS:
        raise ValidationError(f"'text' is longer than {MAX_REPLY_CHARS} characters", field="text")
    key = (idempotency_key or "").strip()
    if not key or len(key) > MAX_KEY_CHARS:
        raise ValidationError(
            f"'idempotency_key' is required (at most {MAX_KEY_CHARS} characters)", field="idempotency_key"
        )
    conv = store.get_conversation(conversation_id)
    if conv is None:
        raise NotFound(f"no conversation {conversation_id}")
    effect = Effect(
        effect_id=reply_effect_id(conversation_id, key),
        kind=Kind.REPLY,
        policy=Policy.SAME_KEY,
        channel=Channel.EMAIL.value,
        target_kind="email",
        conversation_id=conversation_id,
    )
    delivery = _deliver(
        conv,
        effect=effect,
        purpose="reply",
        staff_text=text,
        sent_by=sent_by,
        rt=rt,
        auto_submitted=False,
        template=template,
    )
    status = Status.PENDING_CUSTOMER.value if wait_for_customer else Status.OPEN.value
    if not delivery.sent:
        logger.info("reply not sent", extra={"reason": delivery.reason})
        return {"sent": False, "reason": delivery.reason, "duplicate": delivery.duplicate}
    if not delivery.duplicate:
        count(Metric.REPLY_SENT, channel=conv.channel)
    _after_reply(conv, delivery.message_id, sent_by=sent_by, status=status, wait_for_customer=wait_for_customer, rt=rt)
    logger.info("reply sent", extra={"conversation_id": conversation_id, "channel": conv.channel})
    return {"sent": True, "message_id": delivery.message_id, "status": status, "duplicate": delivery.duplicate}


def _after_reply(
    conv: ConversationModel, message_id: str, *, sent_by: str, status: str, wait_for_customer: bool, rt: Runtime
) -> None:
    """The conversation's side of a sent reply; re-entrant, so a retry after a failure here finishes it."""
    conversation_id = conv.conversation_id
    now = rt.clock()
    actions: list[Any] = [
        ConversationModel.status.set(status),
        # The queue index's key follows the status: answered, the next deadline is the resolution one.
        ConversationModel.status_due.set(store.status_due(status, conv.resolution_due)),
        ConversationModel.updated_at.set(store.iso(now)),
        ConversationModel.follow_up_id.set(message_id),
    ]
    first = conv.first_response_at is None
    if first:
        actions.append(ConversationModel.first_response_at.set(store.iso(now)))
    entry = workflow.TimelineEntry(now, workflow.TimelineKind.FIRST_RESPONSE if first else "reply", sent_by).to_item()
    # Applied once per reply: the condition turns a retry's second application into a no-op.
    applied = store.add_timeline_once(
        conversation_id,
        entry,
        *actions,
        condition=ConversationModel.follow_up_id.does_not_exist() | (ConversationModel.follow_up_id != message_id),
    )
    if first and applied:
        indices.observe_first_response(conv, now, rt.campaign)
    conv = store.get_conversation(conversation_id) or conv
    version = int(conv.workflow_version or 0)
    if wait_for_customer and version and conv.resolution_due and workflow.paused_since(conv) is None:
        change = workflow.pause_sla_clock(
            sfn=rt.sfn,
            state_machine_arn=rt.settings.sla_state_machine_arn,
            conversation_id=conversation_id,
            version=version,
            deadlines=workflow.Deadlines(None, workflow.parse_timestamp(conv.resolution_due)),
            now=now,
        )
        store.set_clock(
            conversation_id,
            version=change.version,
            first_response_due=conv.first_response_due,
            resolution_due=conv.resolution_due,
            execution=None,
            status=status,
            timeline_entry=change.entry.to_item(),
            expected_version=version,
            answered=True,
        )
    if applied or conv.follow_up_id == message_id:
        workflow.start_follow_up(
            sfn=rt.sfn,
            state_machine_arn=rt.settings.followup_state_machine_arn,
            conversation_id=conversation_id,
            reply_id=message_id,
            replied_at=now,
            inbound_count=int(conv.inbound_count or 0),
            policy=rt.campaign.follow_up,
            resolved_status_due=store.status_due(Status.RESOLVED.value, conv.resolution_due),
        )


def follow_up_effect_id(conversation_id: str, reply_id: str) -> str:
    return "followup-" + store.stable_id("follow_up", conversation_id, reply_id)


def send_follow_up(conversation_id: str, reply_id: str, *, rt: Runtime) -> bool:
    """The follow-up machine's request: sent at most once per staff reply, and only for the current one.

    `follow_up_sent_for` is set only after the send succeeded; the outbox record keeps a retry from
    sending twice (an unknown outcome is not repeated: a follow-up is better lost than doubled).
    """
    conv = store.get_conversation(conversation_id)
    if conv is None or conv.follow_up_id != reply_id or conv.status in (Status.CLOSED.value, Status.RESOLVED.value):
        return False
    if conv.follow_up_sent_for == reply_id:
        return False
    effect = Effect(
        effect_id=follow_up_effect_id(conversation_id, reply_id),
        kind=Kind.FOLLOW_UP,
        policy=Policy.AT_MOST_ONCE,
        channel=Channel.EMAIL.value,
        target_kind="email",
        conversation_id=conversation_id,
    )
    delivery = _deliver(
        conv,
        effect=effect,
        purpose="follow_up",
        staff_text="",
        sent_by="system",
        rt=rt,
        auto_submitted=True,
    )
    if delivery.status not in (EffectStatus.SENT, EffectStatus.UNKNOWN):
        return False
    # Recorded once the send is over: sent, or its answer lost (then it is never repeated either).
    try:
        ConversationModel(conversation_id=conversation_id).update(
            actions=[
                ConversationModel.follow_up_sent_for.set(reply_id),
                ConversationModel.version.add(1),
                ConversationModel.timeline.set(
                    ConversationModel.timeline.append(
                        [
                            workflow.TimelineEntry(
                                rt.clock(), workflow.TimelineKind.FOLLOW_UP_SENT, conv.channel
                            ).to_item()
                        ]
                    )
                ),
            ],
            condition=ConversationModel.follow_up_sent_for.does_not_exist()
            | (ConversationModel.follow_up_sent_for != reply_id),
        )
    except UpdateError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return not delivery.duplicate
        raise TransientError("recording the follow-up failed") from exc
    if not delivery.duplicate:
        count(Metric.FOLLOW_UP_SENT, channel=conv.channel)
    return True


# ------------------------------------------------------------------ the resolution message


def resolution_effect_id(conversation_id: str, resolved_at: str) -> str:
    """One message per resolution: a retry of the same resolution finds its record, a later one is new."""
    return "resolution-" + store.stable_id("resolution", conversation_id, resolved_at)


def reply_channel(last_inbound_channel: str | None) -> str:
    """The channel an answer goes out on: SMS to a phone, email otherwise (a web form gave an address)."""
    return Channel.SMS.value if last_inbound_channel == Channel.SMS.value else Channel.EMAIL.value


def resolution_template(templates: Any, channel: str) -> Any:
    """The campaign's `resolution.<channel>` template, or None when the library has none (no message then)."""
    return templates.source.latest(f"resolution.{channel}")


def send_resolution_message(conversation_id: str, *, sent_by: str, rt: Runtime) -> dict[str, Any]:
    """Tell the customer their conversation is resolved, with the rating links, on their channel and language.

    Sent at most once per resolution (the effect id is derived from `resolved_at`), through the outbox,
    stored with the template id, version and language it was rendered from. Without a `resolution`
    template for the channel nothing is sent and the answer says so.
    """
    conv = store.get_conversation(conversation_id)
    if conv is None:
        raise NotFound(f"no conversation {conversation_id}")
    if conv.status != Status.RESOLVED.value or not conv.resolved_at:
        raise ValidationError("only a resolved conversation gets a resolution message", field="status")
    last = store.last_inbound(conversation_id)
    channel = reply_channel(last.channel if last is not None else None)
    if resolution_template(rt.templates, channel) is None:
        return {"sent": False, "reason": f"no resolution template for {channel}", "duplicate": False}
    effect = Effect(
        effect_id=resolution_effect_id(conversation_id, conv.resolved_at),
        kind=Kind.RESOLUTION,
        policy=Policy.AT_MOST_ONCE,
        channel=Channel.EMAIL.value,
        target_kind="email",
        conversation_id=conversation_id,
    )
    delivery = _deliver(
        conv, effect=effect, purpose="resolution", staff_text="", sent_by=sent_by, rt=rt, auto_submitted=True
    )
    if delivery.sent and not delivery.duplicate:
        logger.info("resolution message sent", extra={"conversation_id": conversation_id, "channel": channel})
    elif not delivery.sent:
        logger.info(
            "resolution message not sent", extra={"conversation_id": conversation_id, "reason": delivery.reason}
        )
    ref = delivery.template
    return {
        "sent": delivery.sent,
        "reason": delivery.reason,
        "duplicate": delivery.duplicate,
        "message_id": delivery.message_id or None,
        "channel": channel,
        "template": {"id": ref.id, "version": ref.version, "language": ref.language} if ref is not None else None,
    }
