"""One outbound email or SMS carried out through the outbox, then stored as the conversation's message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from pynamodb.transactions import TransactWrite

from chalicelib import outbox, searchindex, store
from chalicelib.acknowledge import OutboundEmail, send_email
from chalicelib.errors import TransientError
from chalicelib.inbound import Channel, TemplateRef
from chalicelib.models import ConversationModel, EffectStatus, MessageModel
from chalicelib.outbox import Alongside, Effect, EffectRefused, EffectResult, Reserve, Sent

if TYPE_CHECKING:
    from chalicelib.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Delivered:
    """What happened to one outbound message: its outbox status and the stored message's id."""

    status: EffectStatus
    duplicate: bool
    message_id: str
    reason: str | None
    rfc_message_id: str | None = None
    template: TemplateRef | None = None

    @property
    def sent(self) -> bool:
        return self.status is EffectStatus.SENT


def email_message_id(effect_id: str, domain: str) -> str:
    """The Message-ID of an effect's mail: the same on every try, so a repeat is one message to the client."""
    return f"{effect_id}@{domain}"


T = TypeVar("T")


def _stored_with_mark(
    build: Callable[[EffectStatus, str], MessageModel], *, ack: bool, rfc_message_id: str | None, rt: Runtime
) -> Alongside:
    """The outbound message (and, for an ack, its conversation's mark) written with the outbox's mark.

    One transaction instead of three writes; the message is written unconditionally, the same item on
    every try, so a repeated mark (a lost answer) repeats it harmlessly.
    """

    def add(tx: TransactWrite, status: EffectStatus, created_at: str) -> None:
        if status not in (EffectStatus.SENT, EffectStatus.UNKNOWN):
            return
        item = build(status, created_at)
        tx.save(item)
        if ack:
            conv = ConversationModel(conversation_id=item.conversation_id)
            tx.update(conv, actions=store.ack_actions(rfc_message_id, rt.clock()))

    return add


def _index(result: EffectResult, *, ack: bool, conversation_id: str, subject: str, text: str) -> None:
    """A staff reply or follow-up is found by staff search; an ack (campaign boilerplate) is not indexed."""
    if ack or result.duplicate or result.status not in (EffectStatus.SENT, EffectStatus.UNKNOWN):
        return
    searchindex.index_message(conversation_id, subject=subject, text=text, at=result.created_at or None)


def _prepare(effect: Effect, build: Callable[[], T], rt: Runtime) -> T | EffectResult:
    """Render before the send; a template that can never render is recorded as failed, once."""
    try:
        return build()
    except Exception as exc:
        verdict = outbox.classify_failure(exc)
        if verdict == "refused":
            return outbox.refuse(effect, outbox.refusal_reason(exc), now=rt.clock())
        if isinstance(exc, TransientError):
            raise
        raise TransientError(f"preparing {effect.kind.value} failed: {type(exc).__name__}") from exc


def _finished(
    effect: Effect, result: EffectResult, message_id: str, *, rfc: str | None, ref: TemplateRef | None
) -> Delivered:
    return Delivered(
        status=result.status,
        duplicate=result.duplicate,
        message_id=message_id if result.status is not EffectStatus.FAILED else "",
        reason=result.reason,
        rfc_message_id=rfc,
        template=ref,
    )


def deliver_email(
    effect: Effect,
    compose: Callable[[str], OutboundEmail],
    *,
    to: str,
    rt: Runtime,
    sent_by: str = "system",
    ack: bool = False,
    on_not_sent: Callable[[], None] = lambda: None,
    before_send: Callable[[], None] = lambda: None,
    reserve: Reserve | None = None,
) -> Delivered:
    """Compose (with the effect's Message-ID), send once through the outbox, store the outbound message.

    No read of the outbox first: the claim finds an earlier delivery's record (sent, failed or unknown)
    and returns it as a duplicate.
    """
    rfc_id = email_message_id(effect.effect_id, rt.campaign.message_id_domain)
    prepared = _prepare(effect, lambda: compose(rfc_id), rt)
    if isinstance(prepared, EffectResult):
        return _finished(effect, prepared, "", rfc=None, ref=None)
    email = prepared
    ref = TemplateRef(email.template_id or email.template, email.template_version, email.language)
    message_id = store.outbound_message_id(Channel.EMAIL, effect.effect_id)

    def send() -> Sent:
        provider = send_email(email, ses=rt.ses, campaign=rt.campaign)
        return Sent(provider_id=provider, message_id=message_id, template=ref)

    def message(status: EffectStatus, created_at: str) -> MessageModel:
        return store.outbound_message_item(
            conversation_id=effect.conversation_id or "",
            channel=Channel.EMAIL,
            source_id=effect.effect_id,
            now=created_at or rt.clock(),
            text=email.text,
            subject=email.subject,
            rfc_message_id=email.message_id,
            template=email.template,
            template_ref=ref,
            sent_by=sent_by,
            ack=ack,
            delivery=status.value,
        )

    alongside = _stored_with_mark(message, ack=ack, rfc_message_id=email.message_id, rt=rt)
    result = outbox.perform(
        effect,
        send,
        now=rt.clock,
        before_send=before_send,
        on_not_sent=on_not_sent,
        alongside=alongside,
        reserve=reserve,
    )
    _index(result, ack=ack, conversation_id=effect.conversation_id or "", subject=email.subject, text=email.text)
    return _finished(effect, result, message_id, rfc=email.message_id, ref=ref)


@dataclass(frozen=True, slots=True)
class SmsText:
    text: str
    template: str | None
    ref: TemplateRef | None


def deliver_sms(
    effect: Effect,
    compose: Callable[[], SmsText],
    *,
    phone: str,
    rt: Runtime,
    suppressed: Callable[[str], bool],
    keyword_response: bool = False,
    sent_by: str = "system",
    ack: bool = False,
    on_not_sent: Callable[[], None] = lambda: None,
    before_send: Callable[[], None] = lambda: None,
    reserve: Reserve | None = None,
) -> Delivered:
    """Render, publish once through the outbox (SNS opt-outs honoured), store the outbound message."""
    from chalicelib import sms  # sms imports the render/config layers only; kept off the import path of events

    prepared = _prepare(effect, compose, rt)
    if isinstance(prepared, EffectResult):
        return _finished(effect, prepared, "", rfc=None, ref=None)
    body = prepared
    message_id = store.outbound_message_id(Channel.SMS, effect.effect_id)

    def send() -> Sent:
        result = sms.send_sms(
            sns=rt.sns,
            phone=phone,
            text=body.text,
            campaign=rt.campaign,
            suppressed=suppressed,
            keyword_response=keyword_response,
        )
        if not result.sent:
            raise EffectRefused(result.reason.value if result.reason else "not_sent")
        return Sent(provider_id=result.message_id or "", message_id=message_id, template=body.ref)

    def message(status: EffectStatus, created_at: str) -> MessageModel:
        return store.outbound_message_item(
            conversation_id=effect.conversation_id or "",
            channel=Channel.SMS,
            source_id=effect.effect_id,
            now=created_at or rt.clock(),
            text=body.text,
            template=body.template,
            template_ref=body.ref,
            sent_by=sent_by,
            ack=ack,
            delivery=status.value,
        )

    alongside = _stored_with_mark(message, ack=ack, rfc_message_id=None, rt=rt)
    result = outbox.perform(
        effect,
        send,
        now=rt.clock,
        before_send=before_send,
        on_not_sent=on_not_sent,
        alongside=alongside,
        reserve=reserve,
    )
    _index(result, ack=ack, conversation_id=effect.conversation_id or "", subject="", text=body.text)
    return _finished(effect, result, message_id, rfc=None, ref=body.ref)
