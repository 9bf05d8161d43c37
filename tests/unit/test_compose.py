"""Acknowledgement composition: subjects, RFC 3834 headers, sandboxed templates, form validation."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from pathlib import Path
from typing import Any

import pytest

from chalicelib.acknowledge import compose_email, reply_subject, template_context
from chalicelib.config import load_campaign
from chalicelib.errors import NotFound, PayloadTooLarge, ValidationError
from chalicelib.intake import web
from chalicelib.library.rendering import TemplateError, render_source
from chalicelib.library.seed import SeedSource
from chalicelib.render import TemplateStore

pytestmark = pytest.mark.unit
TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "demo"


@pytest.fixture(scope="module")
def campaign() -> Any:
    return load_campaign("demo")


@pytest.fixture(scope="module")
def store() -> TemplateStore:
    return TemplateStore(SeedSource(load_campaign("demo"), TEMPLATES), "en")


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Where is my order?", "Re: Where is my order? [RD-7K3M9Q]"),
        ("Re: Where is my order? [RD-7K3M9Q]", "Re: Where is my order? [RD-7K3M9Q]"),
        ("RE: AW: Sv: Re: Paket [RD-7K3M9Q]", "Re: Paket [RD-7K3M9Q]"),
        ("", "Re: [RD-7K3M9Q]"),
    ],
)
def test_reply_subject_never_stacks(subject: str, expected: str) -> None:
    assert reply_subject(subject, "RD-7K3M9Q") == expected


def test_ack_is_multipart_threaded_and_marked_auto_replied(campaign: Any, store: TemplateStore) -> None:
    # GIVEN a customer mail to answer
    ctx = template_context(
        campaign=campaign, customer_name="Ada", reference="RD-7K3M9Q", language="en", topic="returns"
    )
    # WHEN the ack is composed in reply to it
    out = compose_email(
        purpose="acknowledge",
        campaign=campaign,
        templates=store,
        to="ada@example.test",
        to_name="Ada",
        language="en",
        context=ctx,
        now=datetime(2026, 11, 25, tzinfo=UTC),
        subject=reply_subject("Refund", "RD-7K3M9Q"),
        in_reply_to="abc@mail.test",
        references=("root@mail.test",),
    )
    msg = email.message_from_bytes(out.raw, policy=policy.default)
    # THEN it carries RFC 3834 and threading headers and both parts
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["In-Reply-To"] == "<abc@mail.test>"
    assert msg["References"] == "<root@mail.test> <abc@mail.test>"
    assert msg["Message-ID"].endswith("@demo.replydesk.test>")
    assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None
    assert "RD-7K3M9Q" in out.text and "30 days" in out.text  # the topic's FAQ answer


def test_customer_name_is_escaped_in_html(campaign: Any, store: TemplateStore) -> None:
    ctx = template_context(
        campaign=campaign, customer_name="<script>alert(1)</script>", reference="RD-7K3M9Q", language="en", topic=None
    )
    html = store.render("acknowledge", "email", "html", "en", ctx).text
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_missing_language_falls_back_and_missing_template_is_an_error(campaign: Any, store: TemplateStore) -> None:
    ctx = template_context(campaign=campaign, customer_name="", reference="RD-7K3M9Q", language="fi", topic=None)
    assert store.render("acknowledge", "email", "txt", "fi", ctx).language == "en"
    with pytest.raises(NotFound):
        store.render("nosuchpurpose", "email", "txt", "en", ctx)


def test_templates_are_sandboxed_and_strict() -> None:
    # A missing field fails the render instead of sending a blank, naming the field
    with pytest.raises(TemplateError, match="'nme'"):
        render_source("{{ customer.nme }}", {"customer": {}}, autoescape=False, where="t")
    # and templates cannot reach Python internals
    with pytest.raises(TemplateError, match="refused by the sandbox"):
        render_source("{{ ''.__class__.__mro__[1].__subclasses__() }}", {}, autoescape=False, where="t")


def test_form_validation(campaign: Any) -> None:
    good = {"name": "Ada", "email": "Ada@Example.test", "message": "hi", "consent": "yes", "phone": "070-123 45 67"}
    sub = web.validate(good, campaign)
    assert sub.email == "ada@example.test"
    assert sub.phone == "+46701234567"  # local numbers read in the campaign's country (its SMS number's)
    assert sub.reference.startswith("RD-") and len(sub.reference) == 9
    with pytest.raises(ValidationError, match="topic"):
        web.validate({**good, "topic": "nonsense"}, campaign)
    with pytest.raises(ValidationError, match="phone"):
        web.validate({**good, "phone": "12"}, campaign)
    with pytest.raises(PayloadTooLarge):
        web.decode_form(b"x" * (web.MAX_BODY_BYTES + 1), "application/json")
    with pytest.raises(ValidationError, match="application/json"):
        web.decode_form(b"a", "text/plain")


def test_a_templates_topic_label_is_in_the_customers_language() -> None:
    # GIVEN the demo campaign, whose topics are labelled per language
    campaign = load_campaign("demo")
    # WHEN an answer to a Swedish customer, and to a Finnish one (not a campaign language), is rendered
    sv = template_context(campaign=campaign, customer_name="", reference="R-1", language="sv", topic="returns")
    fi = template_context(campaign=campaign, customer_name="", reference="R-1", language="fi", topic="returns")
    # THEN the Swedish one names the topic in Swedish, the other in the default language
    assert sv["conversation"]["topic_label"] == "Returer och återbetalningar"
    assert fi["conversation"]["topic_label"] == "Returns and refunds"
