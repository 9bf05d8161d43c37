"""A customer fills in the contact page in a real Chromium and sees their reference number."""

from __future__ import annotations

import re
from typing import Any

import pytest

from local.outbox import sent_emails

pytestmark = pytest.mark.browser


def test_customer_submits_the_contact_page_and_sees_the_reference(
    stack: Any, page: Any, drain: Any, unique_email: Any
) -> None:
    # GIVEN the campaign's contact page
    email = unique_email("browser")
    page.goto(f"{stack.api_url}/")
    assert "Contact Northwind Outdoor" in page.title()
    # WHEN the customer picks a topic, the FAQ answer for it appears before they write
    page.select_option("#topic", "returns")
    assert "30 days" in page.inner_text("#faq")
    # AND submitting without consent shows what is missing, and sends nothing
    page.fill("#name", "Linnea Berg")
    page.fill("#email", email)
    page.fill("#message", "I would like to return the boots I bought last week.")
    page.click("#submit")
    assert "agree" in page.inner_text("#error") or "Please fill in" in page.inner_text("#error")
    # WHEN they give consent and submit
    page.check("#consent")
    page.click("#submit")
    # THEN the page shows the reference number
    page.wait_for_selector("#done", state="visible")
    reference = page.inner_text("#reference").strip()
    assert re.fullmatch(r"RD-[A-HJ-NP-Z2-9]{6}", reference)
    # AND after processing, the confirmation email carries the same reference
    drain()
    acks = [m for m in sent_emails(stack.moto_data()) if email in m["to"]]
    assert len(acks) == 1 and reference in acks[0]["subject"]


@pytest.mark.parametrize(
    ("locale", "title", "button", "topic"),
    [
        ("de-DE", "Kontakt zu Northwind Outdoor", "Nachricht senden", "Rücksendungen und Erstattungen"),
        ("fr-FR", "Contacter Northwind Outdoor", "Envoyer le message", "Retours et remboursements"),
        ("es-ES", "Contacta con Northwind Outdoor", "Enviar mensaje", "Devoluciones y reembolsos"),
        ("fi-FI", "Contact Northwind Outdoor", "Send message", "Returns and refunds"),
    ],
)
def test_the_page_speaks_the_browsers_language_or_the_campaigns_default(
    stack: Any, browser: Any, locale: str, title: str, button: str, topic: str
) -> None:
    # GIVEN a browser asking for German, French, Spanish, or a language the campaign does not have
    context = browser.new_context(locale=locale)
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        # WHEN it opens the contact page
        page.goto(f"{stack.api_url}/")
        # THEN the page's words are in that language, or in the campaign's default (English)
        assert page.title() == title
        assert page.inner_text("#submit") == button
        # AND so is the label of the returns topic
        assert page.eval_on_selector("#topic option[value=returns]", "o => o.textContent") == topic
    finally:
        context.close()


def test_a_swedish_browser_sees_the_faq_answer_in_swedish(stack: Any, browser: Any) -> None:
    # GIVEN a customer whose browser asks for Swedish
    context = browser.new_context(locale="sv-SE")
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{stack.api_url}/")
        # WHEN they pick a topic
        page.select_option("#topic", "returns")
        # THEN the quick answer is the library's Swedish one, and the form will send their language
        assert "Du kan returnera" in page.inner_text("#faq")
        assert page.inner_text("#faq").startswith("Snabbt svar: ")
        assert page.input_value("#language") == "sv"
        # AND the page's own words are Swedish too: title, labels, button, consent with the brand
        assert page.title() == "Kontakta Northwind Outdoor"
        assert page.inner_text("label[for=name]") == "Ditt namn *"
        assert page.inner_text("#submit") == "Skicka meddelande"
        assert "Jag godkänner att Northwind Outdoor sparar" in page.inner_text("label.consent")
        assert page.evaluate("document.documentElement.lang") == "sv"
        # AND the topics read in Swedish, as the campaign file labels them
        options = page.eval_on_selector_all("#topic option", "os => os.map(o => o.textContent)")
        assert "Returer och återbetalningar" in options and "Var är min beställning?" in options
        assert "Returns and refunds" not in options
        # AND what is missing is said in Swedish
        page.click("#submit")
        assert page.inner_text("#error") == "Fyll i fältet ”Ditt namn”."
    finally:
        context.close()
