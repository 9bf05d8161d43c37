"""The frozen values the intake stages hand each other: each stage decides, commit writes, effects act."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.classify import Classification
from chalicelib.models import ConversationModel
from chalicelib.route import Route
from chalicelib.store import CustomerRef

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
# A sender we may not answer: the message is kept, but it opens no staff work unless it joins an open thread.
HELD_BACK = frozenset({"suppressed", "rate_limited"})
# Nobody to answer (an SMS without a usable number, an address no mail can go to): kept, but no staff work.
UNANSWERABLE = frozenset({"no_sender", "invalid_sender"})


@dataclass(frozen=True, slots=True)
class Guarded:
    """The guard's verdict: why no ack may go out (None: an ack is allowed) and any SMS keyword."""

    reason: str | None
    keyword: str | None = None  # stop | start | help

    @property
    def automated(self) -> bool:
        return self.reason is not None and self.reason in AUTOMATED


@dataclass(frozen=True, slots=True)
class Threaded:
    """The conversation this message joins (None: it opens a new one)."""

    existing: ConversationModel | None


@dataclass(frozen=True, slots=True)
class Decided:
    """Everything the commit writes and the effects act on, decided before any write."""

    customer: CustomerRef
    existing: ConversationModel | None
    reason: str | None
    keyword: str | None
    classification: Classification
    route: Route

    @property
    def automated(self) -> bool:
        return self.reason is not None and self.reason in AUTOMATED

    @property
    def opens_work(self) -> bool:
        """Whether the message asks staff for something (and so needs an SLA clock)."""
        if self.reason is None:
            return True
        if self.reason in AUTOMATED or self.reason in UNANSWERABLE:
            return False
        if self.reason in HELD_BACK:
            # A suppressed or rate-limited sender gets staff work only by answering an open conversation.
            return self.existing is not None and self.existing.status in ("new", "open", "pending_customer")
        return True


@dataclass(frozen=True, slots=True)
class Committed:
    """What the commit left in DynamoDB: the conversation (fresh read) and whether this delivery stored."""

    conversation: ConversationModel
    stored: bool
    created: bool
