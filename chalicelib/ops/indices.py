"""The response-time indices, computed the same way for the metrics we emit and for `replydesk stats`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from chalicelib.businesshours import business_time_between
from chalicelib.config import BusinessHours, Campaign
from chalicelib.metrics import Metric, count, seconds


@dataclass(frozen=True, slots=True)
class Elapsed:
    """Time between two instants, on the calendar and counting business hours only."""

    calendar_seconds: float
    business_seconds: float


def elapsed(start: datetime, end: datetime, hours: BusinessHours) -> Elapsed:
    calendar = max(0.0, (end - start).total_seconds())
    business = max(0.0, business_time_between(start, end, hours).total_seconds())
    return Elapsed(calendar, business)


def met(at: datetime, due: datetime | None) -> bool:
    """A target without a deadline cannot be missed; at the deadline itself it is still met."""
    return due is None or at <= due


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (what CloudWatch's pNN reports for few samples); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil without floats drifting
    return ordered[int(rank) - 1]


class _Timed(Protocol):
    """The conversation fields the response-time indices read (a ConversationModel has them)."""

    @property
    def created_at(self) -> str: ...
    @property
    def queue(self) -> str: ...
    @property
    def first_response_due(self) -> str | None: ...
    @property
    def resolution_due(self) -> str | None: ...


def _due(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def observe_first_response(conv: _Timed, at: datetime, campaign: Campaign) -> None:
    """The first staff answer: first response time (calendar and business hours) and the SLA outcome."""
    e = elapsed(datetime.fromisoformat(conv.created_at), at, campaign.business_hours)
    seconds(Metric.FIRST_RESPONSE_TIME, e.calendar_seconds, queue=conv.queue)
    seconds(Metric.FIRST_RESPONSE_BUSINESS_TIME, e.business_seconds, queue=conv.queue)
    missed = 0 if met(at, _due(conv.first_response_due)) else 1
    count(Metric.SLA_MISSED, missed, queue=conv.queue, kind="first_response")


def observe_resolution(conv: _Timed, at: datetime, campaign: Campaign) -> None:
    """Resolved (by staff or by the follow-up machine): time to resolution and the SLA outcome."""
    e = elapsed(datetime.fromisoformat(conv.created_at), at, campaign.business_hours)
    seconds(Metric.RESOLUTION_TIME, e.calendar_seconds, queue=conv.queue)
    missed = 0 if met(at, _due(conv.resolution_due)) else 1
    count(Metric.SLA_MISSED, missed, queue=conv.queue, kind="resolution")


def observe_auto_resolution(conversation_id: str, at: str | None, campaign: Campaign) -> None:
    """The follow-up machine resolved the conversation at `at` (its state's entered time)."""
    from chalicelib import store

    conv = store.get_conversation(conversation_id)
    if conv is not None:
        when = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else datetime.now(UTC)
        observe_resolution(conv, when, campaign)
