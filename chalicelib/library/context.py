"""Template contexts as plain values (templates are untrusted): a conversation's real one, and the sample one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.config import Campaign


def _campaign(campaign: Campaign, language: str | None = None) -> dict[str, Any]:
    return {
        "brand": campaign.brand,
        "sender_name": campaign.sender_name,
        "sender_email": campaign.sender_email,
        "sms_number": campaign.sms.number,
        "closed": campaign.closing.closed,
        "closing_message": campaign.closing.message_for(language),
        "closing_url": campaign.closing.next_url or "",
    }


def _first_name(name: str) -> str:
    return name.split()[0] if name.strip() else ""


def conversation_context(
    *,
    campaign: Campaign,
    conversation: Any,
    customer: Any | None,
    agent: Mapping[str, str] | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What the preview and the CLI render with: the same fields the reply path passes, plus agent and inputs."""
    topic = conversation.topic or "unknown"
    name = str(getattr(customer, "name", "") or "")
    language = conversation.language or campaign.default_language
    topic_label = campaign.topic_label(topic, language)
    return {
        "customer": {
            "name": name,
            "first_name": _first_name(name),
            "language": language,
            "tags": sorted(getattr(customer, "tags", None) or ()),
        },
        "conversation": {
            "reference": conversation.reference,
            "topic": topic,
            "topic_label": topic_label,
            "channel": conversation.channel,
            "language": language,
            "subject": conversation.subject or "",
        },
        "campaign": _campaign(campaign, language),
        "agent": {"name": (agent or {}).get("name", ""), "username": (agent or {}).get("username", "")},
        "inputs": dict(inputs or {}),
        "reply": {"text": "", "sent_by": (agent or {}).get("name", "")},
        "offer": "",
        "faq": "",
    }


def sample_context(campaign: Campaign, *, language: str | None = None) -> dict[str, Any]:
    """Every field a template may use, with sample values: a template must render on it to be saved."""
    lang = language or campaign.default_language
    topic = campaign.topics[0] if campaign.topics else None
    return {
        "customer": {"name": "Alex Sample", "first_name": "Alex", "language": lang, "tags": []},
        "conversation": {
            "reference": f"{campaign.reference_prefix}-SAMPLE",
            "topic": topic.id if topic else "unknown",
            "topic_label": topic.label_for(lang) if topic else "",
            "channel": "email",
            "language": lang,
            "subject": "Sample subject",
        },
        "campaign": _campaign(campaign, lang),
        "agent": {"name": "Sam Agent", "username": "sam"},
        "inputs": {},
        "reply": {"text": "Sample answer text.", "sent_by": "Sam Agent"},
        "offer": "Sample complementary offer",
        "faq": "Sample FAQ answer",
        "links": {
            "rating": {
                "good": "https://example.invalid/rate/good",
                "okay": "https://example.invalid/rate/okay",
                "bad": "https://example.invalid/rate/bad",
            },
            "rating_page": "https://example.invalid/r/sample",
            "live_chat": "https://example.invalid/chat",
        },
    }
