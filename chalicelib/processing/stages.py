"""The intake stages before the commit: guard → identify → thread → screen → classify → route; reads only."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib import guard, outbox, sms, store
from chalicelib.classify import classify
from chalicelib.config import Campaign
from chalicelib.inbound import Channel, InboundMessage
from chalicelib.intake.email import normalise_subject, reference_tokens
from chalicelib.models import ConversationModel, EffectStatus, Status
from chalicelib.processing.decisions import (
    AUTOMATED,
    KEYWORD_HELP,
    KEYWORD_OPT_IN,
    KEYWORD_OPT_OUT,
    Decided,
    Guarded,
    Threaded,
)
from chalicelib.route import route

if TYPE_CHECKING:
    from chalicelib.runtime import Runtime


def keyword_effect_id(source_id: str, keyword: str) -> str:
    return f"kw-{keyword}-" + store.stable_id("keyword", source_id, keyword)


def guard_stage(msg: InboundMessage, rt: Runtime) -> Guarded:
    """SMS keywords, then the stateless no-ack checks (loops, bounces, lists, verdicts), then the sender's form."""
    identity = msg.identity()
    if msg.channel is Channel.SMS and msg.keyword and msg.sender and identity:
        if msg.keyword == sms.Keyword.STOP.value:
            return Guarded(KEYWORD_OPT_OUT, keyword="stop")
        if msg.keyword == sms.Keyword.HELP.value:
            return Guarded(KEYWORD_HELP, keyword="help")
        if msg.keyword == sms.Keyword.START.value:
            # Re-entrant: a retry after the opt-in was already undone still finds its own outbox record.
            started = outbox.get(keyword_effect_id(msg.source_id, "start")) is not None
            if started or store.suppression_reason(identity) == "opt_out":
                return Guarded(KEYWORD_OPT_IN, keyword="start")
            # "yes" answering a question is an ordinary message
    checked = guard.check_message(msg, rt.campaign)
    if checked is not None:
        return Guarded(checked.value)
    if not msg.sender:
        return Guarded(guard.SuppressReason.INVALID_SENDER.value)
    if msg.channel is not Channel.SMS and not msg.sender.split("@", 1)[0].isascii():
        # SES cannot deliver to a non-ASCII local part (SMTPUTF8): staff can still answer another way.
        return Guarded(guard.SuppressReason.INVALID_SENDER.value)
    return Guarded(None)


def identify(msg: InboundMessage, rt: Runtime) -> store.CustomerRef:
    """The customer holding the sender's identity (created on first contact).

    A phone typed on the web form is unproven: it is kept on the customer as an unverified contact
    detail and never becomes an identity, so a stranger cannot pull that number's SMS history.
    """
    identity = msg.identity() or f"unknown#{msg.channel.value}#{msg.source_id}"
    unverified = [f"phone#{msg.phone}"] if msg.phone and msg.channel is not Channel.SMS else []
    return store.upsert_customer(
        identity,
        name=msg.sender_name,
        channel=msg.channel,
        now=rt.clock(),
        unverified_contacts=unverified,
        marketing_opt_in=msg.marketing_opt_in,
    )


def _joinable(conv: ConversationModel, now: datetime, campaign: Campaign) -> bool:
    if conv.status in store.OPEN_STATUSES:
        return True
    if conv.status == Status.RESOLVED.value:
        last = datetime.fromisoformat(conv.resolved_at or conv.updated_at)
        return now - last <= campaign.reopen_window
    return False


def find_conversation(msg: InboundMessage, customer_id: str, rt: Runtime) -> ConversationModel | None:
    """Email by Message-IDs then reference token; SMS by the customer's latest SMS conversation."""
    campaign = rt.campaign
    if msg.channel is Channel.EMAIL:
        keys = [k for k in (*msg.in_reply_to, *reversed(msg.references)) if k]
        conv_id = store.conversation_by_rfc_ids(dict.fromkeys(keys)) if keys else None
        if conv_id:
            return store.get_conversation(conv_id)
        for token in reference_tokens(msg.subject, campaign.reference_prefix):
            conv = store.get_conversation(token)
            # A token alone is guessable: it only threads the customer's own conversations.
            if conv is not None and conv.customer_id == customer_id:
                return conv
        return _by_subject(msg.subject, customer_id)
    if msg.channel is Channel.SMS:
        return store.latest_conversation(customer_id, channel=Channel.SMS)
    return None  # a web-form submission is a new query by definition


# How far back the subject match looks among the customer's conversations (one Query).
SUBJECT_LOOKBACK = 20


def _by_subject(subject: str, customer_id: str) -> ConversationModel | None:
    """Clients that drop In-Reply-To still say "Re:", "AW:", "SV:"…: the same customer's email
    conversation with the same normalised subject is the thread, the newest open one first, so a reply
    to an older question is not taken for a new one. With a reply prefix, the newest with that subject
    (resolved ones reopen within the window); without one (RT-style mails that repeat the subject) only
    an open one counts."""
    base = normalise_subject(subject)
    if not base:
        return None
    same = [
        c
        for c in store.customer_conversations(customer_id, limit=SUBJECT_LOOKBACK)
        if c.channel == Channel.EMAIL.value and normalise_subject(c.subject) == base
    ]
    open_ones = [c for c in same if c.status in store.OPEN_STATUSES]
    if open_ones:
        return open_ones[0]
    prefixed = base != (subject or "").strip()
    return same[0] if same and prefixed else None


def thread(msg: InboundMessage, customer: store.CustomerRef, guarded: Guarded, rt: Runtime) -> Threaded:
    """The conversation this message joins; a retry finds the one its first delivery opened.

    The conversation a source id opened is found first (by its derived id), so a redelivery after
    any failure converges on it instead of threading anew.
    """
    if customer.created and not (msg.channel is Channel.EMAIL and (msg.in_reply_to or msg.references)):
        # A customer first seen in this delivery has no conversation of its own, and no earlier
        # delivery of this input opened one (identify runs before anything is opened): nothing to read.
        # Only a mail answering someone's thread by its Message-IDs can join an existing conversation.
        return Threaded(None)
    own = store.conversation_opened_by(msg.source_id, rt.campaign.reference_prefix, msg.reference)
    if own is not None:
        return Threaded(own)
    existing = find_conversation(msg, customer.customer_id, rt)
    if existing is not None and not _joinable(existing, rt.clock(), rt.campaign) and not guarded.automated:
        existing = None
    return Threaded(existing)


def screen_sender(
    msg: InboundMessage, guarded: Guarded, threaded: Threaded, rt: Runtime, known_log: tuple[str, ...] | None = None
) -> str | None:
    """The stateful guard checks (suppression list, per-sender rate limit), for a message that could get an ack."""
    if guarded.reason is not None:
        return guarded.reason
    existing = threaded.existing
    if existing is not None and existing.ack_sent_at is not None:
        return None  # the conversation had its one ack: nothing to hold back
    if existing is not None:
        # Our own earlier delivery may already have sent the ack: its outbox record decides, not a re-check.
        rec = outbox.get(ack_effect_id(existing.conversation_id))
        if rec is not None and rec.status != EffectStatus.PENDING.value:
            return None
    identity = msg.identity()
    assert identity is not None  # guard_stage rejected messages without a sender
    if store.suppression_reason(identity) is not None:
        return guard.SuppressReason.SUPPRESSED.value
    limit = rt.campaign.ack_rate_limit
    # The ack log as identify read it: the rate limit costs no read of its own.
    if existing is not None and store.holds_ack_slot(
        identity, ack_effect_id(existing.conversation_id), known=known_log
    ):
        return None  # this conversation's own ack already took its slot
    if not store.ack_slot_free(identity, now=rt.clock(), max_acks=limit.max_acks, window=limit.per, known=known_log):
        return guard.SuppressReason.RATE_LIMITED.value
    return None


def ack_effect_id(conversation_id: str) -> str:
    """A conversation has one ack: its effect id is the conversation's."""
    return f"ack-{conversation_id}"


def decide(msg: InboundMessage, rt: Runtime) -> Decided:
    """Run the stages up to routing; nothing here writes except the customer's identity (idempotent)."""
    guarded = guard_stage(msg, rt)
    customer = identify(msg, rt)
    threaded = thread(msg, customer, guarded, rt)
    reason = screen_sender(msg, guarded, threaded, rt, customer.ack_log)
    existing = threaded.existing
    # Only what a person wrote counts as repeated contact: a keyword (HELP, STOP, START) or an
    # auto-reply is not the customer chasing us (inbound_count counts no automated message either).
    recent = int(existing.inbound_count or 0) if existing is not None and not guarded.automated else 0
    classification = classify(
        msg, rt.campaign, customer_language=customer.language, customer_tags=customer.tags, recent_inbound_count=recent
    )
    routed = route(classification, msg.channel, customer.tags, rt.campaign)
    return Decided(
        customer=customer,
        existing=existing,
        reason=reason,
        keyword=guarded.keyword,
        classification=classification,
        route=routed,
    )


__all__ = ["AUTOMATED", "ack_effect_id", "decide", "find_conversation", "keyword_effect_id"]
