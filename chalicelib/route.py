"""Routing: the campaign's ordered rules turn a classification into a staff queue with its SLA policy."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.config import Campaign, RoutingRule, SlaPolicy
from chalicelib.inbound import Channel

if TYPE_CHECKING:
    from chalicelib.classify import Classification

DEFAULT_RULE = -1  # rule_index when no rule matched and the default queue was used


@dataclass(frozen=True, slots=True)
class Route:
    queue: str
    sla: SlaPolicy
    rule_index: int
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"queue": self.queue, "rule_index": self.rule_index, "reason": self.reason}


def _matches(rule: RoutingRule, *, topic: str, urgency: str, language: str, channel: str, tags: frozenset[str]) -> bool:
    # An empty criterion matches everything; tags match when the customer has any of them.
    return (
        (not rule.topics or topic in rule.topics)
        and (not rule.urgencies or urgency in rule.urgencies)
        and (not rule.languages or language in rule.languages)
        and (not rule.channels or channel in rule.channels)
        and (not rule.tags or bool({t.lower() for t in rule.tags} & tags))
    )


def _describe(rule: RoutingRule) -> str:
    parts = [
        f"{name} in {list(values)}"
        for name, values in (
            ("topic", rule.topics),
            ("urgency", rule.urgencies),
            ("language", rule.languages),
            ("channel", rule.channels),
            ("tag", rule.tags),
        )
        if values
    ]
    return " and ".join(parts) or "always"


def route(
    classification: Classification, msg_channel: Channel | str, customer_tags: Iterable[str], campaign: Campaign
) -> Route:
    """First matching rule wins; `unknown` topics and unmatched messages go to the default queue."""
    tags = frozenset(t.lower() for t in customer_tags)
    channel = str(msg_channel)
    for i, rule in enumerate(campaign.routing):
        if _matches(
            rule,
            topic=classification.topic,
            urgency=classification.urgency,
            language=classification.language,
            channel=channel,
            tags=tags,
        ):
            return Route(rule.queue, campaign.queues[rule.queue].sla, i, f"rule {i}: {_describe(rule)}")
    queue = campaign.default_queue
    why = "topic unknown" if classification.topic == "unknown" else "no rule matched"
    return Route(queue, campaign.queues[queue].sla, DEFAULT_RULE, f"default queue: {why}")
