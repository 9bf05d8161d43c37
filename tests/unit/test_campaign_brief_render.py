"""The campaign brief: Markdown rendered, then sanitised; what the console is told to show."""

from __future__ import annotations

import pytest

from chalicelib.campaign.brief import brief_view, load_brief, render

pytestmark = pytest.mark.unit


def test_markdown_is_rendered_and_anything_active_is_removed() -> None:
    # GIVEN a brief with headings, a list, a table and hostile HTML an operator pasted in
    text = (
        "# Brief\n\n## Tone\n\n- **warm**\n- short\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        '<script>alert(1)</script><img src=x onerror="alert(2)">\n\n'
        '[shop](https://shop.example.com) [bad](javascript:alert(3)) <a href="#" onclick="alert(4)">x</a>\n'
    )
    # WHEN it is rendered
    html = render(text).html
    # THEN the prose survives
    assert "<h2>Tone</h2>" in html and "<strong>warm</strong>" in html and "<td>1</td>" in html
    assert 'href="https://shop.example.com"' in html and 'rel="noopener noreferrer"' in html
    # AND no script, handler, image or javascript: URL does
    for bad in ("<script", "onerror", "onclick", "<img", "javascript:"):
        assert bad not in html.lower(), bad


def test_the_panel_opens_by_itself_until_this_version_is_read() -> None:
    # GIVEN the demo campaign's packaged brief
    brief = load_brief("demo")
    assert "Northwind Outdoor: campaign brief" in brief.html
    # WHEN nobody has read it THEN it opens by itself, as a first time
    assert brief_view(brief, read_digest=None) | {"html": ""} == {
        "html": "",
        "digest": brief.digest,
        "read": False,
        "first_time": True,
        "show": True,
    }
    # WHEN an older version was read THEN it opens again, not as a first time
    older = brief_view(brief, read_digest="0" * 16)
    assert older["show"] and not older["first_time"] and not older["read"]
    # WHEN this version was read THEN it stays closed
    assert brief_view(brief, read_digest=brief.digest)["show"] is False
