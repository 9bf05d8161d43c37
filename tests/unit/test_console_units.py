"""Console pure parts: the SLA badge, order numbers in customer text, page cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.console import cursor
from chalicelib.console.customers import order_references
from chalicelib.console.sla import SlaState, badge
from chalicelib.errors import ValidationError

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.parametrize(
    ("status", "due_in", "state"),
    [
        ("open", timedelta(minutes=30), SlaState.OK),
        ("open", timedelta(minutes=10), SlaState.WARNING),  # 10 of 60 minutes left: under 25 %
        ("new", timedelta(minutes=-5), SlaState.BREACHED),
        ("pending_customer", timedelta(minutes=-5), SlaState.PAUSED),
        ("resolved", timedelta(minutes=-5), SlaState.NONE),
    ],
)
def test_badge_states(status: str, due_in: timedelta, state: SlaState) -> None:
    due = NOW + due_in
    created = due - timedelta(minutes=60)
    b = badge(
        status=status,
        created_at=iso(created),
        first_response_due=iso(due),
        first_response_at=None,
        resolution_due=iso(due + timedelta(days=1)),
        now=NOW,
    )
    assert b.state is state
    if state is not SlaState.NONE:
        assert b.kind == "first_response" and b.remaining_seconds == int(due_in.total_seconds())


def test_badge_moves_to_resolution_once_the_first_response_is_met() -> None:
    b = badge(
        status="open",
        created_at=iso(NOW - timedelta(hours=1)),
        first_response_due=iso(NOW - timedelta(minutes=30)),
        first_response_at=iso(NOW - timedelta(minutes=40)),
        resolution_due=iso(NOW + timedelta(hours=3)),
        now=NOW,
    )
    assert b.kind == "resolution" and b.state is SlaState.OK and b.total_seconds == 4 * 3600


@pytest.mark.parametrize(
    ("text", "refs"),
    [
        ("My order 88812345 has not arrived", ["88812345"]),
        ("Order #A-1234 and order number: 55512", ["A-1234", "55512"]),
        ("Meine Bestellnummer 4711-22 fehlt", ["4711-22"]),
        ("commande n° 8812 — pedido 9001", ["8812", "9001"]),
        ("I want to order another one, in order to test", []),
    ],
)
def test_order_references(text: str, refs: list[str]) -> None:
    assert order_references([text]) == refs


def test_cursor_round_trip_and_refusal() -> None:
    state = {"general:open": {"conversation_id": {"S": "RD-1"}}, "general:new": "done"}
    assert cursor.decode(cursor.encode(state)) == state
    assert cursor.encode({}) is None
    for bad in ("!!", "bm90IGpzb24", cursor.encode({"x": 1})):  # not base64, not JSON, wrong shape
        with pytest.raises(ValidationError):
            cursor.decode(bad)


def test_search_tokens_fold_case_and_accents_and_keep_numbers() -> None:
    from chalicelib.searchindex import tokens

    assert tokens("Beställning 88812345 — BESTALLNING, the Paket!") == ["bestallning", "88812345", "paket"]
    assert tokens("a I") == []
