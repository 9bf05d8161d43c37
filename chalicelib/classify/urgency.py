"""Urgency and sentiment by explainable rules in en/sv/de/fr/es; every decision carries its reason."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

URGENCY_LEVELS = ("low", "normal", "high", "urgent")
VIP_TAGS = frozenset({"vip", "VIP"})
# Contacts on the same conversation within the window (the caller counts them) that raise urgency.
REPEAT_HIGH = 2
REPEAT_URGENT = 4

_LEXICON: dict[str, tuple[str, ...]] = {
    # Threats of legal action, chargebacks, regulators: urgent, a human must see these first.
    "legal": (
        "lawyer",
        "attorney",
        "solicitor",
        "sue",
        "suing",
        "lawsuit",
        "legal action",
        "court",
        "small claims",
        "trading standards",
        "ombudsman",
        "consumer protection",
        "advokat",
        "stämma",
        "stämning",
        "rättslig",
        "domstol",
        "allmänna reklamationsnämnden",
        "konsumentverket",
        "anwalt",
        "rechtsanwalt",
        "verklagen",
        "klage einreichen",
        "gericht",
        "rechtliche schritte",
        "verbraucherzentrale",
        "avocat",
        "poursuite",
        "poursuivre",
        "tribunal",
        "action en justice",
        "plainte officielle",
        "abogado",
        "demanda",
        "demandar",
        "tribunal",
        "acciones legales",
        "denuncia",
    ),
    "chargeback": (
        "chargeback",
        "charge back",
        "dispute the charge",
        "dispute the payment",
        "bank dispute",
        "reverse the charge",
        "fraud",
        "fraudulent",
        "scam",
        "återkrav",
        "bestrida",
        "bedrägeri",
        "spärra kortet",
        "rückbuchung",
        "lastschrift zurück",
        "betrug",
        "widerspruch bei der bank",
        "rétrofacturation",
        "contestation",
        "opposition bancaire",
        "fraude",
        "arnaque",
        "contracargo",
        "disputa",
        "fraude",
        "estafa",
    ),
    "cancel": (
        "cancel my account",
        "close my account",
        "cancel my subscription",
        "cancel everything",
        "never order again",
        "never buy",
        "switching to",
        "take my business elsewhere",
        "säga upp",
        "avsluta mitt konto",
        "aldrig mer",
        "aldrig handla",
        "kündigen",
        "kündige",
        "konto schließen",
        "nie wieder",
        "résilier",
        "fermer mon compte",
        "plus jamais",
        "darme de baja",
        "cancelar mi cuenta",
        "nunca más",
        "nunca mas",
    ),
    "urgent": (
        "urgent",
        "urgently",
        "asap",
        "immediately",
        "right now",
        "emergency",
        "as soon as possible",
        "brådskande",
        "akut",
        "omedelbart",
        "genast",
        "snarast",
        "dringend",
        "sofort",
        "eilig",
        "notfall",
        "umgehend",
        "urgent",
        "urgence",
        "immédiatement",
        "tout de suite",
        "au plus vite",
        "urgente",
        "inmediatamente",
        "cuanto antes",
        "ahora mismo",
        "emergencia",
    ),
    "negative": (
        "unacceptable",
        "disappointed",
        "disappointing",
        "terrible",
        "awful",
        "horrible",
        "worst",
        "useless",
        "angry",
        "furious",
        "ridiculous",
        "disgusting",
        "outrageous",
        "rip off",
        "rip-off",
        "incompetent",
        "still waiting",
        "no one answers",
        "nobody answers",
        "broken",
        "broke",
        "complaint",
        "fed up",
        "oacceptabelt",
        "besviken",
        "besvikna",
        "fruktansvärt",
        "hemskt",
        "värsta",
        "arg",
        "förbannad",
        "löjligt",
        "klagomål",
        "trasig",
        "fortfarande inte",
        "värdelös",
        "inakzeptabel",
        "enttäuscht",
        "schrecklich",
        "furchtbar",
        "schlechteste",
        "wütend",
        "sauer",
        "lächerlich",
        "beschwerde",
        "kaputt",
        "unverschämt",
        "immer noch nicht",
        "inacceptable",
        "déçu",
        "déçue",
        "terrible",
        "horrible",
        "pire",
        "furieux",
        "furieuse",
        "en colère",
        "ridicule",
        "plainte",
        "cassé",
        "scandaleux",
        "toujours pas",
        "nul",
        "inaceptable",
        "decepcionado",
        "decepcionada",
        "terrible",
        "horrible",
        "peor",
        "enfadado",
        "furioso",
        "ridículo",
        "queja",
        "roto",
        "vergonzoso",
        "todavía no",
        "sigo esperando",
    ),
    "positive": (
        "thank you",
        "thanks",
        "great",
        "excellent",
        "love",
        "happy",
        "perfect",
        "awesome",
        "appreciate",
        "tack",
        "tack så mycket",
        "toppen",
        "jättebra",
        "perfekt",
        "nöjd",
        "underbart",
        "danke",
        "vielen dank",
        "super",
        "toll",
        "prima",
        "zufrieden",
        "wunderbar",
        "merci",
        "génial",
        "parfait",
        "content",
        "contente",
        "excellent",
        "ravi",
        "ravie",
        "gracias",
        "genial",
        "perfecto",
        "excelente",
        "contento",
        "contenta",
        "encantado",
    ),
}


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = sorted({re.escape(_fold(w)) for w in words}, key=len, reverse=True)
    return re.compile(r"(?<!\w)(" + "|".join(alternatives) + r")(?!\w)")


_PATTERNS = {name: _pattern(words) for name, words in _LEXICON.items()}


@dataclass(frozen=True, slots=True)
class UrgencyResult:
    urgency: str
    sentiment: str
    reasons: tuple[str, ...]
    negative_score: int
    positive_score: int
    # The reasons that set the level (a subset of `reasons`): what a conversation raised later stores as its why.
    raised_by: tuple[str, ...] = ()


def _hits(name: str, text: str) -> list[str]:
    return sorted({m.group(1) for m in _PATTERNS[name].finditer(text)})


def assess(
    text: str, *, customer_tags: frozenset[str] = frozenset(), recent_inbound_count: int = 0, topic: str | None = None
) -> UrgencyResult:
    """Urgency and sentiment from the text, the customer's tags and how often they wrote lately.

    Reasons name the rule and the cue words (never the surrounding text), so staff can see why.
    """
    folded = _fold(text)
    reasons: list[str] = []
    raised_by: list[str] = []
    level = 1  # normal

    def raise_to(new: int, reason: str) -> None:
        nonlocal level
        level = max(level, new)
        reasons.append(reason)
        raised_by.append(reason)

    legal, chargeback, cancel = _hits("legal", folded), _hits("chargeback", folded), _hits("cancel", folded)
    if legal:
        raise_to(3, f"legal threat: {', '.join(legal)}")
    if chargeback:
        raise_to(3, f"chargeback or fraud: {', '.join(chargeback)}")
    if cancel:
        raise_to(2, f"cancellation threat: {', '.join(cancel)}")
    urgent_words = _hits("urgent", folded)
    if urgent_words:
        raise_to(2, f"urgency words: {', '.join(urgent_words)}")

    negative, positive = _hits("negative", folded), _hits("positive", folded)
    # Shouting and repeated exclamation marks are anger in every language.
    letters = [c for c in text if c.isalpha()]
    shouting = len(letters) >= 12 and sum(c.isupper() for c in letters) / len(letters) > 0.7
    exclaiming = "!!" in text
    neg_score = len(negative) + int(shouting) + int(exclaiming) + len(legal) + len(chargeback)
    pos_score = len(positive)
    if neg_score > pos_score and neg_score > 0:
        sentiment = "negative"
        cues = [*negative, *(["all caps"] if shouting else []), *(["!!"] if exclaiming else [])]
        reasons.append(f"negative sentiment: {', '.join(cues) or 'threat'}")
    elif pos_score > neg_score:
        sentiment = "positive"
        reasons.append(f"positive sentiment: {', '.join(positive)}")
    else:
        sentiment = "neutral"
    if neg_score >= 3:
        raise_to(2, "strong negative sentiment")
    if neg_score >= 3 and (urgent_words or cancel):
        raise_to(3, "strong negative sentiment with urgency or cancellation")

    if recent_inbound_count >= REPEAT_URGENT:
        raise_to(3, f"repeated contact: {recent_inbound_count} messages recently")
    elif recent_inbound_count >= REPEAT_HIGH:
        raise_to(2, f"repeated contact: {recent_inbound_count} messages recently")
    if customer_tags & VIP_TAGS:
        raise_to(min(level + 1, 3), "VIP customer")
    if topic == "complaint" and level < 2:
        raise_to(2, "complaint topic")
    if level == 1 and sentiment == "positive" and not reasons[:-1]:
        level = 0
        reasons.append("thanks only: low urgency")
        raised_by.append("thanks only: low urgency")
    return UrgencyResult(URGENCY_LEVELS[level], sentiment, tuple(reasons), neg_score, pos_score, tuple(raised_by))
