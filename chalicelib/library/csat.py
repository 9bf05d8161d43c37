"""One-click satisfaction rating: a signed link per conversation and rating, valid once, no login."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
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
    """`links` for a template: the rating links of the conversation in the context, and the live chat if any."""
    conversation = context.get("conversation") or {}
    reference = str(conversation.get("reference") or "") if isinstance(conversation, Mapping) else ""
    rating = links(reference, secret=secret, base_url=base_url, now=now, valid_for=valid_for) if enabled else {}
    return {"rating": rating, "live_chat": live_chat_url or ""}


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
