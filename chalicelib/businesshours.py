"""Business-hours arithmetic on a campaign's calendar: deadlines and remaining time for the SLA clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chalicelib.config import WEEKDAYS, BusinessHours

# The campaign parser stores "24:00" as 23:59 (datetime.time has no 24:00), so a range ending at
# 23:59 is read as "until midnight"; otherwise a 24h day would lose a minute at every midnight.
_END_OF_DAY = time(23, 59)
# A calendar with hours on no reachable day (every open day a holiday) must not loop forever.
_MAX_DAYS = 3 * 366


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


def _local_instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """A local wall-clock time on `day` as a UTC instant.

    fold=0 follows PEP 495: a time skipped by spring-forward maps with the pre-change offset (02:30
    on a CET->CEST day becomes 03:30 CEST), and a time repeated by fall-back means its first occurrence.
    """
    return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


def _open_intervals(hours: BusinessHours, first_day: date) -> Iterator[tuple[datetime, datetime]]:
    """Open intervals as UTC instants, in order, from the local day `first_day` on, for _MAX_DAYS days."""
    zone = ZoneInfo(hours.timezone)
    for offset in range(_MAX_DAYS):
        day = first_day + timedelta(days=offset)
        if day in hours.holidays:
            continue
        for opens, closes in hours.weekly.get(WEEKDAYS[day.weekday()], ()):
            start = _local_instant(day, opens, zone)
            if closes >= _END_OF_DAY:
                end = _local_instant(day + timedelta(days=1), time(0, 0), zone)
            else:
                end = _local_instant(day, closes, zone)
            if end > start:
                yield start, end


def add_business_time(start: datetime, duration: timedelta, hours: BusinessHours) -> datetime:
    """The instant `duration` of open time after `start` (aware in, aware UTC out).

    Open time is elapsed (real) time inside the calendar's weekly ranges, skipping holidays, in the
    calendar's own zone; a range that spans a DST change is as long as the clock actually runs.
    A start outside hours begins counting at the next opening, so Friday 19:00 + 4h is Monday 12:00
    for a calendar that opens at 08:00. A zero or negative duration returns `start` unchanged.
    """
    _require_aware("start", start)
    start = start.astimezone(UTC)
    if duration <= timedelta(0):
        return start
    if hours.always_open:
        return start + duration
    remaining = duration
    local_day = start.astimezone(ZoneInfo(hours.timezone)).date()
    for opens, closes in _open_intervals(hours, local_day):
        if closes <= start:
            continue
        begin = max(opens, start)
        available = closes - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
    raise ValueError(f"business hours in {hours.timezone} have no open time within {_MAX_DAYS} days")


def business_time_between(a: datetime, b: datetime, hours: BusinessHours) -> timedelta:
    """Open time from `a` to `b` (negative when `b` is before `a`), e.g. what is left of a deadline."""
    _require_aware("a", a)
    _require_aware("b", b)
    a, b = a.astimezone(UTC), b.astimezone(UTC)
    if b < a:
        return -business_time_between(b, a, hours)
    if hours.always_open:
        return b - a
    total = timedelta(0)
    local_day = a.astimezone(ZoneInfo(hours.timezone)).date()
    for opens, closes in _open_intervals(hours, local_day):
        if opens >= b:
            break
        overlap = min(closes, b) - max(opens, a)
        if overlap > timedelta(0):
            total += overlap
    return total


def is_open(at: datetime, hours: BusinessHours) -> bool:
    """Whether the calendar is open at the instant `at`."""
    _require_aware("at", at)
    if hours.always_open:
        return True
    at = at.astimezone(UTC)
    local_day = at.astimezone(ZoneInfo(hours.timezone)).date()
    for opens, closes in _open_intervals(hours, local_day - timedelta(days=1)):
        if opens > at:
            return False
        if opens <= at < closes:
            return True
    return False
