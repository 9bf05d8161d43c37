"""Stateful limits: contact-form submissions per client IP and per address, acks per sender per window."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import DoesNotExist, GetError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.config import Campaign, RateLimit
from chalicelib.errors import TooManyRequests, TransientError
from chalicelib.models import IdentityModel, RateLimitModel
from chalicelib.outbox import EffectRefused
from chalicelib.store import iso


def _subject_key(kind: str, value: str) -> str:
    # Hashed: the counter table needs a stable key per IP or address, not the value itself.
    return f"{kind}#" + hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


def take(subject: str, limit: RateLimit, *, now: datetime) -> bool:
    """Count one hit for `subject` in the current fixed window; False (nothing counted) when it is full.

    One conditional UpdateItem (ADD hits, condition hits < max) per check, so concurrent requests
    cannot overshoot; the TTL attribute lets DynamoDB drop the counter after the window.
    """
    seconds = max(1, int(limit.per.total_seconds()))
    start = int(now.timestamp()) // seconds * seconds
    try:
        RateLimitModel(f"{subject}#{start}").update(
            actions=[RateLimitModel.hits.add(1), RateLimitModel.expires_at.set(start + 2 * seconds)],
            condition=RateLimitModel.hits.does_not_exist() | (RateLimitModel.hits < limit.max_acks),
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise TransientError("rate-limit counter update failed") from exc
    return True


def _wait_text(limit: RateLimit) -> str:
    minutes = max(1, round(limit.per.total_seconds() / 60))
    return f"{minutes} minutes" if minutes < 120 else f"{round(minutes / 60)} hours"


def check_client(source_ip: str, campaign: Campaign, *, now: datetime) -> None:
    """Raise TooManyRequests (429) when this client IP has sent too many submissions in the window."""
    if not source_ip:
        return  # API Gateway always sets it; a direct invocation has none and is not a web client
    limit = campaign.web_form.per_ip
    if not take(_subject_key("web-ip", source_ip), limit, now=now):
        raise TooManyRequests(
            f"too many submissions from your network: at most {limit.max_acks} per {_wait_text(limit)}; "
            "please try again later",
            field="ip",
        )


def check_address(email: str, campaign: Campaign, *, now: datetime) -> None:
    """Raise TooManyRequests (429) when this email address was submitted too often in the window."""
    limit = campaign.web_form.per_address
    if not take(_subject_key("web-address", email), limit, now=now):
        raise TooManyRequests(
            f"too many submissions for this email address: at most {limit.max_acks} per {_wait_text(limit)}; "
            "please try again later",
            field="email",
        )


# ------------------------------------------------------------------ the per-sender ack limit


@dataclass
class AckSlot:
    """One of an address's ack slots, taken in the same transaction as the ack's in-flight mark.

    The identity's `ack_log` holds `<iso time>|<effect id>` entries; an entry of this effect already
    there (an earlier try of the same ack) is the slot, taken again for free. `known` is the log as
    this delivery read it (identify): the write is conditional on it still being the stored one, and
    `refresh` drops it so the next `add` reads the current log. One write less than a slot of its own.
    """

    identity: str
    effect_id: str
    now: datetime
    limit: RateLimit
    known: Sequence[str] | None = None

    def _log(self) -> list[str] | None:
        if self.known is not None:
            return list(self.known)
        try:
            item = IdentityModel.get(self.identity, consistent_read=True)
        except DoesNotExist:
            return None
        except GetError as exc:
            raise TransientError("reading the ack log failed") from exc
        log = [str(t) for t in (item.ack_log or [])]
        self.known = log
        return log

    def add(self, tx: TransactWrite) -> None:
        """Add the slot's write to `tx`, or nothing if this effect holds one; EffectRefused when none is free."""
        log = self._log()
        if log is None or any(t.endswith(f"|{self.effect_id}") for t in log):
            return  # no identity to count for (never on the ack path), or the slot is ours already
        cutoff = iso(self.now - self.limit.per)
        recent = [t for t in log if t.split("|", 1)[0] >= cutoff]
        if len(recent) >= self.limit.max_acks:
            raise EffectRefused("rate_limited")
        # The equality condition turns two racing deliveries into one slot each, never one too many.
        tx.update(
            IdentityModel(identity=self.identity),
            actions=[IdentityModel.ack_log.set([*recent, f"{iso(self.now)}|{self.effect_id}"])],  # type: ignore[list-item]
            condition=IdentityModel.ack_log.does_not_exist() | (IdentityModel.ack_log == log),
        )

    def refresh(self) -> None:
        self.known = None
