"""Machine reports about mail we sent: bounces, delays, complaints, read receipts, challenges."""

from __future__ import annotations

from chalicelib.guard.common import (
    _AWS_NOTIFICATION,
    _BOUNCE_SUBJECT,
    _CHALLENGE_SENDERS,
    _CHALLENGE_TEXT,
    _COMPLAINT_SUBJECT,
    _DELAY_SUBJECT,
    _DELAY_TEXT,
    _REPLY_PREFIX,
    _WEAK_BOUNCE_SUBJECT,
    _h,
    _head,
    _is_daemon,
    _report_type,
)
from chalicelib.guard.reasons import SuppressReason
from chalicelib.inbound import Channel, InboundMessage


def is_complaint(msg: InboundMessage) -> SuppressReason | None:
    """ARF feedback reports (RFC 5965), pre-ARF Hotmail complaints, SES complaint notifications."""
    if _report_type(msg) == "feedback-report" or "message/feedback-report" in msg.content_types:
        return SuppressReason.COMPLAINT
    if msg.channel is Channel.EMAIL and _COMPLAINT_SUBJECT.match(msg.subject):
        return SuppressReason.COMPLAINT
    if _aws_notification(msg) == "complaint":
        return SuppressReason.COMPLAINT
    return None


def _aws_notification(msg: InboundMessage) -> str | None:
    """The type of an SES feedback notification delivered by email through SNS, if this is one."""
    if not msg.sender.endswith(("@sns.amazonaws.com", "@amazonses.com")):
        return None
    m = _AWS_NOTIFICATION.search(_head(msg, 5000))
    return m.group(1).lower() if m else None


def is_mdn(msg: InboundMessage) -> SuppressReason | None:
    """Read receipts (RFC 8098 message/disposition-notification)."""
    if _report_type(msg) == "disposition-notification" or any(
        ct.endswith("disposition-notification") for ct in msg.content_types
    ):
        return SuppressReason.MDN
    return None


def _looks_like_dsn(msg: InboundMessage) -> bool:
    return (
        _report_type(msg) in ("delivery-status", "global-delivery-status")
        or any(ct.endswith("delivery-status") for ct in msg.content_types)
        or msg.return_path == ""
        or _is_daemon(msg.sender)
        or _is_daemon(msg.return_path)
    )


def is_delay_warning(msg: InboundMessage) -> SuppressReason | None:
    """Transient "still retrying" DSNs: no bounce yet, but not a customer either."""
    if msg.channel is not Channel.EMAIL:
        return None
    action = _h(msg, "x-replydesk-dsn-action").lower()
    if action:
        actions = {a.strip() for a in action.split(",")}
        return SuppressReason.DELAY_WARNING if actions <= {"delayed", "relayed", "expanded"} else None
    if _looks_like_dsn(msg) and (_DELAY_SUBJECT.search(msg.subject) or _DELAY_TEXT.search(_head(msg))):
        return SuppressReason.DELAY_WARNING
    return None


def is_bounce(msg: InboundMessage) -> SuppressReason | None:
    """DSNs and non-standard bounces: report shape, daemon senders, bounce subjects."""
    if msg.channel is not Channel.EMAIL:
        return None
    if _report_type(msg) in ("delivery-status", "global-delivery-status") or any(
        ct in ("message/delivery-status", "message/global-delivery-status") for ct in msg.content_types
    ):
        return SuppressReason.BOUNCE
    if _is_daemon(msg.sender) or _is_daemon(msg.return_path) or _h(msg, "x-failed-recipients"):
        return SuppressReason.BOUNCE
    if _aws_notification(msg) in ("bounce", "delivery"):
        return SuppressReason.BOUNCE
    if _BOUNCE_SUBJECT.search(msg.subject) and not _REPLY_PREFIX.match(msg.subject):
        return SuppressReason.BOUNCE
    # A weak phrase alone is not enough; it must come with the null sender or the returned original.
    if (_BOUNCE_SUBJECT.search(msg.subject) or _WEAK_BOUNCE_SUBJECT.search(msg.subject)) and (
        msg.return_path == "" or "message/rfc822" in msg.content_types or "text/rfc822-headers" in msg.content_types
    ):
        return SuppressReason.BOUNCE
    return None


def is_null_sender(msg: InboundMessage) -> SuppressReason | None:
    """An empty envelope sender `<>` (RFC 5321 §4.5.5: notifications that must not be answered)."""
    if msg.channel is Channel.EMAIL and msg.return_path == "":
        return SuppressReason.NULL_SENDER
    return None


def is_challenge_response(msg: InboundMessage) -> SuppressReason | None:
    """Sender-verification challenges (Boxbe, Bluebottle, whitelist confirmations)."""
    if msg.channel is not Channel.EMAIL:
        return None
    if any(name.startswith(("x-bluebottle-", "x-boxbe-")) for name in msg.headers):
        return SuppressReason.CHALLENGE_RESPONSE
    for address in (msg.sender, msg.return_path or ""):
        if address.endswith(_CHALLENGE_SENDERS):
            return SuppressReason.CHALLENGE_RESPONSE
    # Bounces often quote "sender verification failed" from the remote MTA; only non-DSNs count.
    if not _looks_like_dsn(msg) and _CHALLENGE_TEXT.search(_head(msg)):
        return SuppressReason.CHALLENGE_RESPONSE
    return None
