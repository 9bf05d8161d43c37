"""Classification on the demo campaign: language, topic, urgency, sentiment and reasons."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.classify import Classification, classify
from chalicelib.config import load_campaign
from chalicelib.inbound import Channel, InboundMessage

pytestmark = pytest.mark.unit

CAMPAIGN = load_campaign("demo")


def message(text: str, channel: Channel = Channel.EMAIL, **kw: object) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        source_id="src-1",
        raw_key="raw/x",
        received_at=datetime.now(UTC),
        sender="customer@example.com",
        text=text,
        **kw,
    )  # type: ignore[arg-type]


def run(
    text: str,
    *,
    customer_language: str | None = None,
    tags: frozenset[str] = frozenset(),
    recent: int = 0,
    **kw: object,
) -> Classification:
    return classify(
        message(text, **kw),
        CAMPAIGN,
        customer_language=customer_language,
        customer_tags=tags,
        recent_inbound_count=recent,
    )


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "Hello, where is my order? I ordered a jacket last week and it has not arrived."),
        ("sv", "Hej, var är min beställning? Jag beställde en jacka förra veckan och den har inte kommit än."),
        ("de", "Hallo, wo ist meine Bestellung? Ich habe letzte Woche eine Jacke bestellt, sie ist nicht da."),
        ("fr", "Bonjour, où est ma commande ? J'ai commandé une veste la semaine dernière et rien n'est arrivé."),
        ("es", "Hola, ¿dónde está mi pedido? Pedí una chaqueta la semana pasada y todavía no ha llegado."),
    ],
)
def test_language_is_detected(lang: str, text: str) -> None:
    # GIVEN a message in one of the campaign's languages  WHEN classified
    result = run(text)
    # THEN its language is detected, not assumed
    assert (result.language, result.language_source) == (lang, "detected")


def test_short_sms_keeps_the_customers_language() -> None:
    # GIVEN a customer whose stored language is Swedish  WHEN they text "ok"
    result = run("ok", customer_language="sv", channel=Channel.SMS)
    # THEN the stored language is kept and the reason says why
    assert (result.language, result.language_source) == ("sv", "customer")
    assert any(r.startswith("language: customer") for r in result.reasons)


def test_short_text_without_customer_language_uses_campaign_default() -> None:
    result = run("ok")
    assert (result.language, result.language_source) == ("en", "default")


def test_angry_chargeback_threat_is_urgent_and_negative() -> None:
    # GIVEN an angry message threatening a chargeback
    result = run("This is UNACCEPTABLE!! I was charged twice and I will file a chargeback with my bank.")
    # THEN it is urgent and negative, and the reasons name the cues
    assert (result.urgency, result.sentiment) == ("urgent", "negative")
    assert any("chargeback" in r for r in result.reasons)


@pytest.mark.parametrize(
    "text",
    [
        "Jag kommer att kontakta min advokat om ni inte svarar!",
        "Ich werde meinen Anwalt einschalten und eine Rückbuchung machen.",
        "Je vais contacter mon avocat, c'est inacceptable.",
        "Voy a hablar con mi abogado, esto es inaceptable.",
    ],
)
def test_legal_threats_in_other_languages_are_urgent(text: str) -> None:
    assert run(text).urgency == "urgent"


def test_refund_request_is_a_return() -> None:
    result = run("I would like to return these boots and get a refund please.")
    assert result.topic == "returns"
    assert result.topic_confidence > 0.5


# Phrasings that are not among the demo campaign's examples, one per topic and campaign language: the
# model trained from the campaign file must route a Swedish return like an English one.
@pytest.mark.parametrize(
    ("topic", "language", "text"),
    [
        ("order_status", "en", "Hi, my parcel still hasn't shown up, can you check where it is?"),
        ("order_status", "sv", "Hej, jag har fortfarande inte fått mitt paket. Var är det?"),
        ("order_status", "de", "Guten Tag, mein Paket ist immer noch nicht da. Wo bleibt meine Lieferung?"),
        ("order_status", "fr", "Bonjour, je n'ai toujours pas reçu mon colis, où en est la livraison ?"),
        ("order_status", "es", "Hola, ¿dónde está mi pedido? Lo pedí hace una semana."),
        ("returns", "en", "These trousers don't fit, I'd like to send them back for a refund."),
        ("returns", "sv", "Hej, jag vill returnera min jacka, den är för liten. Hur gör jag?"),
        ("returns", "de", "Die Stiefel passen nicht, wie kann ich sie zurückschicken?"),
        ("returns", "fr", "Les bottes ne me vont pas, je voudrais les retourner."),
        ("returns", "es", "Las botas no me quedan bien, quiero devolverlas."),
        ("billing", "en", "You took the money twice from my account for one order."),
        ("billing", "sv", "Ni har dragit pengarna två gånger från mitt kort."),
        ("billing", "de", "Sie haben mir den Betrag doppelt abgebucht, bitte korrigieren."),
        ("billing", "fr", "Bonjour, j'ai été débité deux fois pour la même commande. Pouvez-vous me rembourser ?"),
        ("billing", "es", "Me cobraron dos veces, necesito la factura correcta."),
        ("product", "en", "Does the boot come in size 47?"),
        ("product", "sv", "Finns kängan i storlek 45?"),
        ("product", "de", "Ist die Jacke wasserdicht genug für Regen in den Bergen?"),
        ("product", "fr", "Cette veste est-elle vraiment imperméable ?"),
        ("product", "es", "¿Qué talla me recomiendan para la bota?"),
        ("complaint", "en", "Terrible service, I am really disappointed."),
        ("complaint", "sv", "Jag är väldigt missnöjd, jackan gick sönder direkt."),
        ("complaint", "de", "Ich bin wirklich enttäuscht, so ein schlechter Service."),
        ("complaint", "fr", "Je suis vraiment déçu, c'est inadmissible."),
        ("complaint", "es", "Estoy muy decepcionado, es un servicio pésimo."),
    ],
)
def test_each_topic_is_recognised_in_every_campaign_language(topic: str, language: str, text: str) -> None:
    result = run(text)
    assert (result.language, result.topic) == (language, topic), result.reasons


def test_gibberish_is_unknown_topic() -> None:
    result = run("xkq zzv plom trabbel wuzz")
    assert result.topic == "unknown"
    assert any(r.startswith("topic: unknown") for r in result.reasons)


def test_form_topic_is_a_strong_prior() -> None:
    # GIVEN a web-form message whose customer picked billing but wrote little
    result = run("Hi, see subject", channel=Channel.WEB, topic_hint="billing")
    # THEN the form's choice stands and the reason says so
    assert result.topic == "billing"
    assert "topic: chosen on the form (billing)" in result.reasons


def test_repeated_contact_and_vip_raise_urgency() -> None:
    plain = run("Where is my parcel? It has not arrived.")
    repeated = run("Where is my parcel? It has not arrived.", recent=2)
    vip = run("Where is my parcel? It has not arrived.", tags=frozenset({"VIP"}))
    assert plain.urgency == "normal"
    assert repeated.urgency == "high"
    assert vip.urgency == "high"
    assert "VIP customer" in vip.reasons


def test_thanks_is_positive_and_low() -> None:
    result = run("Thank you so much, that was perfect!", customer_language="en")
    assert (result.sentiment, result.urgency) == ("positive", "low")


def test_to_dict_is_a_plain_map() -> None:
    data = run("I want my money back for this order").to_dict()
    assert set(data) == {
        "language",
        "language_confidence",
        "language_source",
        "topic",
        "topic_confidence",
        "urgency",
        "sentiment",
        "reasons",
    }
    assert isinstance(data["reasons"], list)
