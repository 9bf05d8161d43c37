"""Why a message gets no acknowledgement: the closed set of reasons every check returns."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from chalicelib.inbound import InboundMessage


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
    AUTOMATED_SENDER = "automated_sender"
    # Stateful checks (suppression table, per-sender rate limit, SMS opt-out) live with the store.
    SUPPRESSED = "suppressed"
    RATE_LIMITED = "rate_limited"
    OPTED_OUT = "opted_out"
    # A closed campaign with `closing.mail: bounce`: SES's receipt rule bounces the mail, so no ack.
    CAMPAIGN_CLOSED = "campaign_closed"


Check = Callable[[InboundMessage], "SuppressReason | None"]
