"""The no-ack checks (DESIGN §7): small named predicates run in order; the first reason wins."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from enum import StrEnum

from chalicelib.config import Campaign
from chalicelib.inbound import Channel, InboundMessage


class SuppressReason(StrEnum):
    """Why a message got no acknowledgement; stored in DynamoDB and a metric dimension: never rename."""

    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    MDN = "mdn"
    CHALLENGE_RESPONSE = "challenge_response"
    DELAY_WARNING = "delay_warning"
    MAILING_LIST = "mailing_list"
    OWN_MAIL = "own_mail"
    FORGED_SENDER = "forged_sender"
    SPAM = "spam"
    VIRUS = "virus"
    NULL_SENDER = "null_sender"
    NO_SENDER = "no_sender"
    INVALID_SENDER = "invalid_sender"
    # Stateful checks (suppression table, per-sender rate limit, SMS opt-out) live with the store.
    SUPPRESSED = "suppressed"
    RATE_LIMITED = "rate_limited"
    OPTED_OUT = "opted_out"


Check = Callable[[InboundMessage], "SuppressReason | None"]

# --------------------------------------------------------------------------------------------
# Patterns. Subjects are matched case-insensitively on the decoded subject.

# Phrases an auto-responder puts in its subject. Single words a customer might use ("vacation",
# "absent", "Auto:" for a car) need the auto-reply context around them.
_AUTO_REPLY_SUBJECT = re.compile(
    r"(?:\bout of (?:the )?office|\booo\b|\bautomatic reply|\bauto(?:matic)?[- ]?(?:reply|response|answer)|"
    r"\bautoreply|\bautoresponse|^\s*auto:|\bvacation (?:reply|message|notice|response|auto)|"
    r"\b(?:i am|i'm) on vacation|\baway from (?:the|my) (?:office|desk)|"
    r"abwesenheitsnotiz|automatische antwort|nicht im büro|"
    r"réponse automatique|absence du bureau|absent du bureau|message d'absence|"
    r"frånvaro|autosvar|automatiskt svar|är inte på kontoret|"
    r"fuera de la oficina|respuesta automática|respuesta automatica|"
    r"risposta automatica|fuori sede|fuori ufficio|"
    r"afwezigheidsbericht|automatisch antwoord|"
    r"automatyczna odpowiedź|resposta automática|"
    r"自动回复|自動応答|自動返信)",
    re.IGNORECASE,
)
# Subjects MTAs give their bounces; standard enough to count on their own (except in a reply).
_BOUNCE_SUBJECT = re.compile(
    r"(?:undeliver|undelivered mail|delivery status notification|mail delivery fail|delivery fail|"
    r"returned mail|returned to sender|failure notice|non[- ]?deliver|nondeliver|"
    r"mail system error|unzustellbar|nicht zustellbar|non remis|échec de (?:la )?remise|"
    r"onbestelbaar|olevererbart|undelivered message|returned message)",
    re.IGNORECASE,
)
# Phrases a customer might also write ("my payment was rejected:"): they need a bounce's shape too.
_WEAK_BOUNCE_SUBJECT = re.compile(
    r"(?:delivery problem|could not be delivered|couldn't be delivered|message not delivered|"
    r"delivery notification|no se puede entregar|kunde inte levereras|permanent error|rejected:|"
    r"message rejected|mailbox (?:is )?full|quota exceeded|delivery report)",
    re.IGNORECASE,
)
_REPLY_PREFIX = re.compile(r"^\s*(?:re|aw|sv|antw|vs)\s*:", re.IGNORECASE)
_DELAY_SUBJECT = re.compile(
    r"(?:\(delay\)|delayed mail|delivery delayed|message delayed|still being retried|"
    r"warning: could not send|warning: message|delivery status notification \(delay\)|"
    r"not yet been delivered|temporarily deferred|zustellung verzögert|remise retardée)",
    re.IGNORECASE,
)
_DELAY_TEXT = re.compile(
    r"(?:this is a warning (?:message )?only|you do not need to resend|"
    r"will (?:continue to )?(?:be )?retr(?:y|ied)|has not yet been delivered|has been delayed|"
    r"still trying to deliver)",
    re.IGNORECASE,
)
_CHALLENGE_TEXT = re.compile(
    r"(?:verify (?:that )?you are (?:a )?human|prove (?:that )?you are (?:a )?human|"
    r"(?:added|add your address) to (?:the recipient's |my )?(?:allowed|approved|guest|white) ?list|"
    r"whitelist(?:ed)? (?:your|you)|sender verification|verify your (?:email|address) to deliver|"
    r"(?:protected|screened) by (?:bluebottle|boxbe|spam ?arrest|mailblocks|choicemail)|boxbe guest list|"
    r"please (?:click|confirm).{0,80}(?:deliver|verif))",
    re.IGNORECASE | re.DOTALL,
)
_CHALLENGE_SENDERS = ("boxbe.com", "bluebottle.com", "spamarrest.com", "mailblocks.com", "sanebox.com")
_DAEMON_LOCAL = re.compile(
    r"^(?:mailer-daemon|mailer_daemon|mailerdaemon|mail-daemon|maildaemon|postmaster|post_master|"
    r"mdaemon|mail\.?delivery\.?system|double-bounce)(?:[+=.-].*)?$",
    re.IGNORECASE,
)
_COMPLAINT_SUBJECT = re.compile(r"^\s*(?:complaint about message from|abuse report\b|spam report\b)", re.IGNORECASE)
# The SNS envelope JSON-escapes the SES message inside it, so the quotes may carry a backslash.
_AWS_NOTIFICATION = re.compile(r'\\?"notificationType\\?"\s*:\s*\\?"(Bounce|Complaint|Delivery)', re.IGNORECASE)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_REPORT_TYPE = re.compile(r"report-type\s*=\s*\"?([\w-]+)", re.IGNORECASE)

# RFC 2369/2919 list headers plus the older ezmlm/fml/Mailman markers.
_LIST_HEADERS = (
    "list-id",
    "list-unsubscribe",
    "list-post",
    "list-subscribe",
    "list-help",
    "list-owner",
    "mailing-list",
    "x-mailing-list",
    "x-mlserver",
    "x-ml-name",
    "x-beenthere",
)
_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
_SUPPRESS_AUTO_RESPONSE = frozenset({"all", "autoreply", "oof"})
_AUTO_REPLY_HEADERS = (
    "x-autoreply",
    "x-autorespond",
    "x-autogenerated",
    "x-autoreply-from",
    "x-mail-autoreply",
    "x-ms-exchange-inbox-rules-loop",
)


def _h(msg: InboundMessage, name: str) -> str:
    return msg.headers.get(name, "").strip()


def _report_type(msg: InboundMessage) -> str:
    ctype = _h(msg, "content-type")
    if not ctype.lower().startswith("multipart/report"):
        return ""
    m = _REPORT_TYPE.search(ctype)
    return m.group(1).lower() if m else ""


def _is_daemon(address: str | None) -> bool:
    if not address:
        return False
    return bool(_DAEMON_LOCAL.match(address.rsplit("@", 1)[0]))


def _head(msg: InboundMessage, limit: int = 3000) -> str:
    return msg.text[:limit]


# --------------------------------------------------------------------------------------------
# Stateless checks. Each takes one message and returns a reason or None; channels without
# headers (SMS, web) simply never match the header checks.


def is_auto_reply(msg: InboundMessage) -> SuppressReason | None:
    """RFC 3834 Auto-Submitted, vendor auto-reply headers, Precedence auto_reply, OOF subjects."""
    auto = _h(msg, "auto-submitted").lower().split(";", 1)[0].strip()
    if auto and auto != "no":
        return SuppressReason.AUTO_REPLY
    if any(_h(msg, name) for name in _AUTO_REPLY_HEADERS):
        return SuppressReason.AUTO_REPLY
    suppress = {v.strip().lower() for v in _h(msg, "x-auto-response-suppress").split(",")}
    if suppress & _SUPPRESS_AUTO_RESPONSE:
        return SuppressReason.AUTO_REPLY
    if _h(msg, "precedence").lower() in ("auto_reply", "auto-reply"):
        return SuppressReason.AUTO_REPLY
    if msg.channel is Channel.EMAIL and _AUTO_REPLY_SUBJECT.search(msg.subject):
        return SuppressReason.AUTO_REPLY
    return None


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


def is_mailing_list(msg: InboundMessage) -> SuppressReason | None:
    """List traffic (RFC 2369/2919 headers) and bulk mail (Precedence bulk, list, junk)."""
    if any(_h(msg, name) for name in _LIST_HEADERS):
        return SuppressReason.MAILING_LIST
    if _h(msg, "precedence").lower() in _BULK_PRECEDENCE:
        return SuppressReason.MAILING_LIST
    return None


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


def is_own_mail(msg: InboundMessage, campaign: Campaign) -> SuppressReason | None:
    """Our own mail coming back: our X-Loop, a Message-ID we minted, or From one of our addresses.

    In-Reply-To/References pointing at our domain is NOT own mail: that is a customer replying in thread.
    """
    ours = {campaign.sender_email.lower(), *campaign.inbound_addresses}
    loop = _h(msg, "x-loop").lower()
    if loop and (any(a in loop for a in ours) or campaign.message_id_domain in loop or "replydesk" in loop):
        return SuppressReason.OWN_MAIL
    if msg.message_id and msg.message_id.lower().rsplit("@", 1)[-1] == campaign.message_id_domain:
        return SuppressReason.OWN_MAIL
    if msg.sender and msg.sender in ours:
        return SuppressReason.OWN_MAIL
    return None


def is_foreign_loop(msg: InboundMessage) -> SuppressReason | None:
    """Another system's X-Loop marker: the mail was generated by an automaton, not typed by a person."""
    return SuppressReason.AUTO_REPLY if _h(msg, "x-loop") else None


def has_sender(msg: InboundMessage) -> SuppressReason | None:
    """No sender identity at all (no From address, no phone): nobody to acknowledge."""
    if not msg.sender:
        return SuppressReason.NO_SENDER
    if msg.channel is not Channel.SMS and not _EMAIL_RE.match(msg.sender):
        return SuppressReason.INVALID_SENDER
    return None


def check_message(msg: InboundMessage, campaign: Campaign) -> SuppressReason | None:
    """Run the stateless checks in order and return the first reason, or None (ack allowed).

    Loop protection and SES verdicts come first because they are the most certain; reports
    (complaint, MDN, delay, bounce) before the softer auto-reply and list heuristics.
    """
    checks: tuple[Check, ...] = (
        lambda m: is_own_mail(m, campaign),
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
        is_foreign_loop,
        is_null_sender,
        has_sender,
    )
    for check in checks:
        reason = check(msg)
        if reason is not None:
            return reason
    return None
