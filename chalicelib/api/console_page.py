"""Blueprint serving the staff console: the static page and its assets, each with a strict CSP."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from chalice.app import Blueprint, NotFoundError, Response

from chalicelib.config import Campaign, get_campaign

CONSOLE_DIR = Path(__file__).resolve().parents[1] / "web" / "console"

# The page never runs inline script or style and talks only to its own origin. Customer email HTML
# is shown in an <iframe sandbox srcdoc=...>: a srcdoc frame is not a fetch, so frame-src 'none' still
# lets it render while no frame can ever load a URL; srcdoc documents inherit this policy, so a remote
# image or script in a mail cannot load either.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "frame-src 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# One flat folder of plain files: no subfolders, no dot files, so a name can never climb out of it.
_ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(html|js|css|svg)$")

console_page = Blueprint(__name__)


# index.html holds this empty data block; the page reads the campaign's facts from it.
_CAMPAIGN_SLOT = '<script type="application/json" id="campaign-data">{}</script>'


def campaign_facts(campaign: Campaign) -> dict[str, Any]:
    """What the console shows about its campaign: nothing secret (the contact page shows the same)."""
    return {
        "name": campaign.name,
        "brand": campaign.brand,
        "languages": list(campaign.languages),
        "default_language": campaign.default_language,
        "topics": [{"id": t.id, "label": t.label} for t in campaign.topics],
        "queues": [{"id": q.id, "label": q.label} for q in campaign.queues.values()],
        "sms": {"segment_budget": campaign.sms.segment_budget},
    }


def json_for_html(data: Any) -> str:
    """JSON that cannot end its <script> block or open a comment: <, > and & as \\u escapes."""
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@functools.cache
def _read(name: str) -> str:
    text = (CONSOLE_DIR / name).read_text(encoding="utf-8")
    if name == "index.html":
        # A data block is never executed, so the page needs no inline script for it (CSP script-src 'self').
        text = text.replace(_CAMPAIGN_SLOT, _CAMPAIGN_SLOT.replace("{}", json_for_html(campaign_facts(get_campaign()))))
    return text


def asset(name: str) -> Response:
    """One file of the console folder with its type and the security headers, or 404."""
    if not _ASSET_NAME.match(name) or not (CONSOLE_DIR / name).is_file():
        raise NotFoundError(f"no console file {name!r}")
    suffix = Path(name).suffix
    return Response(
        body=_read(name),
        status_code=200,
        # no-cache: the browser revalidates, so a deploy is picked up on the next load.
        headers={**SECURITY_HEADERS, "Content-Type": CONTENT_TYPES[suffix], "Cache-Control": "no-cache"},
    )


@console_page.route("/console", methods=["GET"])
def console_index() -> Response:
    request = console_page.current_request
    # The page's relative links (assets, ../api/) need the trailing slash; API Gateway and Chalice's
    # local server route /console and /console/ alike, but the raw path in the context tells them apart.
    path = str((request.context or {}).get("path") or "/console/")
    if not path.endswith("/"):
        return Response(
            body="", status_code=301, headers={**SECURITY_HEADERS, "Location": path.rsplit("/", 1)[-1] + "/"}
        )
    return asset("index.html")


@console_page.route("/console/{name}", methods=["GET"])
def console_asset(name: str) -> Response:
    return asset(name)
