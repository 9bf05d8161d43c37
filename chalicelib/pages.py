"""The customer-facing web pages: the campaign's contact page and the form submission."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalice.app import Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from chalicelib import aws
from chalicelib.acknowledge import template_context
from chalicelib.config import get_campaign, get_settings
from chalicelib.errors import CampaignClosed, ValidationError
from chalicelib.guard import ratelimit
from chalicelib.intake import web
from chalicelib.metrics import Metric, count
from chalicelib.models import bind_models
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.config import Campaign
    from chalicelib.render import TemplateStore

_WEB_DIR = Path(__file__).parent / "web"


@functools.cache
def _env() -> Environment:
    # Our own page templates, shipped with the code (not the staff-edited library): a plain environment.
    return Environment(loader=FileSystemLoader(_WEB_DIR), autoescape=select_autoescape(["html"]))


# Seconds a rendered contact page is served before the library's FAQ answers are read again: an edit
# in the template library shows on the page within this time, and a busy page costs no reads.
PAGE_TTL_SECONDS = 300
_page_cache: tuple[float, str] | None = None


def contact_page() -> str:
    """The campaign's contact page, with the FAQ answers of the template library in every language."""
    global _page_cache
    now = time.monotonic()
    if _page_cache is None or now - _page_cache[0] > PAGE_TTL_SECONDS:
        from chalicelib.runtime import get_runtime  # the library's store; imported when a page is built

        campaign = get_campaign()
        _page_cache = (now, render_contact_page(campaign, faq_by_language(campaign, get_runtime().templates)))
    return _page_cache[1]


def faq_by_language(campaign: Campaign, templates: TemplateStore) -> dict[str, dict[str, str]]:
    """{language: {topic: answer}} from the library's `faq-<topic>` snippets; the campaign file's `faq`
    fills the default language where the library has no answer."""
    context = {
        "campaign": template_context(campaign=campaign, customer_name="", reference="", language="", topic=None)[
            "campaign"
        ]
    }
    faqs = templates.faq_answers([t.id for t in campaign.topics], campaign.languages, context)
    faqs[campaign.default_language] = {**campaign.faq, **faqs.get(campaign.default_language, {})}
    return faqs


def render_contact_page(campaign: Campaign, faqs: dict[str, dict[str, str]]) -> str:
    if campaign.closing.closed:
        return (
            _env()
            .get_template("closed.html")
            .render(
                brand=campaign.brand,
                message=campaign.closing.message,
                messages={lang: campaign.closing.message_for(lang) for lang in campaign.languages},
                default_language=campaign.default_language,
                next_url=campaign.closing.next_url,
            )
        )
    return (
        _env()
        .get_template("contact.html")
        .render(
            brand=campaign.brand,
            topics=[{"id": t.id, "label": t.label} for t in campaign.topics],
            faqs=faqs,
            languages=campaign.languages,
            default_language=campaign.default_language,
            max_message=web.MAX_MESSAGE_CHARS,
            honeypot=web.HONEYPOT_FIELD,
        )
    )


def preferred_language(accept_language: str, languages: tuple[str, ...]) -> str | None:
    """The first of the campaign's languages the browser asks for (`Accept-Language`, by q), or None."""
    ranked = []
    for i, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        ranked.append((-q, i, tag.strip().split("-")[0].lower()))
    return next((lang for _q, _i, lang in sorted(ranked) if lang in languages), None)


def submit(body: bytes, content_type: str, source_ip: str = "", accept_language: str = "") -> web.Accepted:
    """Rate-limit, validate, store raw, enqueue; raises ValidationError (TooManyRequests) for a 4xx (429)."""
    settings = get_settings()
    campaign = get_campaign()
    if campaign.closing.closed:
        count(Metric.MESSAGES_REJECTED, channel="web", reason="campaign_closed")
        raise CampaignClosed(campaign.closing.message_for(preferred_language(accept_language, campaign.languages)))
    bind_models(settings)
    now = datetime.now(UTC)
    try:
        # The client first: a flood of garbage is refused before it costs a parse.
        ratelimit.check_client(source_ip, campaign, now=now)
        submission = web.validate(web.decode_form(body, content_type), campaign, now=now)
        ratelimit.check_address(submission.email, campaign, now=now)
    except ValidationError as exc:
        count(Metric.MESSAGES_REJECTED, channel="web", reason=exc.field or "invalid")
        logger.info("submission rejected", extra={"field": exc.field, "length": len(body)})
        raise
    accepted = web.accept(
        submission, s3=aws.s3(), sqs=aws.sqs(), bucket=settings.raw_bucket, queue_url=settings.intake_queue_url
    )
    logger.info(
        "submission accepted", extra={"source_id": accepted.submission_id, "conversation_id": accepted.reference}
    )
    return accepted


def accepted_response(accepted: web.Accepted, accept_header: str) -> Response:
    if "text/html" in accept_header and "application/json" not in accept_header:
        html = _env().get_template("thanks.html").render(brand=get_campaign().brand, reference=accepted.reference)
        return Response(body=html, status_code=202, headers={"Content-Type": "text/html; charset=utf-8"})
    return Response(
        body={"reference": accepted.reference, "status": "received"},
        status_code=202,
        headers={"Content-Type": "application/json"},
    )


def health() -> dict[str, Any]:
    settings = get_settings()
    # `closed`: whether this running stack has read a retired campaign file (`campaign retire` checks it).
    closed = get_campaign().closing.closed
    return {"status": "ok", "campaign": settings.campaign, "stage": settings.stage, "closed": closed}
