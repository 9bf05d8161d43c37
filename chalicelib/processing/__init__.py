"""Intake processing after parsing: named stages, then one commit, then effects through the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.inbound import InboundMessage
from chalicelib.metrics import Metric, count
from chalicelib.observability import logger
from chalicelib.processing import effects
from chalicelib.processing.commit import commit
from chalicelib.processing.decisions import AUTOMATED, KEYWORD_HELP, KEYWORD_OPT_IN, KEYWORD_OPT_OUT
from chalicelib.processing.stages import decide

if TYPE_CHECKING:
    from chalicelib.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Outcome:
    conversation_id: str
    message_stored: bool
    ack: bool
    reason: str | None
    # An effect refused for good (broken template, address the mail library refuses): parked once.
    parked: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "message_stored": self.message_stored,
            "ack": self.ack,
            "reason": self.reason,
            "parked": self.parked,
        }


def process(msg: InboundMessage, rt: Runtime) -> Outcome:
    """parse (done) → guard → identify → thread → classify → route → commit → effects.

    Every id is derived from the input, so running this again after any failure converges on the
    same conversation, message and effects instead of deciding "first time or not" from a flag.
    """
    decided = decide(msg, rt)
    logger.thread_safe_append_keys(customer_id=decided.customer.customer_id)
    committed = commit(msg, decided, rt)
    logger.thread_safe_append_keys(correlation_id=committed.conversation.conversation_id)
    if decided.reason is not None and committed.stored:
        count(Metric.ACK_SUPPRESSED, channel=msg.channel.value, reason=decided.reason)
        logger.info("ack suppressed", extra={"reason": decided.reason, "channel": msg.channel.value})
    done = effects.run(msg, decided, committed, rt)
    ack = done.ack
    return Outcome(
        conversation_id=committed.conversation.conversation_id,
        message_stored=committed.stored,
        ack=ack is not None and ack.sent and not ack.duplicate,
        reason=decided.reason,
        parked=done.parked,
    )


__all__ = ["AUTOMATED", "KEYWORD_HELP", "KEYWORD_OPT_IN", "KEYWORD_OPT_OUT", "Outcome", "process"]
