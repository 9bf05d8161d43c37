"""The template library without AWS: sandboxed rendering, inputs, fallback, seed checks, offers, rating links."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.config import load_campaign
from chalicelib.errors import ConfigError, ValidationError
from chalicelib.library import csat, offers
from chalicelib.library.context import sample_context
from chalicelib.library.model import draft
from chalicelib.library.rendering import MissingInput, TemplateError, render_version, validate_draft
from chalicelib.library.seed import SeedSource, check_seed, read_seed
from chalicelib.render import TemplateStore

pytestmark = pytest.mark.unit
TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "demo"
SECRET = "s" * 40


@pytest.fixture(scope="module")
def campaign() -> Any:
    return load_campaign("demo")


def answer(text: str, **extra: Any) -> Any:
    return draft({"id": "t.email", "purpose": "answer", "bodies": {"en": {"text": text}}, **extra})


# ------------------------------------------------------------------ sandbox and strictness


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ customer.__class__ }}",
        "{{ customer['__class__'] }}",
        "{{ campaign.brand.__class__.__mro__[1].__subclasses__() }}",
    ],
)
def test_a_template_reaching_for_internals_cannot_be_saved(campaign: Any, source: str) -> None:
    # GIVEN a template that tries to reach Python internals
    # WHEN it is validated for saving
    with pytest.raises(TemplateError, match=r"not allowed|refused"):
        validate_draft(answer(source), sample=sample_context(campaign), default_language="en")
    # THEN it is refused (and the sandbox refuses it at render time too, should one get past the check)


def test_the_sandbox_refuses_internals_at_render_time(campaign: Any) -> None:
    # GIVEN a template smuggled past the save check (e.g. written straight into the table)
    t = answer("{{ ''.__class__.__mro__ }}")
    # WHEN it is rendered THEN the sandbox refuses it
    with pytest.raises(TemplateError, match="refused by the sandbox"):
        render_version(t, language="en", default_language="en", context=sample_context(campaign))


def test_an_unknown_variable_cannot_be_saved_and_the_error_names_it(campaign: Any) -> None:
    # GIVEN templates with a typo in a field and an unknown variable
    with pytest.raises(TemplateError) as err:
        validate_draft(answer("Hi {{ customer.nmae }}"), sample=sample_context(campaign), default_language="en")
    # THEN the 400 names the bad field
    assert "nmae" in str(err.value)
    with pytest.raises(TemplateError, match="unknown variable 'order'"):
        validate_draft(answer("{{ order.number }}"), sample=sample_context(campaign), default_language="en")
    # AND an input that is not declared as required is unknown too
    with pytest.raises(TemplateError, match="tracking_number"):
        validate_draft(answer("{{ inputs.tracking_number }}"), sample=sample_context(campaign), default_language="en")
    # AND declared, it saves
    validate_draft(
        answer("{{ inputs.tracking_number }}", required_inputs=["tracking_number"]),
        sample=sample_context(campaign),
        default_language="en",
    )


def test_a_missing_required_input_is_named_before_anything_renders(campaign: Any) -> None:
    # GIVEN a template with two required inputs
    t = answer("{{ inputs.carrier }} {{ inputs.tracking_number }}", required_inputs=["carrier", "tracking_number"])
    # WHEN the agent filled only one (the other blank)
    with pytest.raises(MissingInput) as err:
        render_version(
            t,
            language="en",
            default_language="en",
            context=sample_context(campaign),
            inputs={"carrier": "DHL", "tracking_number": " "},
        )
    # THEN the error names the missing one, as the field of a 400
    assert err.value.field == "tracking_number" and "tracking_number" in str(err.value)
    assert isinstance(err.value, ValidationError)


def test_html_parts_escape_customer_data(campaign: Any) -> None:
    t = draft(
        {
            "id": "t.email",
            "purpose": "answer",
            "bodies": {"en": {"text": "{{ customer.name }}", "html": "<p>{{ customer.name }}</p>"}},
        }
    )
    ctx = {
        **sample_context(campaign),
        "customer": {"name": "<script>alert(1)</script>", "first_name": "", "language": "en"},
    }
    out = render_version(t, language="en", default_language="en", context=ctx)
    assert out.html is not None and "<script>" not in out.html and "&lt;script&gt;" in out.html
    assert "<script>" in out.text  # the text part is plain text, not HTML


def test_language_falls_back_to_the_campaign_default_and_says_so(campaign: Any) -> None:
    # GIVEN a template in English and Swedish
    t = draft({"id": "t.email", "purpose": "answer", "bodies": {"en": {"text": "Hello"}, "sv": {"text": "Hej"}}})
    ctx = sample_context(campaign)
    # WHEN rendered for a Swedish and a German conversation
    sv = render_version(t, language="sv", default_language="en", context=ctx)
    de = render_version(t, language="de", default_language="en", context=ctx)
    # THEN Swedish is Swedish, German falls back to English and the result says it was a fallback
    assert (sv.language, sv.fallback, sv.text) == ("sv", False, "Hej\n")
    assert (de.language, de.fallback, de.text) == ("en", True, "Hello\n")


# ------------------------------------------------------------------ the seed library


def test_the_demo_library_is_complete_in_every_language(campaign: Any) -> None:
    # GIVEN the demo seed
    drafts = check_seed(campaign, TEMPLATES, sample_context(campaign))
    by_id = {d.template_id: d for d in drafts}
    # THEN every topic has at least one answer, and every template exists in all five languages
    for topic in campaign.topic_ids():
        assert any(d.purpose.value == "answer" and topic in d.topics for d in drafts), topic
    assert {"retention-keep-discount.email", "follow_up.email", "reply.email", "reply.sms"} <= set(by_id)
    for d in drafts:
        assert set(d.languages) == set(campaign.languages), d.template_id
    # AND every offer of the playbook names a template of the library
    for offer in campaign.offers:
        assert offer.template in by_id, offer.id


def test_a_language_without_a_system_template_fails_validation_naming_the_file(campaign: Any, tmp_path: Path) -> None:
    # GIVEN a copy of the seed where Swedish lacks the follow-up's HTML
    seed = tmp_path / "demo"
    shutil.copytree(TEMPLATES, seed)
    (seed / "sv" / "follow_up.email.html").unlink()
    # WHEN the campaign's seed is validated
    with pytest.raises(ConfigError) as err:
        read_seed(campaign, seed)
    # THEN the error names the missing file
    assert "demo/sv/follow_up.email.html is missing" in str(err.value)


def test_a_campaign_language_without_templates_fails_validation(campaign: Any) -> None:
    # GIVEN the campaign declaring Finnish too, with no Finnish templates
    with pytest.raises(ConfigError) as err:
        read_seed(dataclasses.replace(campaign, languages=(*campaign.languages, "fi")), TEMPLATES)
    assert "demo/fi/acknowledge.email.txt is missing" in str(err.value)


def test_the_ack_faq_and_the_offer_come_in_the_rendered_language(campaign: Any) -> None:
    # GIVEN the store over the seed and a Swedish returns conversation with a customer open to marketing
    store = TemplateStore(SeedSource(campaign, TEMPLATES), "en")
    ctx = {
        "customer": {"name": "Astrid", "language": "sv"},
        "conversation": {"reference": "RD-7K3M9Q", "topic": "returns", "topic_label": ""},
        "campaign": sample_context(campaign)["campaign"],
        "faq": campaign.faq["returns"],  # what the ack path passes today: the campaign file's English
        "offer": campaign.follow_up.offer,
        "reply": {"text": "", "sent_by": "Sam"},
    }
    # WHEN the ack and the follow-up are rendered
    ack = store.render("acknowledge", "email", "txt", "sv", ctx)
    follow = store.render("follow_up", "email", "txt", "sv", ctx)
    # THEN both are Swedish through and through, and say which template and language they came from
    assert "Du kan returnera oanvända varor" in ack.text and "You can return" not in ack.text
    assert "10 % rabatt på din nästa beställning" in follow.text
    assert (ack.template_id, ack.language, ack.fallback) == ("acknowledge.email", "sv", False)
    # AND without a live chat configured, the follow-up does not promise one
    assert "chat" not in follow.text.lower()


# ------------------------------------------------------------------ offers and ratings


@dataclasses.dataclass
class _Conv:
    offers_sent: list[dict[str, Any]]


def test_eligible_offers_respect_topic_value_expiry_and_the_per_customer_limit(campaign: Any) -> None:
    today = date(2026, 12, 1)
    # GIVEN a returns conversation of a customer who already got keep_15 once
    history = [_Conv([{"offer_id": "keep_15"}]), _Conv([])]
    result = {
        e.offer.id: e
        for e in offers.evaluate(
            campaign, topic="returns", tags=(), customer_conversations=history, today=today, order_value=50
        )
    }
    # THEN keep_15 is over its limit of 1, the exchange is open, the gift needs an order of 100
    assert not result["keep_15"].eligible and "limit 1" in result["keep_15"].reason
    assert result["free_exchange"].eligible
    assert not result["merino_gift"].eligible and "100" in result["merino_gift"].reason
    # AND a billing conversation gets none, and after expiry none are offered
    assert not any(
        e.eligible for e in offers.evaluate(campaign, topic="billing", tags=(), customer_conversations=[], today=today)
    )
    later = offers.evaluate(
        campaign, topic="returns", tags=(), customer_conversations=[], today=date(2027, 7, 1), order_value=500
    )
    assert {e.offer.id for e in later if e.eligible} == {"free_exchange"}


def test_rating_links_are_signed_per_conversation_and_rating() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    links = csat.links("RD-7K3M9Q", secret=SECRET, base_url="https://x.test", now=now, valid_for=timedelta(days=30))
    token = links["good"].rsplit("/", 1)[1]
    # GIVEN a rating link WHEN it is verified THEN it names the conversation and the rating
    assert csat.verify(token, secret=SECRET, now=now) == csat.RatingClaim("RD-7K3M9Q", csat.Rating.GOOD)
    # AND a tampered, foreign or expired link is refused
    payload, mac = token.split(".")
    bad_payload = csat.sign("RD-OTHER1", csat.Rating.BAD, secret="x" * 40, expires=now + timedelta(days=1))
    for forged in (f"{payload}.{mac[:-2]}xx", bad_payload, f"{bad_payload.split('.')[0]}.{mac}", ""):
        with pytest.raises(csat.InvalidRatingLink):
            csat.verify(forged, secret=SECRET, now=now)
    with pytest.raises(csat.InvalidRatingLink, match="expired"):
        csat.verify(token, secret=SECRET, now=now + timedelta(days=31))
    # AND without a public URL there are no links (templates then leave the rating out)
    assert csat.links("RD-7K3M9Q", secret=SECRET, base_url=None, now=now, valid_for=timedelta(days=1)) == {}


def test_short_rating_link_opens_the_three_one_click_ratings_and_refuses_forgeries() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    context = {"conversation": {"reference": "RD-7K3M9Q"}}
    links = csat.link_context(
        context,
        secret=SECRET,
        base_url="https://x.test",
        now=now,
        valid_for=timedelta(days=30),
        enabled=True,
        live_chat_url=None,
    )
    # GIVEN the short link an SMS carries: one link, short enough for a text message
    page_url = links["rating_page"]
    assert page_url.startswith("https://x.test/r/RD-7K3M9Q.") and len(page_url) < len("https://x.test") + 40
    token = page_url.rsplit("/", 1)[1]
    # WHEN it is opened THEN it offers good / okay / bad in the conversation's language, each a one-click token
    page = csat.choices(token, secret=SECRET, now=now, language_of=lambda _c: "sv")
    assert (page.status, page.language, page.message) == (200, "sv", "Hur gjorde vi?")
    assert [label for label, _t in page.choices] == ["Bra", "Okej", "Dåligt"]
    claims = [csat.verify(t, secret=SECRET, now=now) for _l, t in page.choices]
    assert claims == [csat.RatingClaim("RD-7K3M9Q", r) for r in csat.Rating]
    # AND a language the page does not know falls back to English
    assert csat.choices(token, secret=SECRET, now=now, language_of=lambda _c: "fi").message == "How did we do?"
    # AND an altered, foreign, one-click or expired token is refused with a 400 page and no choices
    one_click = links["rating"]["good"].rsplit("/", 1)[1]
    other = csat.sign_short("RD-7K3M9Q", secret="x" * 40, expires=now + timedelta(days=1))
    for forged in (
        token.replace("RD-7K3M9Q", "RD-AAAAAA"),
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        other,
        one_click,
        "",
    ):
        refused = csat.choices(forged, secret=SECRET, now=now, language_of=lambda _c: "sv")
        assert (refused.status, refused.choices) == (400, ()), forged
    expired = csat.choices(token, secret=SECRET, now=now + timedelta(days=31), language_of=lambda _c: "en")
    assert expired.status == 400
    with pytest.raises(csat.InvalidRatingLink, match="expired"):
        csat.verify_short(token, secret=SECRET, now=now + timedelta(days=31))
    # AND without rating links (no public URL) there is no short link either
    none = csat.link_context(
        context, secret=SECRET, base_url=None, now=now, valid_for=timedelta(days=1), enabled=True, live_chat_url=None
    )
    assert none["rating_page"] == "" and none["rating"] == {}


def test_resolution_templates_fit_the_sms_budget_in_every_language(campaign: Any) -> None:
    from chalicelib.sms import count_segments

    # GIVEN the demo's resolution SMS with a long real-world short link
    (sms,) = [d for d in read_seed(campaign, TEMPLATES) if d.template_id == "resolution.sms"]
    context = sample_context(campaign)
    context["links"] = {
        **context["links"],
        "rating_page": "https://abcdefghij.execute-api.eu-north-1.amazonaws.com/dev/r/RD-7K3M9Q.tdlb2s.AbCdEfGhIjKl",
    }
    for lang in campaign.languages:
        # WHEN it is rendered THEN the link is whole and the text stays within the campaign's segment budget
        text = render_version(sms, language=lang, default_language="en", context=context).text.strip()
        assert text.endswith(context["links"]["rating_page"]), (lang, text)
        assert count_segments(text).segments <= campaign.sms.segment_budget, (lang, text)


def test_render_failures_are_refusals_the_outbox_does_not_retry(campaign: Any) -> None:
    import jinja2

    from chalicelib.errors import NotFound
    from chalicelib.library.rendering import render_source

    # GIVEN a template only in Swedish, rendered for German with English as the default
    t = draft({"id": "t.email", "purpose": "answer", "bodies": {"sv": {"text": "Hej"}}})
    # THEN it is as good as missing (NotFound), not an error worth a retry
    with pytest.raises(NotFound):
        render_version(t, language="de", default_language="en", context=sample_context(campaign))
    # AND a missing value carries jinja2's own error as its cause, which the outbox treats as refused
    with pytest.raises(TemplateError) as err:
        render_source("{{ customer.nmae }}", {"customer": {}}, autoescape=False, where="t")
    assert isinstance(err.value.__cause__, jinja2.TemplateError)
