"""The public one-click rating route: `GET /rate/{token}` from the follow-up mail, no login."""

from __future__ import annotations

import html

from chalice.app import Blueprint, Response

rating_api = Blueprint(__name__)

# The page carries no script and loads nothing: only its own inline style.
_HEADERS: dict[str, str | list[str]] = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


@rating_api.route("/rate/{token}", methods=["GET"])
def rate(token: str) -> Response:
    from chalicelib.library.service import rate_conversation

    page = rate_conversation(token)
    body = (
        f'<!DOCTYPE html><html lang="{html.escape(page.language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(page.title)}</title></head>"
        '<body style="font-family: Arial, Helvetica, sans-serif; color: #1f2933; max-width: 32rem; margin: 4rem auto;'
        ' padding: 0 1rem; line-height: 1.5;">'
        f'<p style="font-size: 1.25rem;">{html.escape(page.message)}</p></body></html>'
    )
    return Response(body=body, status_code=page.status, headers=_HEADERS)
