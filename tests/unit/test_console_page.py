"""The console page's server side: campaign facts for the page, JSON that cannot break out of its data block."""

from __future__ import annotations

import json

import pytest

from chalicelib.api.console_page import _ASSET_NAME, json_for_html

pytestmark = pytest.mark.unit


def test_json_for_html_cannot_close_its_script_block_and_round_trips() -> None:
    # GIVEN a value a hostile campaign label could hold
    data = {"brand": "</script><script>alert(1)</script><!--", "label": "Tom & Jerry > <b>"}
    # WHEN it is written for an HTML data block
    text = json_for_html(data)
    # THEN no tag or comment can start inside it, and JSON.parse gets the same value back
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == data


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("index.html", True),
        ("console.js", True),
        ("library.css", True),
        ("../app.py", False),
        ("..%2Fapp.py", False),
        (".env.js", False),
        ("sub/x.js", False),
        ("x.py", False),
        ("X.JS", False),
    ],
)
def test_only_flat_console_files_can_be_named(name: str, ok: bool) -> None:
    # GIVEN a name from the URL; THEN only flat page files of the folder match
    assert bool(_ASSET_NAME.match(name)) is ok
