"""The response-time indices, computed the same way for the metrics we emit and for `replydesk stats`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.businesshours import business_time_between
from chalicelib.config import BusinessHours


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
