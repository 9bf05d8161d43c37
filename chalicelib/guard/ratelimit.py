"""Stateful limits on the contact form: submissions per client IP and per email address per window."""

from __future__ import annotations

import hashlib
from datetime import datetime

from pynamodb.exceptions import UpdateError

from chalicelib.config import Campaign, RateLimit
from chalicelib.errors import TooManyRequests, TransientError
from chalicelib.models import RateLimitModel


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
