"""The no-ack checks (DESIGN §7): small named predicates, one module per kind, run in order by check_message."""

from __future__ import annotations

from chalicelib.guard.chain import check_message
from chalicelib.guard.loops import auto_submitted_values, is_auto_reply, is_foreign_loop, is_mailing_list, is_own_mail
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

__all__ = [
    "Check",
    "SuppressReason",
    "auto_submitted_values",
    "check_message",
    "has_sender",
    "is_auto_reply",
    "is_automated_sender",
    "is_bounce",
    "is_challenge_response",
    "is_complaint",
    "is_delay_warning",
    "is_foreign_loop",
    "is_forged",
    "is_mailing_list",
    "is_mdn",
    "is_null_sender",
    "is_own_mail",
    "is_own_number",
    "is_spam",
    "is_virus",
]
