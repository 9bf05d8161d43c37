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


# The contact page's own words per language ({brand} is the campaign's); the browser's language picks
# one of the campaign's, a language without its own falls back to English. Topic labels are the
# campaign file's (one language).
PAGE_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Contact {brand}",
        "intro": "We confirm every message within seconds and answer as soon as we can. Fields marked * are required.",
        "topic": "What is it about?",
        "choose": "Choose a topic…",
        "other": "Something else",
        "name": "Your name *",
        "email": "Email *",
        "phone": "Phone",
        "phone_hint": "(optional, with country code, e.g. +46 70 123 45 67)",
        "message": "Your message *",
        "characters": "characters",
        "consent": "I agree that {brand} stores my message and contact details to answer me.",
        "marketing": "{brand} may also send me offers (optional; you can say no at any time).",
        "send": "Send message",
        "thanks": "Thank you!",
        "received": "We have received your message and sent a confirmation to your email address.",
        "reference_is": "Your reference number is",
        "quote": "Please quote it if you contact us again about this matter.",
        "quick_answer": "Quick answer: ",
        "fill_in": "Please fill in “{field}”.",
        "failed": "Something went wrong, please try again.",
        "offline": "We could not reach the server. Please try again in a moment.",
    },
    "sv": {
        "title": "Kontakta {brand}",
        "intro": "Vi bekräftar varje meddelande inom några sekunder och svarar så snart vi kan. "
        "Fält markerade med * är obligatoriska.",
        "topic": "Vad gäller det?",
        "choose": "Välj ett ämne…",
        "other": "Något annat",
        "name": "Ditt namn *",
        "email": "E-post *",
        "phone": "Telefon",
        "phone_hint": "(valfritt, med landsnummer, t.ex. +46 70 123 45 67)",
        "message": "Ditt meddelande *",
        "characters": "tecken",
        "consent": "Jag godkänner att {brand} sparar mitt meddelande och mina kontaktuppgifter "
        "för att kunna svara mig.",
        "marketing": "{brand} får också skicka erbjudanden till mig (frivilligt; du kan tacka nej när som helst).",
        "send": "Skicka meddelande",
        "thanks": "Tack!",
        "received": "Vi har tagit emot ditt meddelande och skickat en bekräftelse till din e-postadress.",
        "reference_is": "Ditt referensnummer är",
        "quote": "Ange det om du kontaktar oss igen i samma ärende.",
        "quick_answer": "Snabbt svar: ",
        "fill_in": "Fyll i fältet ”{field}”.",
        "failed": "Något gick fel, försök igen.",
        "offline": "Vi kunde inte nå servern. Försök igen om en liten stund.",
    },
    "de": {
        "title": "Kontakt zu {brand}",
        "intro": "Wir bestätigen jede Nachricht innerhalb von Sekunden und antworten so schnell wie möglich. "
        "Mit * markierte Felder sind Pflichtfelder.",
        "topic": "Worum geht es?",
        "choose": "Thema wählen…",
        "other": "Etwas anderes",
        "name": "Ihr Name *",
        "email": "E-Mail *",
        "phone": "Telefon",
        "phone_hint": "(optional, mit Ländervorwahl, z. B. +49 170 1234567)",
        "message": "Ihre Nachricht *",
        "characters": "Zeichen",
        "consent": "Ich bin einverstanden, dass {brand} meine Nachricht und meine Kontaktdaten speichert, "
        "um mir zu antworten.",
        "marketing": "{brand} darf mir auch Angebote schicken (freiwillig; Sie können jederzeit widersprechen).",
        "send": "Nachricht senden",
        "thanks": "Vielen Dank!",
        "received": "Wir haben Ihre Nachricht erhalten und eine Bestätigung an Ihre E-Mail-Adresse geschickt.",
        "reference_is": "Ihre Referenznummer lautet",
        "quote": "Bitte geben Sie sie an, wenn Sie uns zu diesem Anliegen erneut kontaktieren.",
        "quick_answer": "Schnelle Antwort: ",
        "fill_in": "Bitte füllen Sie „{field}“ aus.",
        "failed": "Etwas ist schiefgelaufen, bitte versuchen Sie es erneut.",
        "offline": "Wir konnten den Server nicht erreichen. Bitte versuchen Sie es gleich noch einmal.",
    },
    "fr": {
        "title": "Contacter {brand}",
        "intro": "Nous confirmons chaque message en quelques secondes et répondons dès que possible. "
        "Les champs marqués * sont obligatoires.",
        "topic": "De quoi s'agit-il ?",
        "choose": "Choisissez un sujet…",
        "other": "Autre chose",
        "name": "Votre nom *",
        "email": "E-mail *",
        "phone": "Téléphone",
        "phone_hint": "(facultatif, avec l'indicatif du pays, p. ex. +33 6 12 34 56 78)",
        "message": "Votre message *",
        "characters": "caractères",
        "consent": "J'accepte que {brand} conserve mon message et mes coordonnées pour me répondre.",
        "marketing": "{brand} peut aussi m'envoyer des offres (facultatif ; vous pouvez refuser à tout moment).",
        "send": "Envoyer le message",
        "thanks": "Merci !",
        "received": "Nous avons bien reçu votre message et envoyé une confirmation à votre adresse e-mail.",
        "reference_is": "Votre numéro de référence est",
        "quote": "Merci de l'indiquer si vous nous recontactez à ce sujet.",
        "quick_answer": "Réponse rapide : ",
        "fill_in": "Veuillez remplir le champ « {field} ».",
        "failed": "Une erreur s'est produite, veuillez réessayer.",
        "offline": "Impossible de joindre le serveur. Veuillez réessayer dans un instant.",
    },
    "es": {
        "title": "Contacta con {brand}",
        "intro": "Confirmamos cada mensaje en segundos y respondemos lo antes posible. "
        "Los campos marcados con * son obligatorios.",
        "topic": "¿De qué se trata?",
        "choose": "Elige un tema…",
        "other": "Otra cosa",
        "name": "Tu nombre *",
        "email": "Correo electrónico *",
        "phone": "Teléfono",
        "phone_hint": "(opcional, con el prefijo del país, p. ej. +34 612 34 56 78)",
        "message": "Tu mensaje *",
        "characters": "caracteres",
        "consent": "Acepto que {brand} guarde mi mensaje y mis datos de contacto para responderme.",
        "marketing": "{brand} también puede enviarme ofertas (opcional; puedes decir que no cuando quieras).",
        "send": "Enviar mensaje",
        "thanks": "¡Gracias!",
        "received": "Hemos recibido tu mensaje y te hemos enviado una confirmación a tu correo electrónico.",
        "reference_is": "Tu número de referencia es",
        "quote": "Indícalo si vuelves a contactarnos por este asunto.",
        "quick_answer": "Respuesta rápida: ",
        "fill_in": "Rellena el campo «{field}».",
        "failed": "Algo ha salido mal, inténtalo de nuevo.",
        "offline": "No hemos podido conectar con el servidor. Inténtalo de nuevo en un momento.",
    },
}


def page_labels(campaign: Campaign) -> dict[str, dict[str, str]]:
    """The page's words in each campaign language, the brand filled in (plain text: set as textContent)."""
    return {
        lang: {k: v.replace("{brand}", campaign.brand) for k, v in PAGE_LABELS.get(lang, PAGE_LABELS["en"]).items()}
        for lang in campaign.languages
    }


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
    labels = page_labels(campaign)
    return (
        _env()
        .get_template("contact.html")
        .render(
            brand=campaign.brand,
            topics=[{"id": t.id, "label": t.label} for t in campaign.topics],
            # Each topic's label per campaign language: the page shows the browser's, else the default's.
            topic_labels={lang: {t.id: t.label_for(lang) for t in campaign.topics} for lang in campaign.languages},
            faqs=faqs,
            languages=campaign.languages,
            default_language=campaign.default_language,
            max_message=web.MAX_MESSAGE_CHARS,
            honeypot=web.HONEYPOT_FIELD,
            labels=labels,
            # Without script (or in an unlisted language) the page reads in the campaign's default language.
            t=labels[campaign.default_language],
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
