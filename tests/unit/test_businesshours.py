"""Business-hours arithmetic: overnight, weekend, holiday, DST changes, non-UTC zones, always open."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.businesshours import add_business_time, business_time_between, is_open
from chalicelib.config import BusinessHours

pytestmark = pytest.mark.unit

STOCKHOLM = ZoneInfo("Europe/Stockholm")
NEW_YORK = ZoneInfo("America/New_York")


def office(
    zone: str,
    *,
    weekdays: str = "08:00-18:00",
    friday: str = "08:00-17:00",
    holidays: tuple[date, ...] = (),
    weekend: str | None = None,
) -> BusinessHours:
    def parse(spec: str | None) -> tuple[tuple[time, time], ...]:
        if not spec:
            return ()
        out = []
        for part in spec.split(","):
            a, b = part.split("-")
            out.append((time.fromisoformat(a), time.fromisoformat(b)))
        return tuple(out)

    weekly = {d: parse(weekdays) for d in ("mon", "tue", "wed", "thu")}
    weekly["fri"] = parse(friday)
    weekly["sat"] = parse(weekend)
    weekly["sun"] = parse(weekend)
    return BusinessHours(timezone=zone, weekly=weekly, holidays=frozenset(holidays))


def local(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone)


def test_within_the_same_day_adds_plainly() -> None:
    # GIVEN a Stockholm office open 08-18 and a message on a Tuesday at 10:00
    hours = office("Europe/Stockholm")
    start = local(STOCKHOLM, 2026, 11, 24, 10, 0)
    # WHEN 4 business hours are added
    due = add_business_time(start, timedelta(hours=4), hours)
    # THEN it is due 14:00 the same day, returned in UTC
    assert due == local(STOCKHOLM, 2026, 11, 24, 14, 0)
    assert due.tzinfo is UTC


def test_overnight_carries_into_the_next_morning() -> None:
    # GIVEN a message on Tuesday at 16:00 with a 4h target
    hours = office("Europe/Stockholm")
    # WHEN the deadline is computed
    due = add_business_time(local(STOCKHOLM, 2026, 11, 24, 16, 0), timedelta(hours=4), hours)
    # THEN 2h are used on Tuesday and 2h on Wednesday from 08:00
    assert due == local(STOCKHOLM, 2026, 11, 25, 10, 0)


def test_message_before_opening_starts_counting_at_opening() -> None:
    hours = office("Europe/Stockholm")
    due = add_business_time(local(STOCKHOLM, 2026, 11, 24, 5, 30), timedelta(minutes=30), hours)
    assert due == local(STOCKHOLM, 2026, 11, 24, 8, 30)


def test_friday_evening_is_due_monday() -> None:
    # GIVEN a message on Friday at 19:00, after Friday's 17:00 closing
    hours = office("Europe/Stockholm")
    # WHEN a 4h target is applied
    due = add_business_time(local(STOCKHOLM, 2026, 11, 27, 19, 0), timedelta(hours=4), hours)
    # THEN it is due Monday 12:00
    assert due == local(STOCKHOLM, 2026, 11, 30, 12, 0)


def test_friday_afternoon_spills_over_the_weekend() -> None:
    hours = office("Europe/Stockholm")
    due = add_business_time(local(STOCKHOLM, 2026, 11, 27, 15, 0), timedelta(hours=4), hours)
    assert due == local(STOCKHOLM, 2026, 11, 30, 10, 0)


def test_holidays_are_skipped() -> None:
    # GIVEN Christmas Eve, Day and Boxing Day as holidays (Thu-Sat in 2026)
    hours = office("Europe/Stockholm", holidays=(date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 26)))
    # WHEN a message arrives Wednesday 23 Dec at 17:00 with a 4h target
    due = add_business_time(local(STOCKHOLM, 2026, 12, 23, 17, 0), timedelta(hours=4), hours)
    # THEN 1h counts on Wednesday and the rest on Monday 28 Dec
    assert due == local(STOCKHOLM, 2026, 12, 28, 11, 0)


def test_multi_day_target_counts_only_open_time() -> None:
    hours = office("Europe/Stockholm", friday="08:00-18:00")
    # 30h of open time = three 10h days
    due = add_business_time(local(STOCKHOLM, 2026, 11, 23, 8, 0), timedelta(hours=30), hours)
    assert due == local(STOCKHOLM, 2026, 11, 25, 18, 0)


def test_split_ranges_skip_the_lunch_break() -> None:
    hours = office("Europe/Stockholm", weekdays="08:00-12:00,13:00-17:00")
    due = add_business_time(local(STOCKHOLM, 2026, 11, 24, 11, 0), timedelta(hours=2), hours)
    assert due == local(STOCKHOLM, 2026, 11, 24, 14, 0)


def test_zone_other_than_utc_uses_local_wall_clock() -> None:
    # GIVEN a New York office and a message at 21:00 UTC on a Tuesday (16:00 in New York)
    hours = office("America/New_York")
    start = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
    # WHEN 4 business hours are added
    due = add_business_time(start, timedelta(hours=4), hours)
    # THEN 2h count on Tuesday (until 18:00 EST) and 2h on Wednesday from 08:00 EST = 15:00 UTC
    assert due == datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def test_utc_inside_hours_in_one_zone_is_closed_in_another() -> None:
    # 03:00 UTC is 04:00 in Stockholm (closed) and 22:00 in New York the day before (closed)
    at = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    assert not is_open(at, office("Europe/Stockholm"))
    assert not is_open(at, office("America/New_York"))
    assert is_open(datetime(2026, 11, 24, 14, 0, tzinfo=UTC), office("America/New_York"))


@pytest.mark.parametrize(
    ("zone", "saturday", "sunday_after"),
    [
        # Spring forward: Stockholm last Sunday of March (02:00 -> 03:00), New York second Sunday of March
        ("Europe/Stockholm", date(2026, 3, 28), date(2026, 3, 30)),
        ("America/New_York", date(2026, 3, 7), date(2026, 3, 9)),
        # Fall back: Stockholm last Sunday of October (03:00 -> 02:00), New York first Sunday of November
        ("Europe/Stockholm", date(2026, 10, 24), date(2026, 10, 26)),
        ("America/New_York", date(2026, 10, 31), date(2026, 11, 2)),
    ],
)
def test_dst_change_over_a_weekend_keeps_local_opening_time(zone: str, saturday: date, sunday_after: date) -> None:
    # GIVEN a weekday office, and a message late on the Friday before a DST change
    tz = ZoneInfo(zone)
    hours = office(zone)
    friday = saturday - timedelta(days=1)
    start = datetime.combine(friday, time(16, 30), tzinfo=tz)
    # WHEN 2h of business time are added
    due = add_business_time(start, timedelta(hours=2), hours)
    # THEN 30 min count on Friday and it is due 09:30 local on Monday, in the new offset
    assert due == datetime.combine(sunday_after, time(9, 30), tzinfo=tz)
    assert due.astimezone(tz).utcoffset() != start.utcoffset()


@pytest.mark.parametrize(
    ("zone", "change_day", "expected_hours"),
    [
        ("Europe/Stockholm", date(2026, 3, 29), 23),  # spring forward: the clock skips an hour
        ("America/New_York", date(2026, 3, 8), 23),
        ("Europe/Stockholm", date(2026, 10, 25), 25),  # fall back: an hour is repeated
        ("America/New_York", date(2026, 11, 1), 25),
    ],
)
def test_open_range_spanning_the_change_counts_real_elapsed_time(
    zone: str, change_day: date, expected_hours: int
) -> None:
    # GIVEN a calendar open all day every day (00:00-24:00, stored as 23:59 by the campaign parser)
    tz = ZoneInfo(zone)
    day = ((time(0, 0), time(23, 59)),)
    every_day = dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), day)
    hours = BusinessHours(timezone=zone, weekly=every_day, holidays=frozenset())
    start = datetime.combine(change_day, time(0, 0), tzinfo=tz)
    end = datetime.combine(change_day + timedelta(days=1), time(0, 0), tzinfo=tz)
    # WHEN the open time of the DST change day is measured
    open_time = business_time_between(start, end, hours)
    # THEN it is the real length of that day, and adding it back lands on the next midnight
    assert open_time == timedelta(hours=expected_hours)
    assert add_business_time(start, open_time, hours) == end


def test_dst_day_with_business_hours_after_the_change() -> None:
    # GIVEN a Sunday-open Stockholm calendar on spring-forward day (CEST from 03:00)
    hours = office("Europe/Stockholm", weekend="10:00-14:00")
    start = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # 01:30 CET, before the change
    # WHEN 1h is added
    due = add_business_time(start, timedelta(hours=1), hours)
    # THEN it is due 11:00 CEST = 09:00 UTC
    assert due == datetime(2026, 3, 29, 9, 0, tzinfo=UTC)


def test_always_open_is_plain_addition() -> None:
    hours = BusinessHours(
        timezone="Europe/Stockholm", weekly={}, holidays=frozenset({date(2026, 12, 25)}), always_open=True
    )
    start = datetime(2026, 12, 25, 3, 0, tzinfo=UTC)
    assert add_business_time(start, timedelta(seconds=90), hours) == start + timedelta(seconds=90)
    assert business_time_between(start, start + timedelta(hours=5), hours) == timedelta(hours=5)


def test_business_time_between_skips_closed_time() -> None:
    # GIVEN Friday 16:00 to Monday 10:00 in Stockholm
    hours = office("Europe/Stockholm")
    a = local(STOCKHOLM, 2026, 11, 27, 16, 0)
    b = local(STOCKHOLM, 2026, 11, 30, 10, 0)
    # THEN only Friday 16-17 and Monday 08-10 count, and the reverse is negative
    assert business_time_between(a, b, hours) == timedelta(hours=3)
    assert business_time_between(b, a, hours) == -timedelta(hours=3)


def test_between_is_the_inverse_of_add() -> None:
    hours = office("America/New_York", holidays=(date(2026, 11, 26),))
    start = datetime(2026, 11, 25, 20, 17, tzinfo=UTC)
    for minutes in (1, 45, 300, 600, 1234, 5000):
        due = add_business_time(start, timedelta(minutes=minutes), hours)
        assert business_time_between(start, due, hours) == timedelta(minutes=minutes)


def test_zero_duration_and_naive_input() -> None:
    hours = office("Europe/Stockholm")
    start = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # Saturday: closed
    assert add_business_time(start, timedelta(0), hours) == start
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_time(datetime(2026, 11, 28, 12, 0), timedelta(hours=1), hours)


def test_calendar_without_reachable_hours_raises() -> None:
    hours = BusinessHours(timezone="UTC", weekly={}, holidays=frozenset())
    with pytest.raises(ValueError, match="no open time"):
        add_business_time(datetime(2026, 1, 1, tzinfo=UTC), timedelta(hours=1), hours)
