"""The campaign brief staff read in the console: packaged Markdown, rendered and sanitised; who has read it."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nh3

from chalicelib.config import CAMPAIGN_DIR
from chalicelib.console import audit
from chalicelib.errors import NotFound

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

EVENT = "brief_read"
# What a brief may use: the prose tags Markdown produces, links that open outside the console.
_TAGS = {"h1", "h2", "h3", "h4", "p", "ul", "ol", "li", "strong", "em", "code", "pre", "blockquote", "a", "hr", "br"}
_TAGS |= {"table", "thead", "tbody", "tr", "th", "td"}


@dataclass(frozen=True, slots=True)
class Brief:
    html: str
    digest: str  # of the Markdown: a changed brief is shown again to staff who read the old one


def render(text: str) -> Brief:
    """Markdown → HTML, then nh3: the brief is operator content, still no script or handler gets through."""
    # Imported here: app.py (and so the ack path's cold start) imports this module, only staff render.
    import markdown

    raw = markdown.markdown(text, extensions=["tables", "sane_lists"], output_format="html")
    html = nh3.clean(
        raw,
        tags=_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"https", "http", "mailto", "tel"},
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )
    return Brief(html=html, digest=hashlib.sha256(text.encode()).hexdigest()[:16])


@functools.cache
def load_brief(campaign: str, directory: Path = CAMPAIGN_DIR) -> Brief:
    """The packaged `<campaign>.brief.md`, rendered once per container."""
    try:
        text = (directory / f"{campaign}.brief.md").read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NotFound(f"campaign {campaign} has no brief") from exc
    return render(text)


def _subject(username: str) -> str:
    return f"staff#{username}#brief"


def last_read(ddb: DynamoDBClient, *, table: str, username: str) -> str | None:
    """The digest of the brief this staff member last marked read, or None: one Query on the audit key."""
    resp = ddb.query(
        TableName=table,
        KeyConditionExpression="subject = :s",
        ExpressionAttributeValues={":s": {"S": _subject(username)}},
        ScanIndexForward=False,
        Limit=1,
    )
    items = resp.get("Items", [])
    if not items:
        return None
    detail: dict[str, Any] = json.loads(items[0].get("detail", {}).get("S", "{}"))
    return str(detail.get("digest") or "") or None


def brief_view(brief: Brief, *, read_digest: str | None) -> dict[str, Any]:
    """What the console gets: the HTML, and whether to open the panel by itself (never read, or changed)."""
    return {
        "html": brief.html,
        "digest": brief.digest,
        "read": read_digest == brief.digest,
        "first_time": read_digest is None,
        "show": read_digest != brief.digest,
    }


def mark_read(ddb: DynamoDBClient, *, username: str, brief: Brief, now: datetime) -> None:
    audit.record(ddb, subject=_subject(username), event=EVENT, actor=username, now=now, detail={"digest": brief.digest})
