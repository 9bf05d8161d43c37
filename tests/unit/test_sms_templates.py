"""Every SMS template of the seed library rendered with sample values: which fit the segment budget."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from chalicelib.acknowledge import template_context
from chalicelib.config import Campaign, load_campaign
from chalicelib.errors import SegmentBudgetExceeded
from chalicelib.library.seed import SeedSource
from chalicelib.render import TemplateStore
from chalicelib.sms import count_segments, fit_to_budget

pytestmark = pytest.mark.unit

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
SMS_TEMPLATES = sorted(TEMPLATES.glob("*/*/*.sms.txt"))
ACK_TEMPLATES = [p for p in SMS_TEMPLATES if p.name.startswith("acknowledge.")]
REFERENCE = "RD-7K3M9Q"
LONG_BRAND = "Northwind Outdoor Equipment & Apparel International"  # 51 characters
LONG_NAME = "Maximiliane Alexandra von Hohenberg-Wittelsbach"
# Customer names are data: one letter outside GSM-7 turns a template that greets by name into UCS-2.
UNICODE_NAME = "Łucja Żółkiewska"

SCENARIOS = {
    "campaign": {"brand": None, "name": "Anna Berg"},
    "long brand": {"brand": LONG_BRAND, "name": LONG_NAME},
    "non-GSM name": {"brand": LONG_BRAND, "name": UNICODE_NAME},
}
# Scenarios every template must fit in; the others are reported, because a template may
# legitimately not use the customer's name at all.
REQUIRED = ("campaign", "long brand")


def template_id(path: Path) -> str:
    return str(path.relative_to(TEMPLATES)).removesuffix(".sms.txt")


def render(path: Path, scenario: str) -> tuple[Campaign, str]:
    """Render one template the way the runtime does (sandbox, StrictUndefined), for one scenario."""
    campaign_name, language, filename = path.relative_to(TEMPLATES).parts
    campaign = load_campaign(campaign_name)
    values = SCENARIOS[scenario]
    if values["brand"]:
        campaign = dataclasses.replace(campaign, brand=values["brand"])
    context: dict[str, Any] = template_context(
        campaign=campaign,
        customer_name=str(values["name"]),
        reference=REFERENCE,
        language=language,
        topic=campaign.topics[0].id if campaign.topics else None,
        # what the runtime adds for staff replies and follow-ups
        extra={
            "reply": {"text": "Your parcel left today.", "sent_by": "Sam"},
            "offer": "",
            # what an agent fills in for a staff answer
            "inputs": {"carrier": "PostNord", "tracking_number": "00370712345678901234"},
        },
    )
    store = TemplateStore(SeedSource(campaign, TEMPLATES / campaign_name), default_language=language)
    rendered = store.render(filename.removesuffix(".sms.txt"), "sms", "txt", language, context)
    assert rendered.language == language, "rendered a fallback instead of the file itself"
    return campaign, rendered.text


def test_the_library_has_sms_templates() -> None:
    # GIVEN the seed library, THEN it holds SMS templates (so the tests below test something)
    assert len(SMS_TEMPLATES) >= 10


@pytest.mark.parametrize("scenario", REQUIRED)
@pytest.mark.parametrize("path", SMS_TEMPLATES, ids=template_id)
def test_every_sms_template_fits_the_budget(path: Path, scenario: str) -> None:
    # GIVEN one SMS template of the library and sample values (reference RD-7K3M9Q, a long brand name)
    # WHEN it is rendered and fitted to the campaign's segment budget
    campaign, text = render(path, scenario)
    count = count_segments(text.strip())
    # THEN it fits, so the runtime never has to refuse it
    try:
        fit_to_budget(text, campaign.sms.segment_budget)
    except SegmentBudgetExceeded as exc:
        pytest.fail(f"{template_id(path)} ({scenario}): {exc}; shorten the template")
    assert count.segments >= 1


@pytest.mark.parametrize("path", ACK_TEMPLATES, ids=template_id)
def test_acknowledgements_carry_the_reference(path: Path) -> None:
    # GIVEN an acknowledgement template
    # WHEN it is rendered
    _, text = render(path, "long brand")
    # THEN the customer gets the reference number
    assert REFERENCE in text


def test_report_which_templates_fit() -> None:
    # GIVEN every SMS template and every scenario
    rows = []
    for path in SMS_TEMPLATES:
        for scenario in SCENARIOS:
            campaign, text = render(path, scenario)
            count = count_segments(text.strip())
            budget = campaign.sms.segment_budget
            try:
                fitted = fit_to_budget(text, budget)
                verdict = "fits" if fitted == text.strip() else "fits (plain punctuation)"
            except SegmentBudgetExceeded:
                verdict = "OVER BUDGET"
            rows.append(
                f"{template_id(path):<36} {scenario:<13} {count.encoding.value:<6} "
                f"{count.units:>4} units {count.segments:>2}/{budget} segments  {verdict}"
            )
    # WHEN the table is printed (see it with: pytest -s -k report_which_templates_fit)
    print("\nSMS templates against the segment budget:\n" + "\n".join(rows))
    # THEN every template was rendered in every scenario
    assert len(rows) == len(SMS_TEMPLATES) * len(SCENARIOS)
