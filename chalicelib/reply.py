"""Staff replies and follow-ups: sent on the customer's channel, threaded, then the clock adjusts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib import store, workflow
from chalicelib.acknowledge import compose_email, reply_subject, send_email, template_context
from chalicelib.errors import NotFound, ValidationError
from chalicelib.inbound import Channel
from chalicelib.metrics import Metric, count
from chalicelib.models import ConversationModel, Status
from chalicelib.observability import logger
from chalicelib.ops import indices

if TYPE_CHECKING:
    from chalicelib.runtime import Runtime

MAX_REPLY_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class Delivery:
    message_id: str
    sent: bool
    reason: str | None


def _deliver(
    conv: ConversationModel,
    *,
    purpose: str,
    staff_text: str,
    source_id: str,
    sent_by: str,
    rt: Runtime,
    auto_submitted: bool,
) -> Delivery:
    """Render `purpose` for the conversation's channel and send it to the customer's last address."""
    from chalicelib import sms

    campaign = rt.campaign
    last = store.last_inbound(conv.conversation_id)
    if last is None or not last.sender:
        raise NotFound(f"conversation {conv.conversation_id} has no customer address to answer")
    customer = store.get_customer(conv.customer_id)
    language = conv.language or campaign.default_language
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
    now = rt.clock()
    if last.channel == Channel.SMS.value:
        rendered = rt.templates.render(purpose, "sms", "txt", language, context)
        result = sms.send_sms(
            sns=rt.sns,
            phone=last.sender,
            text=rendered.text.strip(),
            campaign=campaign,
            suppressed=lambda phone: store.suppression_reason(f"phone#{phone}") is not None,
        )
        if not result.sent:
            return Delivery(message_id="", sent=False, reason=result.reason.value if result.reason else None)
        item = store.outbound_message_item(
            conversation_id=conv.conversation_id,
            channel=Channel.SMS,
            source_id=source_id,
            now=now,
            text=rendered.text,
            template=rendered.template,
            sent_by=sent_by,
        )
    else:
        if store.suppression_reason(f"email#{last.sender}") is not None:
            return Delivery(message_id="", sent=False, reason="suppressed")
        references = tuple(str(r) for r in last.references or ()) + (
            (last.rfc_message_id,) if last.rfc_message_id else ()
        )
        email = compose_email(
            purpose=purpose,
            campaign=campaign,
            templates=rt.templates,
            to=last.sender,
            to_name="",
            language=language,
            context=context,
            now=now,
            subject=reply_subject(conv.subject, conv.reference),
            in_reply_to=last.rfc_message_id,
            references=references,
            auto_submitted=auto_submitted,
        )
        send_email(email, ses=rt.ses, campaign=campaign)
        item = store.outbound_message_item(
            conversation_id=conv.conversation_id,
            channel=Channel.EMAIL,
            source_id=source_id,
            now=now,
            text=email.text,
            subject=email.subject,
            rfc_message_id=email.message_id,
            template=email.template,
            sent_by=sent_by,
        )
    store.put_message(item)
    return Delivery(message_id=item.message_id, sent=True, reason=None)


def staff_reply(
    conversation_id: str, text: str, *, sent_by: str, rt: Runtime, wait_for_customer: bool = True
) -> dict[str, Any]:
    """Answer the customer; the first answer meets the first-response target, then a follow-up is timed."""
    text = (text or "").strip()
    if not text:
        raise ValidationError("'text' is required", field="text")
    if len(text) > MAX_REPLY_CHARS:
        raise ValidationError(f"'text' is longer than {MAX_REPLY_CHARS} characters", field="text")
    conv = store.get_conversation(conversation_id)
    if conv is None:
        raise NotFound(f"no conversation {conversation_id}")
    delivery = _deliver(
        conv,
        purpose="reply",
        staff_text=text,
        source_id=f"reply-{uuid.uuid4().hex}",
        sent_by=sent_by,
        rt=rt,
        auto_submitted=False,
    )
    if not delivery.sent:
        logger.info("reply not sent", extra={"reason": delivery.reason})
        return {"sent": False, "reason": delivery.reason}
    count(Metric.REPLY_SENT, channel=conv.channel)
    now = rt.clock()
    status = Status.PENDING_CUSTOMER.value if wait_for_customer else Status.OPEN.value
    actions: list[Any] = [
        ConversationModel.status.set(status),
        ConversationModel.updated_at.set(store.iso(now)),
        ConversationModel.follow_up_id.set(delivery.message_id),
    ]
    if conv.first_response_at is None:
        actions.append(ConversationModel.first_response_at.set(store.iso(now)))
        indices.observe_first_response(conv, now, rt.campaign)
    store.add_timeline(
        conversation_id,
        workflow.TimelineEntry(
            now, workflow.TimelineKind.FIRST_RESPONSE if conv.first_response_at is None else "reply", sent_by
        ).to_item(),
        *actions,
    )
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
        )
    workflow.start_follow_up(
        sfn=rt.sfn,
        state_machine_arn=rt.settings.followup_state_machine_arn,
        conversation_id=conversation_id,
        reply_id=delivery.message_id,
        replied_at=now,
        inbound_count=int(conv.inbound_count or 0),
        policy=rt.campaign.follow_up,
        resolved_status_due=store.status_due(Status.RESOLVED.value, conv.resolution_due),
    )
    logger.info("reply sent", extra={"conversation_id": conversation_id, "channel": conv.channel})
    return {"sent": True, "message_id": delivery.message_id, "status": status}


def send_follow_up(conversation_id: str, reply_id: str, *, rt: Runtime) -> bool:
    """The follow-up machine's request: send once per staff reply, and only for the current one."""
    conv = store.get_conversation(conversation_id)
    if conv is None or conv.follow_up_id != reply_id or conv.status in (Status.CLOSED.value, Status.RESOLVED.value):
        return False
    try:
        ConversationModel(conversation_id=conversation_id).update(
            actions=[ConversationModel.follow_up_sent_for.set(reply_id)],
            condition=ConversationModel.follow_up_sent_for.does_not_exist()
            | (ConversationModel.follow_up_sent_for != reply_id),
        )
    except Exception as exc:
        if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
            return False
        raise
    delivery = _deliver(
        conv,
        purpose="follow_up",
        staff_text="",
        source_id=f"followup-{reply_id}",
        sent_by="system",
        rt=rt,
        auto_submitted=True,
    )
    if delivery.sent:
        count(Metric.FOLLOW_UP_SENT, channel=conv.channel)
        store.add_timeline(
            conversation_id,
            workflow.TimelineEntry(rt.clock(), workflow.TimelineKind.FOLLOW_UP_SENT, conv.channel).to_item(),
        )
    return delivery.sent
