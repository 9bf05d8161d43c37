"""The one processing path: intake record → guard → classify → route → store → acknowledge → workflow."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from chalicelib import aws, guard, runtime, store, workflow
from chalicelib.acknowledge import compose_email, reply_subject, send_email, template_context
from chalicelib.classify import Classification, classify, warm_up
from chalicelib.config import Campaign, get_settings
from chalicelib.errors import InvalidInput, SegmentBudgetExceeded, TransientError, is_retryable
from chalicelib.inbound import Attachment, Channel, InboundMessage
from chalicelib.intake import web as web_intake
from chalicelib.intake.loader import load_inbound
from chalicelib.metrics import Metric, count, milliseconds
from chalicelib.models import ConversationModel, Status
from chalicelib.observability import logger
from chalicelib.route import Route, route
from chalicelib.runtime import Runtime

# Reasons that mean "a machine wrote this": stored for the record, but no staff work item is opened.
KEYWORD_OPT_OUT = "keyword_stop"
KEYWORD_OPT_IN = "keyword_start"
KEYWORD_HELP = "keyword_help"
AUTOMATED = frozenset(
    {
        "auto_reply",
        "bounce",
        "complaint",
        "mdn",
        "challenge_response",
        "delay_warning",
        "mailing_list",
        "own_mail",
        "spam",
        "virus",
        "null_sender",
        "automated_sender",
        KEYWORD_OPT_OUT,
        KEYWORD_OPT_IN,
        KEYWORD_HELP,
    }
)


@functools.cache
def get_runtime() -> Runtime:
    """The intake path's runtime: the shared one, with the classifier's models loaded at cold start."""
    rt = runtime.get_runtime()
    warm_up(rt.campaign)  # outside any message's timing
    return rt


# ------------------------------------------------------------------ handling one message


@dataclass(frozen=True, slots=True)
class Outcome:
    conversation_id: str
    message_stored: bool
    ack: bool
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "message_stored": self.message_stored,
            "ack": self.ack,
            "reason": self.reason,
        }


def find_conversation(msg: InboundMessage, customer_id: str, rt: Runtime) -> ConversationModel | None:
    """Email by Message-IDs then reference token; SMS by the customer's latest SMS conversation."""
    campaign = rt.campaign
    if msg.channel is Channel.EMAIL:
        keys = [k for k in (*msg.in_reply_to, *reversed(msg.references)) if k]
        conv_id = store.conversation_by_rfc_ids(dict.fromkeys(keys)) if keys else None
        if conv_id:
            return store.get_conversation(conv_id)
        from chalicelib.intake.email import normalise_subject, reference_tokens

        for token in reference_tokens(msg.subject, campaign.reference_prefix):
            conv = store.get_conversation(token)
            # A token alone is guessable: it only threads the customer's own conversations.
            if conv is not None and conv.customer_id == customer_id:
                return conv
        # Clients that drop In-Reply-To still say "Re:"/"AW:": the same customer's latest email
        # conversation with the same subject is the thread.
        # Without a prefix (RT-style mails that repeat the subject) only an open one counts.
        base = normalise_subject(msg.subject)
        latest = store.latest_conversation(customer_id, channel=Channel.EMAIL) if base else None
        if (
            latest is not None
            and normalise_subject(latest.subject) == base
            and (base != (msg.subject or "").strip() or latest.status in store.OPEN_STATUSES)
        ):
            return latest
        return None
    if msg.channel is Channel.SMS:
        return store.latest_conversation(customer_id, channel=Channel.SMS)
    return None  # a web-form submission is a new query by definition


def _joinable(conv: ConversationModel, now: datetime, campaign: Campaign) -> bool:
    if conv.status in store.OPEN_STATUSES:
        return True
    if conv.status == Status.RESOLVED.value:
        last = datetime.fromisoformat(conv.resolved_at or conv.updated_at)
        return now - last <= campaign.reopen_window
    return False


def handle_inbound(msg: InboundMessage, rt: Runtime) -> Outcome:
    """Everything after parsing; each write is conditional, so a redelivery repeats nothing."""
    campaign = rt.campaign
    now = rt.clock()
    identity = msg.identity() or f"unknown#{msg.channel.value}#{msg.source_id}"
    reason: str | None = None
    if msg.channel is Channel.SMS and msg.keyword and msg.sender:
        reason = handle_sms_keyword(msg, identity, rt)
    if reason is None:
        checked = guard.check_message(msg, campaign)
        reason = checked.value if checked else None
    if reason is None and not msg.sender:
        reason = guard.SuppressReason.INVALID_SENDER.value
    if reason is None and msg.channel is not Channel.SMS and not msg.sender.split("@", 1)[0].isascii():
        # SES cannot deliver to a non-ASCII local part (SMTPUTF8): staff can still answer another way.
        reason = guard.SuppressReason.INVALID_SENDER.value
    extra = [f"phone#{msg.phone}"] if msg.phone and msg.channel is not Channel.SMS else []
    customer = store.upsert_customer(
        identity,
        name=msg.sender_name,
        channel=msg.channel,
        now=now,
        extra_identities=extra,
        marketing_opt_in=msg.marketing_opt_in,
    )
    logger.append_keys(customer_id=customer.customer_id)

    existing = find_conversation(msg, customer.customer_id, rt)
    if existing is not None and not _joinable(existing, now, campaign) and (reason is None or reason not in AUTOMATED):
        existing = None
    if reason is None and (existing is None or existing.ack_sent_at is None):
        if store.suppression_reason(identity) is not None:
            reason = guard.SuppressReason.SUPPRESSED.value
        elif not store.ack_slot_free(
            identity, now=now, max_acks=campaign.ack_rate_limit.max_acks, window=campaign.ack_rate_limit.per
        ):
            reason = guard.SuppressReason.RATE_LIMITED.value
    recent = int(existing.inbound_count or 0) if existing is not None else 0
    classification = classify(
        msg, campaign, customer_language=customer.language, customer_tags=customer.tags, recent_inbound_count=recent
    )
    routed = route(classification, msg.channel, customer.tags, campaign)

    if existing is not None:
        conv_id = existing.conversation_id
        created = False
    else:
        conv_id, created = _open_conversation(
            msg, customer.customer_id, routed, rt, automated=(reason is not None and reason in AUTOMATED)
        )
    logger.set_correlation_id(conv_id)

    item = store.inbound_message_item(
        msg,
        conversation_id=conv_id,
        classification=classification.to_dict(),
        suppressed_reason=reason,
        attachments=[_attachment_dict(a) for a in msg.attachments],
    )
    stored = store.put_message(item)
    conv = store.get_conversation(conv_id)
    assert conv is not None, "conversation vanished between its write and read"
    if stored:
        count(Metric.MESSAGES_RECEIVED, channel=msg.channel.value)
        if reason is None or reason not in AUTOMATED:
            was = conv.status
            store.record_inbound(conv, now=now, reopen=True)
            if was == Status.PENDING_CUSTOMER.value:
                _resume_workflow(conv, rt)
            if CALLBACK_RE.search(msg.body[:2000]) and not created:
                _request_callback(conv, msg, rt)
        if created or conv.topic == "unknown":
            store.set_classification(
                conv_id,
                topic=classification.topic,
                language=classification.language,
                urgency=classification.urgency,
                sentiment=classification.sentiment,
                reasons=list(classification.reasons),
                queue=routed.queue,
                status=conv.status,
                due=conv.first_response_due,
            )
        elif _more_urgent(classification.urgency, conv.urgency) and int(conv.workflow_version or 0):
            _reprioritise(conv, classification.urgency, rt)
        if customer.language is None and classification.language_source == "detected":
            store.set_customer_language(customer.customer_id, classification.language)
    else:
        count(Metric.DUPLICATES_IGNORED, channel=msg.channel.value)

    acked = False
    if reason is not None:
        if stored:
            count(Metric.ACK_SUPPRESSED, channel=msg.channel.value, reason=reason)
        logger.info("ack suppressed", extra={"reason": reason, "channel": msg.channel.value})
    elif conv.ack_sent_at is None:
        acked = acknowledge(msg, conv, customer.name or msg.sender_name, classification, rt)
    if created and (reason is None or reason not in AUTOMATED):
        count(Metric.CONVERSATIONS_CLASSIFIED, topic=classification.topic, language=classification.language)
        _start_workflow(conv_id, rt)
    return Outcome(conversation_id=conv_id, message_stored=stored, ack=acked, reason=reason)


def _attachment_dict(a: Attachment) -> dict[str, Any]:
    return {
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.size,
        "s3_key": a.s3_key,
        "inline": a.inline,
        "content_id": a.content_id,
    }


def _open_conversation(
    msg: InboundMessage, customer_id: str, routed: Route, rt: Runtime, *, automated: bool
) -> tuple[str, bool]:
    reference = msg.reference
    for _ in range(5):
        ref = reference or web_intake.new_reference(rt.campaign.reference_prefix)
        conv = store.create_conversation(
            reference=ref, customer_id=customer_id, msg=msg, queue=routed.queue, now=rt.clock()
        )
        if conv is not None:
            if automated:
                ConversationModel(conversation_id=conv.conversation_id).update(
                    actions=[
                        ConversationModel.status.set(Status.CLOSED.value),
                        ConversationModel.status_due.set(store.status_due(Status.CLOSED.value, None)),
                    ]
                )
            else:
                count(Metric.CONVERSATIONS_CREATED, channel=msg.channel.value)
            return conv.conversation_id, True
        reference = None  # taken by another conversation: draw a new one
    raise TransientError("could not allocate a unique reference number")


def handle_sms_keyword(msg: InboundMessage, identity: str, rt: Runtime) -> str | None:
    """STOP opts out (confirmed once), START opts back in, HELP answers; None for an ordinary message.

    Returns the reason stored on the message: keyword messages are kept but open no work for staff.
    """
    from chalicelib import sms

    campaign = rt.campaign
    now = rt.clock()
    context = template_context(
        campaign=campaign, customer_name="", reference="", language=(campaign.default_language), topic=None
    )
    if msg.keyword == sms.Keyword.STOP.value:
        if store.add_suppression(identity, reason="opt_out", source="sms", now=now):
            count(Metric.SUPPRESSIONS_ADDED, reason="opt_out")
            text = rt.templates.render("opt_out_confirmation", "sms", "txt", None, context).text
            # Carrier rules allow exactly this one message to a number that just opted out.
            sms.send_sms(
                sns=rt.sns,
                phone=msg.sender,
                text=sms.fit_to_budget(text, campaign.sms.segment_budget),
                campaign=campaign,
                suppressed=lambda _p: False,
                keyword_response=True,
            )
        return KEYWORD_OPT_OUT
    if msg.keyword == sms.Keyword.START.value:
        if store.suppression_reason(identity) != "opt_out":
            return None  # "yes" answering a question is an ordinary message
        store.remove_suppression(identity, only_reason="opt_out")
        text = rt.templates.render("opt_in_confirmation", "sms", "txt", None, context).text
        sms.send_sms(
            sns=rt.sns,
            phone=msg.sender,
            text=sms.fit_to_budget(text, campaign.sms.segment_budget),
            campaign=campaign,
            suppressed=lambda _p: False,
            keyword_response=True,
        )
        return KEYWORD_OPT_IN
    if msg.keyword == sms.Keyword.HELP.value:
        sms.send_sms(
            sns=rt.sns,
            phone=msg.sender,
            text=campaign.sms.help_text,
            campaign=campaign,
            suppressed=lambda _p: False,
            keyword_response=True,
        )
        return KEYWORD_HELP
    return None


def acknowledge(
    msg: InboundMessage, conv: ConversationModel, customer_name: str, classification: Classification, rt: Runtime
) -> bool:
    """Send the conversation's one ack on the customer's channel; claim first, release if sending fails."""
    campaign = rt.campaign
    now = rt.clock()
    identity = msg.identity()
    assert identity is not None
    limit = campaign.ack_rate_limit
    if not store.claim_ack(conv.conversation_id, now):
        return False
    try:
        if not store.take_ack_slot(identity, now=now, max_acks=limit.max_acks, window=limit.per):
            store.release_ack(conv.conversation_id)  # a racing delivery took the last slot
            count(Metric.ACK_SUPPRESSED, channel=msg.channel.value, reason=guard.SuppressReason.RATE_LIMITED.value)
            logger.info("ack suppressed", extra={"reason": "rate_limited"})
            return False
        if msg.channel is Channel.SMS:
            sent = _acknowledge_sms(msg, conv, classification, rt)
        else:
            _acknowledge_email(msg, conv, customer_name, classification, rt)
            sent = True
    except SegmentBudgetExceeded as exc:
        # A template too long for the campaign's SMS budget: a configuration fault, not the customer's.
        store.release_ack(conv.conversation_id)
        count(Metric.ACK_SUPPRESSED, channel=msg.channel.value, reason="template_too_long")
        logger.error("ack template over SMS budget", extra={"segments": exc.segments, "budget": exc.budget})
        return False
    except Exception:
        store.release_ack(conv.conversation_id)
        raise
    if not sent:
        store.release_ack(conv.conversation_id)  # nothing went out: the conversation is still unacknowledged
        return False
    count(Metric.ACK_SENT, channel=msg.channel.value)
    milliseconds(Metric.ACK_LATENCY, max(0.0, (rt.clock() - msg.received_at).total_seconds() * 1000))
    logger.info("ack sent", extra={"channel": msg.channel.value, "language": classification.language})
    return True


def _acknowledge_email(
    msg: InboundMessage, conv: ConversationModel, customer_name: str, classification: Classification, rt: Runtime
) -> None:
    campaign = rt.campaign
    context = template_context(
        campaign=campaign,
        customer_name=customer_name,
        reference=conv.reference,
        language=classification.language,
        topic=classification.topic,
    )
    threaded = msg.channel is Channel.EMAIL and msg.message_id is not None
    email = compose_email(
        purpose="acknowledge",
        campaign=campaign,
        templates=rt.templates,
        to=msg.sender,
        to_name=msg.sender_name,
        language=classification.language,
        context=context,
        now=rt.clock(),
        subject=reply_subject(msg.subject, conv.reference) if threaded else None,
        in_reply_to=msg.message_id if threaded else None,
        references=msg.references if threaded else (),
    )
    send_email(email, ses=rt.ses, campaign=campaign)
    store.put_message(
        store.outbound_message_item(
            conversation_id=conv.conversation_id,
            channel=Channel.EMAIL,
            source_id=f"ack-{conv.conversation_id}",
            now=rt.clock(),
            text=email.text,
            subject=email.subject,
            rfc_message_id=email.message_id,
            template=email.template,
            ack=True,
        )
    )
    store.confirm_ack(conv.conversation_id, email.message_id)


def _acknowledge_sms(msg: InboundMessage, conv: ConversationModel, classification: Classification, rt: Runtime) -> bool:
    from chalicelib import sms

    campaign = rt.campaign
    context = template_context(
        campaign=campaign,
        customer_name="",
        reference=conv.reference,
        language=classification.language,
        topic=classification.topic,
    )
    rendered = rt.templates.render("acknowledge", "sms", "txt", classification.language, context)
    text = sms.fit_to_budget(rendered.text, campaign.sms.segment_budget)
    result = sms.send_sms(
        sns=rt.sns,
        phone=msg.sender,
        text=text,
        campaign=campaign,
        suppressed=lambda phone: store.suppression_reason(f"phone#{phone}") is not None,
    )
    if not result.sent:
        reason = result.reason.value if result.reason else "not_sent"
        count(Metric.ACK_SUPPRESSED, channel=msg.channel.value, reason=reason)
        logger.info("ack suppressed", extra={"reason": reason})
        return False
    store.put_message(
        store.outbound_message_item(
            conversation_id=conv.conversation_id,
            channel=Channel.SMS,
            source_id=f"ack-{conv.conversation_id}",
            now=rt.clock(),
            text=text,
            template=rendered.template,
            ack=True,
        )
    )
    store.confirm_ack(conv.conversation_id, None)
    return True


def _start_workflow(conv_id: str, rt: Runtime) -> None:
    """Start the conversation's SLA clock (version 1); a redelivery starts the same execution again."""
    conv = store.get_conversation(conv_id)
    if conv is None or int(conv.workflow_version or 0) > 1:
        return
    queue = rt.campaign.queues[conv.queue]
    deadlines = workflow.compute_deadlines(
        workflow.parse_timestamp(conv.created_at), conv.urgency, queue, rt.campaign.business_hours
    )
    first_due = store.iso(deadlines.first_response_due) if deadlines.first_response_due else None
    # The version is stored before the start: the machine escalates only while it matches.
    store.set_clock(
        conv_id,
        version=1,
        first_response_due=first_due,
        resolution_due=store.iso(deadlines.resolution_due),
        execution=None,
        status=conv.status,
    )
    arn = workflow.start_sla_clock(
        sfn=rt.sfn,
        state_machine_arn=rt.settings.sla_state_machine_arn,
        conversation_id=conv_id,
        version=1,
        deadlines=deadlines,
        urgency=conv.urgency,
        queue=queue,
        hours=rt.campaign.business_hours,
    )
    store.set_clock(
        conv_id,
        version=1,
        first_response_due=first_due,
        resolution_due=store.iso(deadlines.resolution_due),
        execution=arn,
        status=conv.status,
    )


def _resume_workflow(conv: ConversationModel, rt: Runtime) -> None:
    """The customer answered while we waited on them: the resolution clock runs again."""
    paused_at = workflow.paused_since(conv)
    if paused_at is None or conv.resolution_due is None:
        return
    queue = rt.campaign.queues[conv.queue]
    change = workflow.resume_sla_clock(
        sfn=rt.sfn,
        state_machine_arn=rt.settings.sla_state_machine_arn,
        conversation_id=conv.conversation_id,
        version=int(conv.workflow_version or 1),
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
    )


def _more_urgent(new: str, old: str) -> bool:
    from chalicelib.config import URGENCIES

    return new in URGENCIES and old in URGENCIES and URGENCIES.index(new) > URGENCIES.index(old)


def _reprioritise(conv: ConversationModel, urgency: str, rt: Runtime) -> None:
    """A later message raised the urgency (e.g. a chargeback threat): deadlines from the stricter target."""
    conv = store.get_conversation(conv.conversation_id) or conv  # a resume just now bumped the version
    queue = rt.campaign.queues[conv.queue]
    change = workflow.reprioritise(
        sfn=rt.sfn,
        state_machine_arn=rt.settings.sla_state_machine_arn,
        conversation_id=conv.conversation_id,
        version=int(conv.workflow_version or 1),
        created_at=workflow.parse_timestamp(conv.created_at),
        urgency=urgency,
        queue=queue,
        hours=rt.campaign.business_hours,
        first_response_met=conv.first_response_at is not None,
        now=rt.clock(),
    )
    ConversationModel(conversation_id=conv.conversation_id).update(actions=[ConversationModel.urgency.set(urgency)])
    first_due = change.deadlines.first_response_due
    store.set_clock(
        conv.conversation_id,
        version=change.version,
        first_response_due=store.iso(first_due) if first_due else None,
        resolution_due=store.iso(change.deadlines.resolution_due),
        execution=change.execution_arn,
        status=conv.status,
        timeline_entry=change.entry.to_item(),
    )


CALLBACK_RE = re.compile(
    r"\b(call me|please call|ring me|call back|callback|ring mig|ringa mig|rufen sie mich an|r[üu]ckruf|"
    r"appelez[- ]moi|rappel|ll[áa]m[ae]me|devu[ée]lvame la llamada)\b",
    re.IGNORECASE,
)


def _request_callback(conv: ConversationModel, msg: InboundMessage, rt: Runtime) -> None:
    """ "Call me" after a staff answer becomes a call-back task on the conversation, visible in its queue."""
    now = store.iso(rt.clock())
    store.add_timeline(
        conv.conversation_id,
        workflow.TimelineEntry(rt.clock(), "callback_requested", msg.channel.value).to_item(),
        ConversationModel.callback_requested_at.set(now),
    )


# ------------------------------------------------------------------ the SQS record handler


def park_in_dlq(record: SQSRecord, reason: str, rt: Runtime) -> None:
    """Move a record that can never succeed to the DLQ, with the reason as a message attribute."""
    aws.sqs().send_message(
        QueueUrl=rt.settings.intake_dlq_url,
        MessageBody=record.body,
        MessageAttributes={
            "reason": {"DataType": "String", "StringValue": reason[:256]},
            "source_queue_message_id": {"DataType": "String", "StringValue": record.message_id},
        },
    )


@functools.cache
def idempotency_config() -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="source_id", raise_on_no_idempotency_key=True, expires_after_seconds=7 * 24 * 3600
    )


def register_lambda_context(context: Any) -> None:
    """Lets idempotency records expire with the invocation if it times out mid-record."""
    if context is not None:
        idempotency_config().register_lambda_context(context)


@functools.cache
def intake_record_handler() -> Callable[[SQSRecord], dict[str, Any]]:
    """The batch record handler, with idempotency keyed on the channel's source id (not the SQS id)."""
    settings = get_settings()
    persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=aws.dynamodb())
    config = idempotency_config()

    @idempotent_function(  # type: ignore[untyped-decorator]  # Powertools leaves it untyped
        data_keyword_argument="key", persistence_store=persistence, config=config
    )
    def handle_once(*, key: dict[str, str], msg: InboundMessage) -> dict[str, Any]:
        return handle_inbound(msg, get_runtime()).to_dict()

    def record_handler(record: SQSRecord) -> dict[str, Any]:
        rt = get_runtime()
        started = time.perf_counter()
        try:
            msg = load_inbound(record.body, rt)
        except InvalidInput as exc:
            # Retrying cannot fix it: park it in the DLQ with the reason now; its raw object stays in S3.
            count(Metric.MESSAGES_REJECTED, reason="invalid_input")
            logger.warning("input rejected", extra={"reason": exc.reason, "sqs_message_id": record.message_id})
            park_in_dlq(record, exc.reason, rt)
            return {"rejected": exc.reason}
        logger.set_correlation_id(msg.source_id)
        try:
            result: dict[str, Any] = handle_once(key={"source_id": f"{msg.channel.value}#{msg.source_id}"}, msg=msg)
        except Exception as exc:
            if is_retryable(exc):
                raise  # back to the queue; after maxReceiveCount SQS moves it to the DLQ
            count(Metric.PROCESSING_FAILED, channel=msg.channel.value)
            logger.exception("processing failed", extra={"error": type(exc).__name__})
            park_in_dlq(record, f"{type(exc).__name__}: {exc}", rt)
            return {"rejected": type(exc).__name__}
        finally:
            logger.remove_keys(["customer_id"])
        logger.info(
            "message processed",
            extra={
                "channel": msg.channel.value,
                "ack": result.get("ack"),
                "reason": result.get("reason"),
                "text_length": len(msg.text),
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return result

    return record_handler
