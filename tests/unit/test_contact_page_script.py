"""The contact page: campaign FAQ text is serialised into the page's script safely (|tojson, not |safe)."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from chalicelib import pages
from chalicelib.config import load_campaign

pytestmark = pytest.mark.unit


def test_faq_text_cannot_close_the_script_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a campaign whose FAQ answer holds a closing script tag and markup
    hostile = "Refunds</script><script>alert('x')</script> & <b>more</b>"
    campaign = dataclasses.replace(load_campaign("demo"), faq={"returns": hostile})
    monkeypatch.setattr(pages, "get_campaign", lambda: campaign)
    pages.contact_page.cache_clear()
    try:
        # WHEN the page is rendered
        html = pages.contact_page()
    finally:
        pages.contact_page.cache_clear()
    # THEN the text never ends the script element, and the script still gets the exact string back
    assert "</script><script>alert" not in html
    m = re.search(r"var faq = (.*?);\n", html)
    assert m is not None
    assert json.loads(m.group(1)) == {"returns": hostile}
    assert "<" not in m.group(1)
