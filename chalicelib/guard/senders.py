"""Who sent it: no sender, an unusable address, or an address that never reads its mail."""

from __future__ import annotations

import functools
import re

from chalicelib.config import Campaign
from chalicelib.guard.common import _EMAIL_RE
from chalicelib.guard.reasons import SuppressReason
from chalicelib.inbound import Channel, InboundMessage


def has_sender(msg: InboundMessage) -> SuppressReason | None:
    """No sender identity at all (no From address, no phone): nobody to acknowledge."""
    if not msg.sender:
        return SuppressReason.NO_SENDER
    if msg.channel is not Channel.SMS and not _EMAIL_RE.match(msg.sender):
        return SuppressReason.INVALID_SENDER
    return None


@functools.lru_cache(maxsize=8)
def _automated_local_part(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("^(?:" + "|".join(f"(?:{p})" for p in patterns) + ")$", re.IGNORECASE)


def is_automated_sender(msg: InboundMessage, campaign: Campaign) -> SuppressReason | None:
    """An address that never reads its mail: no-reply@, do-not-reply@, mailer-daemon@, postmaster@ ...

    The local parts are the campaign's `guard.automated_senders` (full-match regexes; Zammad's
    send_no_auto_response_reg_exp is the reference for the default list).
    """
    if msg.channel is Channel.SMS or "@" not in msg.sender:
        return None
    local = msg.sender.rsplit("@", 1)[0]
    if _automated_local_part(campaign.guard.automated_senders).match(local):
        return SuppressReason.AUTOMATED_SENDER
    return None


def is_own_number(msg: InboundMessage, campaign: Campaign) -> SuppressReason | None:
    """An SMS from the campaign's own number: our own message looping back, never a customer."""
    if msg.channel is Channel.SMS and msg.sender and msg.sender == campaign.sms.number:
        return SuppressReason.OWN_MAIL
    return None
