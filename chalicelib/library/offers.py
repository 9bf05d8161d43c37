"""The retention playbook: which offers a returns conversation may get, sending one, and the outcome."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.config import Campaign, Offer
from chalicelib.errors import NotFound, TransientError, ValidationError
from chalicelib.metrics import Metric, count
from chalicelib.models import ConversationModel


class Outcome(StrEnum):
    # Stored in DynamoDB and a metric dimension: never rename.
    KEPT = "kept"
    EXCHANGED = "exchanged"
    REFUNDED = "refunded"
    NO_ANSWER = "no_answer"


@dataclass(frozen=True, slots=True)
class Eligibility:
    offer: Offer
    eligible: bool
    reason: str  # why not, or "" when eligible
    used: int  # how often this customer already got it


def offers_used(conversations: Iterable[Any], offer_id: str) -> int:
    """How often the offer was sent to the customer across all their conversations."""
    return sum(1 for conv in conversations for sent in (conv.offers_sent or []) if _field(sent, "offer_id") == offer_id)


def _field(item: Any, name: str) -> Any:
    if isinstance(item, Mapping):
        return item.get(name)
    return getattr(item, name, None) if not hasattr(item, "as_dict") else item.as_dict().get(name)


def evaluate(
    campaign: Campaign,
    *,
    topic: str | None,
    tags: Iterable[str],
    customer_conversations: Iterable[Any],
    today: date,
    order_value: float | None = None,
) -> list[Eligibility]:
    """Every offer of the campaign with whether this conversation's customer may get it, and why not."""
    tags = set(tags)
    history = list(customer_conversations)
    out = []
    for offer in campaign.offers:
        used = offers_used(history, offer.id)
        reason = ""
        if offer.topics and (topic or "") not in offer.topics:
            reason = f"only for {', '.join(offer.topics)}"
        elif offer.tags and not tags & set(offer.tags):
            reason = f"only for customers tagged {', '.join(offer.tags)}"
        elif offer.expires is not None and today > offer.expires:
            reason = f"expired on {offer.expires.isoformat()}"
        elif offer.min_order_value is not None and (order_value is None or order_value < offer.min_order_value):
            reason = f"needs an order value of at least {offer.min_order_value:g}"
        elif used >= offer.per_customer_limit:
            reason = f"this customer already had it {used} time(s) (limit {offer.per_customer_limit})"
        out.append(Eligibility(offer=offer, eligible=not reason, reason=reason, used=used))
    return out


def find_offer(campaign: Campaign, offer_id: str) -> Offer:
    for offer in campaign.offers:
        if offer.id == offer_id:
            return offer
    raise NotFound(f"no offer {offer_id!r} in the campaign")


def record_sent(conversation_id: str, offer: Offer, *, sent_by: str, message_id: str, now: datetime) -> None:
    """The offer goes on the conversation, so the per-customer limit counts it from now on."""
    entry = {"offer_id": offer.id, "sent_by": sent_by, "message_id": message_id, "at": now.isoformat()}
    try:
        ConversationModel(conversation_id=conversation_id).update(
            actions=[ConversationModel.offers_sent.set(ConversationModel.offers_sent.append([entry]))],
            condition=ConversationModel.conversation_id.exists(),
        )
    except UpdateError as exc:
        if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
            raise NotFound(f"no conversation {conversation_id}") from exc
        raise TransientError("could not record the offer") from exc


def record_outcome(
    conversation_id: str, outcome: str, *, offer_id: str | None, recorded_by: str, now: datetime, campaign: Campaign
) -> dict[str, Any]:
    """kept / exchanged / refunded / no_answer, with the offer it answers; metric RetentionOutcome."""
    try:
        result = Outcome(outcome)
    except ValueError as exc:
        raise ValidationError(
            f"'outcome' must be one of {', '.join(o.value for o in Outcome)}", field="outcome"
        ) from exc
    if offer_id:
        find_offer(campaign, offer_id)
    value = {"outcome": result.value, "offer_id": offer_id or "", "by": recorded_by, "at": now.isoformat()}
    try:
        ConversationModel(conversation_id=conversation_id).update(
            actions=[ConversationModel.retention.set(value)], condition=ConversationModel.conversation_id.exists()
        )
    except UpdateError as exc:
        if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
            raise NotFound(f"no conversation {conversation_id}") from exc
        raise TransientError("could not record the outcome") from exc
    count(Metric.RETENTION_OUTCOME, offer=offer_id or "none", outcome=result.value)
    return value


def kept_rate(outcomes: Mapping[str, Mapping[str, float]]) -> dict[str, tuple[float, float]]:
    """offer -> (share of outcomes where the customer kept the item with the offer, total)."""
    out = {}
    for offer, by_outcome in outcomes.items():
        total = sum(by_outcome.values())
        kept = by_outcome.get(Outcome.KEPT.value, 0)
        out[offer] = (kept / total if total else 0.0, total)
    return out
