"""The stateless no-ack checks in order: the first reason wins (DESIGN §7)."""

from __future__ import annotations

from chalicelib.config import Campaign, ClosingMail
from chalicelib.guard.loops import is_auto_reply, is_foreign_loop, is_mailing_list, is_own_mail
from chalicelib.guard.reasons import Check, SuppressReason
from chalicelib.guard.reports import (
    is_bounce,
    is_challenge_response,
    is_complaint,
    is_delay_warning,
    is_mdn,
    is_null_sender,
)
from chalicelib.guard.senders import has_sender, is_automated_sender, is_own_number
from chalicelib.guard.verdicts import is_forged, is_spam, is_virus
from chalicelib.inbound import Channel, InboundMessage


def is_bounced_by_closing(msg: InboundMessage, campaign: Campaign) -> SuppressReason | None:
    """Mail to a closed campaign that bounces it (`closing.mail: bounce`): SES's receipt rule answered
    the sender with the bounce, so the message is stored but never acknowledged too."""
    closing = campaign.closing
    if msg.channel == Channel.EMAIL and closing.closed and closing.mail is ClosingMail.BOUNCE:
        return SuppressReason.CAMPAIGN_CLOSED
    return None


def check_message(msg: InboundMessage, campaign: Campaign) -> SuppressReason | None:
    """Run the stateless checks in order and return the first reason, or None (ack allowed).

    Loop protection and SES verdicts come first because they are the most certain; reports
    (complaint, MDN, delay, bounce) before the softer auto-reply and list heuristics.
    """
    checks: tuple[Check, ...] = (
        lambda m: is_own_mail(m, campaign),
        lambda m: is_own_number(m, campaign),
        lambda m: is_virus(m, campaign),
        lambda m: is_spam(m, campaign),
        lambda m: is_forged(m, campaign),
        is_complaint,
        is_mdn,
        is_challenge_response,
        is_delay_warning,
        is_bounce,
        is_auto_reply,
        is_mailing_list,
        lambda m: is_automated_sender(m, campaign),
        is_foreign_loop,
        is_null_sender,
        has_sender,
        lambda m: is_bounced_by_closing(m, campaign),
    )
    for check in checks:
        reason = check(msg)
        if reason is not None:
            return reason
    return None
