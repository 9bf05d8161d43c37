"""Train a campaign's topic model when it is missing or stale (package, local, campaign new/check)."""

from __future__ import annotations

from chalicelib.campaign.layout import CampaignLayout
from chalicelib.campaign.topicmodel import ModelState, model_state, record_training
from chalicelib.config import Campaign


def ensure_model(campaign: Campaign, layout: CampaignLayout) -> ModelState:
    """The model as it is when current; otherwise trained from the campaign's topics (`trained`)."""
    before = model_state(campaign, layout)
    if before.ok:
        return before
    from cli.topic_training import campaign_examples, train

    texts, labels = campaign_examples(campaign)
    train(texts, labels, layout.model_dir, source=f"campaign {campaign.name}")
    record_training(campaign, layout, len(texts))
    return ModelState("trained", before.detail)
