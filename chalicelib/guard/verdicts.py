"""SES receipt verdicts and filter flags: spam, virus, forged senders."""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.config import Campaign
from chalicelib.guard.common import _h
from chalicelib.guard.reasons import SuppressReason
from chalicelib.inbound import InboundMessage


def is_spam(msg: InboundMessage, campaign: Campaign) -> SuppressReason | None:
    """SES spam verdict per the campaign's policy, or a spam flag set by a filter on the way."""
    if msg.verdicts.get("spam", "") in campaign.sender_policy.reject_spam:
        return SuppressReason.SPAM
    if _h(msg, "x-spam-flag").upper().startswith("YES") or _h(msg, "x-spam-status").upper().startswith("YES"):
        return SuppressReason.SPAM
    return None


def is_virus(msg: InboundMessage, campaign: Campaign) -> SuppressReason | None:
    """SES virus verdict per the campaign's policy, or an infected status from a filter on the way."""
    if msg.verdicts.get("virus", "") in campaign.sender_policy.reject_virus:
        return SuppressReason.VIRUS
    if _h(msg, "x-virus-status").lower().startswith("infected"):
        return SuppressReason.VIRUS
    return None


def is_forged(msg: InboundMessage, campaign: Campaign) -> SuppressReason | None:
    """SES SPF/DKIM/DMARC verdicts that the campaign's sender policy rejects."""
    policy = campaign.sender_policy
    rules: Mapping[str, tuple[str, ...]] = {
        "spf": policy.reject_spf,
        "dkim": policy.reject_dkim,
        "dmarc": policy.reject_dmarc,
    }
    for key, rejected in rules.items():
        verdict = msg.verdicts.get(key)
        if verdict is not None and verdict in rejected:
            return SuppressReason.FORGED_SENDER
    return None
