"""One-click satisfaction rating: a signed link per conversation and rating, valid once, no login."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.errors import TransientError, ValidationError
from chalicelib.models import ConversationModel


class Rating(StrEnum):
    # Stored in DynamoDB and used as a metric dimension: never rename.
    GOOD = "good"
    OKAY = "okay"
    BAD = "bad"


class InvalidRatingLink(ValidationError):
    """A rating link that was altered, belongs to another stack or has expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()[:18])


def sign(conversation_id: str, rating: Rating, *, secret: str, expires: datetime) -> str:
    payload = _b64(f"{conversation_id}|{rating.value}|{int(expires.timestamp())}".encode())
    return f"{payload}.{_mac(secret, payload)}"


@dataclass(frozen=True, slots=True)
class RatingClaim:
    conversation_id: str
    rating: Rating


def verify(token: str, *, secret: str, now: datetime) -> RatingClaim:
    payload, _, mac = (token or "").partition(".")
    if not payload or not mac or not hmac.compare_digest(mac, _mac(secret, payload)):
        raise InvalidRatingLink("this rating link is not valid", field="token")
    try:
        conversation_id, rating, expires = _unb64(payload).decode().split("|")
        claim = RatingClaim(conversation_id, Rating(rating))
        expired = int(expires) < now.timestamp()
    except ValueError as exc:
        raise InvalidRatingLink("this rating link is not valid", field="token") from exc
    if expired:
        raise InvalidRatingLink("this rating link has expired", field="token")
    return claim


# A short link (SMS): `<reference>.<expiry, base 36>.<12 characters of MAC>`, about 30 characters.
SHORT_MAC_CHARS = 12
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _B36[r] + out
        if n == 0:
            return out


def sign_short(conversation_id: str, *, secret: str, expires: datetime) -> str:
    """One link per conversation for a channel where three do not fit: it opens the choice of ratings."""
    payload = f"{conversation_id}.{_base36(int(expires.timestamp()))}"
    # "short|" separates these MACs from the one-click tokens': one can never stand in for the other.
    return f"{payload}.{_mac(secret, 'short|' + payload)[:SHORT_MAC_CHARS]}"


def verify_short(token: str, *, secret: str, now: datetime) -> tuple[str, datetime]:
    """(conversation id, expiry) of a short link; InvalidRatingLink when altered or expired."""
    payload, _, mac = (token or "").rpartition(".")
    expected = _mac(secret, "short|" + payload)[:SHORT_MAC_CHARS] if payload else ""
    if not payload or not mac or not hmac.compare_digest(mac, expected):
        raise InvalidRatingLink("this rating link is not valid", field="token")
    conversation_id, _, exp = payload.rpartition(".")
    try:
        expires = datetime.fromtimestamp(int(exp, 36), tz=now.tzinfo)
    except (ValueError, OverflowError, OSError) as exc:
        raise InvalidRatingLink("this rating link is not valid", field="token") from exc
    if not conversation_id or expires < now:
        raise InvalidRatingLink("this rating link has expired", field="token")
    return conversation_id, expires


def links(
    conversation_id: str, *, secret: str, base_url: str | None, now: datetime, valid_for: timedelta
) -> dict[str, str]:
    """{good, okay, bad} -> URL; empty without a public URL (then templates leave the rating out)."""
    if not base_url or not conversation_id:
        return {}
    expires = now + valid_for
    return {r.value: f"{base_url}/rate/{sign(conversation_id, r, secret=secret, expires=expires)}" for r in Rating}


def link_context(
    context: Mapping[str, Any],
    *,
    secret: str,
    base_url: str | None,
    now: datetime,
    valid_for: timedelta,
    enabled: bool,
    live_chat_url: str | None,
) -> dict[str, Any]:
    """`links` for a template: the conversation's rating links (`rating`: one per answer; `rating_page`: one
    short link to the choice, for SMS), and the live chat if any."""
    conversation = context.get("conversation") or {}
    reference = str(conversation.get("reference") or "") if isinstance(conversation, Mapping) else ""
    rating = links(reference, secret=secret, base_url=base_url, now=now, valid_for=valid_for) if enabled else {}
    page = ""
    if rating:
        page = f"{base_url}/r/{sign_short(reference, secret=secret, expires=now + valid_for)}"
    return {"rating": rating, "rating_page": page, "live_chat": live_chat_url or ""}


def record(claim: RatingClaim, *, now: datetime) -> bool:
    """Store the rating once; False when the conversation was already rated (the link worked once)."""
    try:
        ConversationModel(conversation_id=claim.conversation_id).update(
            actions=[ConversationModel.csat.set({"rating": claim.rating.value, "at": now.isoformat()})],
            condition=ConversationModel.conversation_id.exists() & ConversationModel.csat.does_not_exist(),
        )
    except UpdateError as exc:
        if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
            return False
        raise TransientError("could not store the rating") from exc
    return True


@dataclass(frozen=True, slots=True)
class RatingPage:
    status: int
    language: str
    title: str
    message: str


_PAGE_TEXT = {
    # Only the page's frame; the thanks itself is the library's rating-thanks snippet in the customer's language.
    "invalid": {
        "en": "This rating link is not valid or has expired.",
        "sv": "Den här länken för betyg är ogiltig eller har gått ut.",
        "de": "Dieser Bewertungslink ist ungültig oder abgelaufen.",
        "fr": "Ce lien d'évaluation n'est pas valide ou a expiré.",
        "es": "Este enlace de valoración no es válido o ha caducado.",
    },
    "already": {
        "en": "You have already rated this conversation. Thank you!",
        "sv": "Du har redan betygsatt det här ärendet. Tack!",
        "de": "Sie haben diesen Vorgang bereits bewertet. Vielen Dank!",
        "fr": "Vous avez déjà évalué cette demande. Merci !",
        "es": "Ya has valorado esta consulta. ¡Gracias!",
    },
}


_SCORES = {"good": 100.0, "okay": 50.0, "bad": 0.0}

# The short link's page: the question and the three answers, in the customer's language.
_CHOICE_TEXT = {
    "en": ("How did we do?", {"good": "Good", "okay": "Okay", "bad": "Bad"}),
    "sv": ("Hur gjorde vi?", {"good": "Bra", "okay": "Okej", "bad": "Dåligt"}),
    "de": ("Wie waren wir?", {"good": "Gut", "okay": "Okay", "bad": "Schlecht"}),
    "fr": ("Comment avons-nous fait ?", {"good": "Bien", "okay": "Moyen", "bad": "Mauvais"}),
    "es": ("¿Qué tal lo hicimos?", {"good": "Bien", "okay": "Regular", "bad": "Mal"}),
}


@dataclass(frozen=True, slots=True)
class ChoicePage:
    """The page a short rating link opens: one one-click link per rating (empty when the link is bad)."""

    status: int
    language: str
    title: str
    message: str
    choices: tuple[tuple[str, str], ...]  # (label, token of the one-click link)


def choices(token: str, *, secret: str, now: datetime, language_of: Callable[[str], str]) -> ChoicePage:
    """Verify a short link and offer the three one-click ratings (valid as long as the short link was)."""
    try:
        conversation_id, expires = verify_short(token, secret=secret, now=now)
    except InvalidRatingLink:
        return ChoicePage(400, "en", "Rating", _PAGE_TEXT["invalid"]["en"], ())
    language = language_of(conversation_id)
    question, labels = _CHOICE_TEXT.get(language, _CHOICE_TEXT["en"])
    options = tuple((labels[r.value], sign(conversation_id, r, secret=secret, expires=expires)) for r in Rating)
    return ChoicePage(200, language if language in _CHOICE_TEXT else "en", "Rating", question, options)


def rate(token: str, *, secret: str, now: datetime, thanks: Callable[[str], tuple[str, str]]) -> RatingPage:
    """Verify the link, store the rating once, emit Csat; `thanks(conversation_id)` -> (language, text)."""
    from chalicelib.metrics import Metric, value

    try:
        claim = verify(token, secret=secret, now=now)
    except InvalidRatingLink:
        return RatingPage(400, "en", "Rating", _PAGE_TEXT["invalid"]["en"])
    language, text = thanks(claim.conversation_id)
    if not record(claim, now=now):
        return RatingPage(200, language, "Rating", _PAGE_TEXT["already"].get(language, _PAGE_TEXT["already"]["en"]))
    # The score's Average is the campaign's CSAT (0-100); SampleCount is the number of answers.
    value(Metric.CSAT, _SCORES[claim.rating.value])
    return RatingPage(200, language, "Rating", text)
