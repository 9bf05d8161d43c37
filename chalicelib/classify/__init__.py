"""Classify an inbound message: language, topic, urgency and sentiment, with reasons staff can read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chalicelib.classify import language as _language
from chalicelib.classify import topic as _topic
from chalicelib.classify.urgency import assess
from chalicelib.config import Campaign
from chalicelib.inbound import InboundMessage

__all__ = ["Classification", "classify", "warm_up"]

# Long mails are classified on their head: the ask is near the top, and p99 time stays bounded
# (features are per character). Language needs less text than topic.
MAX_CHARS = 800
MAX_LANGUAGE_CHARS = 400


@dataclass(frozen=True, slots=True)
class Classification:
    language: str
    language_confidence: float
    language_source: str  # "detected", "customer", "default"
    topic: str
    topic_confidence: float
    urgency: str  # low, normal, high, urgent
    sentiment: str  # negative, neutral, positive
    reasons: tuple[str, ...]
    # Why the urgency is above normal (the rules that raised it), as a conversation raised later stores it.
    urgency_reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """A plain map for a PynamoDB MapAttribute (confidences are floats rounded to 4 places)."""
        return {
            "language": self.language,
            "language_confidence": self.language_confidence,
            "language_source": self.language_source,
            "topic": self.topic,
            "topic_confidence": self.topic_confidence,
            "urgency": self.urgency,
            "sentiment": self.sentiment,
            "reasons": list(self.reasons),
        }


def _text(msg: InboundMessage) -> str:
    body = msg.body
    text = f"{msg.subject}\n{body}" if msg.subject and msg.subject not in body else body
    return text[:MAX_CHARS]


def model_dir(campaign: Campaign) -> Path:
    return _topic.model_dir_for(campaign.name)


def warm_up(campaign: Campaign) -> None:
    """Load every model now (call at cold start, outside the handler's timed path)."""
    _language.warm_up(campaign.languages)
    _topic.load_model(model_dir(campaign))


def classify(
    msg: InboundMessage,
    campaign: Campaign,
    *,
    customer_language: str | None,
    customer_tags: frozenset[str],
    recent_inbound_count: int,
) -> Classification:
    """Classify one message; pure apart from reading the packaged models once per container."""
    text = _text(msg)
    # The subject line of a reply ("Re: Your order RD-123") is ours, so language looks at the body.
    head = (msg.body or text)[:MAX_LANGUAGE_CHARS]
    lang = _language.detect_language(
        head, campaign_languages=campaign.languages, customer_language=customer_language, hint=msg.language_hint
    )
    reasons: list[str] = []
    if lang.source != "detected":
        reasons.append(f"language: {lang.source} ({lang.language}), text too short or unclear")

    prediction = _topic.load_model(model_dir(campaign)).predict(text, hint=msg.topic_hint)
    if prediction.source == "form":
        reasons.append(f"topic: chosen on the form ({prediction.topic})")
    elif prediction.topic == _topic.UNKNOWN:
        reasons.append(f"topic: unknown (best guess {prediction.best} at {prediction.confidence:.2f})")
    else:
        reasons.append(f"topic: {prediction.topic} at {prediction.confidence:.2f}")
        if msg.topic_hint:
            reasons.append(f"topic: text overrides form choice {msg.topic_hint}")

    tags = frozenset(t.lower() for t in customer_tags)
    result = assess(text, customer_tags=tags, recent_inbound_count=recent_inbound_count, topic=prediction.topic)
    reasons.extend(result.reasons)
    return Classification(
        language=lang.language,
        language_confidence=lang.confidence,
        language_source=lang.source,
        topic=prediction.topic,
        topic_confidence=prediction.confidence,
        urgency=result.urgency,
        sentiment=result.sentiment,
        reasons=tuple(reasons),
        urgency_reasons=result.raised_by,
    )
