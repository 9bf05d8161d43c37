"""The public rating routes, no login: `GET /rate/{token}` (one click, from mail) and `GET /r/{token}` (SMS)."""

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


def _page(language: str, title: str, message: str, extra: str = "") -> str:
    return (
        f'<!DOCTYPE html><html lang="{html.escape(language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family: Arial, Helvetica, sans-serif; color: #1f2933; max-width: 32rem; margin: 4rem auto;'
        ' padding: 0 1rem; line-height: 1.5;">'
        f'<p style="font-size: 1.25rem;">{html.escape(message)}</p>{extra}</body></html>'
    )


@rating_api.route("/rate/{token}", methods=["GET"])
def rate(token: str) -> Response:
    from chalicelib.library.service import rate_conversation

    page = rate_conversation(token)
    return Response(body=_page(page.language, page.title, page.message), status_code=page.status, headers=_HEADERS)


@rating_api.route("/r/{token}", methods=["GET"])
def rating_choices(token: str) -> Response:
    """The short link an SMS carries: the question, then one one-click link per rating."""
    from chalicelib.library.service import rating_choices as choices

    page = choices(token)
    # Relative links: the page works under API Gateway's stage prefix as under a custom domain.
    buttons = "".join(
        f'<a href="../rate/{html.escape(t, quote=True)}" style="display: inline-block; margin: 0 0.5rem 0.5rem 0;'
        f" padding: 0.6rem 1.2rem; border: 1px solid #1f2933; border-radius: 0.4rem; color: #1f2933;"
        f' text-decoration: none; font-size: 1.1rem;">{html.escape(label)}</a>'
        for label, t in page.choices
    )
    body = _page(page.language, page.title, page.message, f"<p>{buttons}</p>" if buttons else "")
    return Response(body=body, status_code=page.status, headers=_HEADERS)
