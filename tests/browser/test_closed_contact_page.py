"""A closed campaign's contact page in Chromium: the closing message in the browser's language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.config import parse_campaign
from chalicelib.pages import render_contact_page

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def closed_page() -> str:
    """The demo campaign's contact page once retired (closed, its closing message in five languages)."""
    data = yaml.safe_load((ROOT / "chalicelib" / "campaigns" / "demo.yaml").read_text(encoding="utf-8"))
    data["closing"] = {**data["closing"], "closed": True, "next_url": "https://shop.example.com/support"}
    return render_contact_page(parse_campaign(data), {})


@pytest.mark.parametrize(
    ("locale", "lang", "start"),
    [
        ("sv-SE", "sv", "Kampanjen Northwind Outdoor är avslutad."),
        ("de-DE", "de", "Die Kampagne Northwind Outdoor ist beendet."),
        ("ja-JP", "en", "The Northwind Outdoor campaign has ended."),  # not a campaign language: the default
    ],
)
def test_the_closing_message_is_shown_in_the_browsers_language(
    browser: Any, closed_page: str, locale: str, lang: str, start: str, tmp_path: Path
) -> None:
    # GIVEN a visitor whose browser speaks `locale`
    context = browser.new_context(locale=locale)
    try:
        page = context.new_page()
        # WHEN the closed campaign's contact page opens
        page.set_content(closed_page)
        message = page.locator("#closing-message")
        # THEN the message is in the browser's language (else the default), where to go next is linked,
        # and there is no form
        assert message.inner_text().startswith(start)
        assert message.get_attribute("lang") == lang
        assert page.locator("#next-url").get_attribute("href") == "https://shop.example.com/support"
        assert page.locator("form").count() == 0
        page.screenshot(path=str(tmp_path / f"closed-{locale}.png"))
    finally:
        context.close()
