"""Routing on the demo campaign's ordered rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.classify import Classification, classify
from chalicelib.config import load_campaign
from chalicelib.inbound import Channel, InboundMessage
from chalicelib.route import DEFAULT_RULE, route

pytestmark = pytest.mark.unit

CAMPAIGN = load_campaign("demo")


def classified(text: str) -> Classification:
    msg = InboundMessage(
        channel=Channel.EMAIL,
        source_id="s",
        raw_key="raw/x",
        received_at=datetime.now(UTC),
        sender="c@example.com",
        text=text,
    )
    return classify(msg, CAMPAIGN, customer_language=None, customer_tags=frozenset(), recent_inbound_count=0)


def make(topic: str = "product", urgency: str = "normal", language: str = "en") -> Classification:
    return Classification(language, 0.99, "detected", topic, 0.9, urgency, "neutral", ())


def test_chargeback_threat_goes_to_urgent_queue() -> None:
    # GIVEN an angry chargeback threat  WHEN classified and routed
    r = route(
        classified("This is a scam!! I want my money back NOW or I file a chargeback with my bank."),
        Channel.EMAIL,
        [],
        CAMPAIGN,
    )
    # THEN the first rule (urgency urgent) sends it to the urgent queue with that queue's SLA
    assert (r.queue, r.rule_index) == ("urgent", 0)
    assert r.sla == CAMPAIGN.queues["urgent"].sla


def test_refund_request_goes_to_retention() -> None:
    r = route(classified("I would like to return the jacket and get a refund."), Channel.EMAIL, [], CAMPAIGN)
    assert r.queue == "retention"
    assert "topic" in r.reason


def test_gibberish_goes_to_general() -> None:
    r = route(classified("xkq zzv plom trabbel wuzz"), Channel.SMS, [], CAMPAIGN)
    assert (r.queue, r.rule_index) == ("general", DEFAULT_RULE)
    assert r.reason == "default queue: topic unknown"


def test_first_matching_rule_wins() -> None:
    # GIVEN a billing topic that is also urgent  THEN the urgency rule (listed first) wins
    assert route(make("billing", "urgent"), Channel.WEB, [], CAMPAIGN).queue == "urgent"
    assert route(make("billing", "normal"), Channel.WEB, [], CAMPAIGN).queue == "refunds"


def test_language_channel_and_tag_criteria() -> None:
    from dataclasses import replace

    from chalicelib.config import RoutingRule

    rules = (
        RoutingRule(queue="supervisors", tags=("VIP",)),
        RoutingRule(queue="urgent", languages=("sv",), channels=("sms",)),
    )
    campaign = replace(CAMPAIGN, routing=rules)
    assert route(make(), Channel.EMAIL, ["vip"], campaign).queue == "supervisors"
    assert route(make(language="sv"), Channel.SMS, [], campaign).queue == "urgent"
    assert route(make(language="sv"), Channel.EMAIL, [], campaign).queue == "general"
