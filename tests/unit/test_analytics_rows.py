"""Analytics rows: response times in calendar time and in the campaign's business hours."""

from __future__ import annotations

from datetime import date, time

import pytest

from chalicelib.analytics.export import conversation_row
from chalicelib.analytics.schema import CONVERSATION_COLUMNS
from chalicelib.config import BusinessHours
from chalicelib.models import ConversationModel

pytestmark = pytest.mark.unit

WEEKDAYS = {d: ((time(8), time(17)),) for d in ("mon", "tue", "wed", "thu", "fri")}
STOCKHOLM = BusinessHours(timezone="Europe/Stockholm", weekly=WEEKDAYS, holidays=frozenset({date(2026, 12, 7)}))


def conversation(**times: str) -> ConversationModel:
    return ConversationModel(conversation_id="RD-TEST01", customer_id="c", channel="email", status="open", **times)


def test_a_weekend_and_a_holiday_count_in_calendar_time_but_not_in_business_time() -> None:
    # GIVEN a message on Friday 16:30 in Stockholm, answered on Tuesday 08:30 (Monday is a holiday)
    conv = conversation(
        created_at="2026-12-04T15:30:00+00:00",  # 16:30 local
        first_response_at="2026-12-08T07:30:00+00:00",  # 08:30 local
        resolved_at="2026-12-08T09:00:00+00:00",  # 10:00 local
    )
    # WHEN it is exported with the campaign's hours
    row = conversation_row(conv, exported_at="x", hours=STOCKHOLM)
    # THEN calendar time runs through the weekend, business time only through the open half hours
    assert row["first_response_seconds"] == 4 * 86400 - 8 * 3600
    assert row["first_response_business_seconds"] == 3600  # Fri 16:30-17:00 + Tue 08:00-08:30
    assert row["resolution_business_seconds"] == 30 * 60 + 2 * 3600
    # AND every column the row has is in the schema the Glue tables and DuckDB use, and back
    assert set(row) == {name for name, _ in CONVERSATION_COLUMNS}


def test_without_hours_or_an_answer_the_business_times_are_empty() -> None:
    conv = conversation(created_at="2026-12-04T15:30:00+00:00")
    row = conversation_row(conv, exported_at="x", hours=STOCKHOLM)
    assert row["first_response_business_seconds"] is None and row["resolution_business_seconds"] is None
    answered = conversation(created_at="2026-12-04T15:30:00+00:00", first_response_at="2026-12-04T15:40:00+00:00")
    assert conversation_row(answered, exported_at="x")["first_response_business_seconds"] is None
