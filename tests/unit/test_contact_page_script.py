"""The contact page: FAQ answers per language, serialised into the page's script safely (|tojson, not |safe)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from chalicelib import pages
from chalicelib.config import load_campaign
from chalicelib.library.seed import SeedSource
from chalicelib.render import TemplateStore

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_faq_text_cannot_close_the_script_tag() -> None:
    # GIVEN a campaign whose FAQ answer holds a closing script tag and markup
    hostile = "Refunds</script><script>alert('x')</script> & <b>more</b>"
    campaign = load_campaign("demo")
    # WHEN the page is rendered
    html = pages.render_contact_page(campaign, {"en": {"returns": hostile}})
    # THEN the text never ends the script element, and the script still gets the exact string back
    assert "</script><script>alert" not in html
    m = re.search(r"var faqs = (.*?);\n", html)
    assert m is not None
    assert json.loads(m.group(1)) == {"en": {"returns": hostile}}
    assert "<" not in m.group(1)


def test_every_language_gets_the_librarys_answers_and_the_default_keeps_the_campaign_files() -> None:
    # GIVEN the demo campaign's library (its seed in the repository) and a campaign-file answer for a topic
    # the library has no snippet for
    campaign = dataclasses.replace(load_campaign("demo"), faq={"returns": "file text", "product": "See sizes."})
    store = TemplateStore(SeedSource(campaign, ROOT / "templates" / "demo"), campaign.default_language)
    # WHEN the page's answers are gathered
    faqs = pages.faq_by_language(campaign, store)
    # THEN each language has its own answer from the library, the library's wins over the file's,
    # and the file's answer stays for what the library lacks (in the default language only)
    assert set(faqs) == set(campaign.languages)
    assert faqs["sv"]["returns"].startswith("Du kan returnera")
    assert faqs["en"]["returns"].startswith("You can return") and faqs["en"]["product"] == "See sizes."
    assert "product" not in faqs["sv"]


def test_the_pages_words_exist_in_every_demo_language_and_a_hostile_brand_stays_text() -> None:
    # GIVEN the demo campaign, whose brand holds markup
    campaign = dataclasses.replace(load_campaign("demo"), brand="<b>Evil</b></script>")
    # WHEN the page is rendered
    html = pages.render_contact_page(campaign, {"en": {}})
    # THEN every language has every word the English page has, with the brand filled in
    m = re.search(r"var labels = (.*?);\n", html)
    assert m is not None and "<" not in m.group(1)
    labels = json.loads(m.group(1))
    assert set(labels) == set(campaign.languages)
    for lang, words in labels.items():
        assert set(words) == set(pages.PAGE_LABELS["en"]), lang
        assert "<b>Evil</b></script>" in words["consent"] and "{brand}" not in words["consent"]
    # AND in the markup the brand is escaped, never markup
    assert "<b>Evil</b>" not in html.split("<script>")[0]
    assert "&lt;b&gt;Evil&lt;/b&gt;" in html
