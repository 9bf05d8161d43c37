"""SLA clock building blocks: deadlines, timers, execution names, pause/resume, follow-up input, timeline."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from chalicelib.config import BusinessHours, FollowUp, Queue, SlaPolicy
from chalicelib.workflow import (
    Deadlines,
    TimelineEntry,
    TimerKind,
    compute_deadlines,
    execution_arn,
    execution_name,
    follow_up_input,
    pause_sla_clock,
    paused_since,
    raised_urgency,
    resume_sla_clock,
    resumed_deadlines,
    sfn_timestamp,
    sla_input,
    sla_timers,
    start_sla_clock,
    stop_sla_clock,
    timeline,
)

pytestmark = pytest.mark.unit

MACHINE = "arn:aws:states:eu-north-1:123456789012:stateMachine:replydesk-demo-sla"
WEEKDAY = ((time(8, 0), time(17, 0)),)
OFFICE = BusinessHours(
    timezone="Europe/Stockholm",
    weekly={
        "mon": WEEKDAY,
        "tue": WEEKDAY,
        "wed": WEEKDAY,
        "thu": WEEKDAY,
        "fri": WEEKDAY,
        "sat": (),
        "sun": (),
    },
    holidays=frozenset({date(2026, 12, 25)}),
)
ALWAYS = BusinessHours(timezone="UTC", weekly={}, holidays=frozenset(), always_open=True)


def queue(*, escalation: str | None = "supervisors", again: timedelta | None = timedelta(hours=1)) -> Queue:
    return Queue(
        id="general",
        label="General",
        sla=SlaPolicy(
            first_response={
                "low": timedelta(hours=8),
                "normal": timedelta(hours=4),
                "high": timedelta(hours=1),
                "urgent": timedelta(minutes=15),
            },
            resolution={
                "low": timedelta(days=5),
                "normal": timedelta(hours=18),
                "high": timedelta(hours=9),
                "urgent": timedelta(hours=2),
            },
        ),
        escalation_queue=escalation,
        escalate_again_after=again,
    )


def sfn_client() -> Any:
    return boto3.client("stepfunctions", region_name="eu-north-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_friday_evening_message_is_due_monday() -> None:
    # GIVEN a normal-urgency message on Friday 27 Nov 2026 at 19:00 Stockholm time (18:00 UTC)
    created = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    # WHEN its deadlines are computed for the general queue (4h first response, 18h resolution)
    d = compute_deadlines(created, "normal", queue(), OFFICE)
    # THEN first response is due Monday 12:00 local and resolution Tuesday 17:00 local (2 x 9h days)
    assert d.first_response_due == datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
    assert d.resolution_due == datetime(2026, 12, 1, 16, 0, tzinfo=UTC)


def test_unknown_urgency_falls_back_to_normal() -> None:
    created = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert compute_deadlines(created, "???", queue(), ALWAYS) == compute_deadlines(created, "normal", queue(), ALWAYS)


def test_urgency_is_raised_one_step_and_caps_at_urgent() -> None:
    assert [raised_urgency(u) for u in ("low", "normal", "high", "urgent")] == [
        "normal",
        "high",
        "urgent",
        "urgent",
    ]


def test_timers_escalate_twice_per_deadline_in_time_order() -> None:
    # GIVEN deadlines and a queue with an escalation queue and a second level after 1h
    d = Deadlines(datetime(2026, 11, 24, 10, 0, tzinfo=UTC), datetime(2026, 11, 24, 10, 30, tzinfo=UTC))
    # WHEN the timers are built
    timers = sla_timers(d, urgency="normal", queue=queue(), hours=ALWAYS)
    # THEN both deadlines get level 1 (one urgency step up) and level 2 (urgent), ordered by firing time
    assert [(t.kind, t.level, t.at.strftime("%H:%M"), t.urgency) for t in timers] == [
        (TimerKind.FIRST_RESPONSE, 1, "10:00", "high"),
        (TimerKind.RESOLUTION, 1, "10:30", "high"),
        (TimerKind.FIRST_RESPONSE, 2, "11:00", "urgent"),
        (TimerKind.RESOLUTION, 2, "11:30", "urgent"),
    ]
    assert {t.queue for t in timers} == {"supervisors"}


def test_timers_without_escalation_config_stay_in_queue_with_one_level() -> None:
    d = Deadlines(None, datetime(2026, 11, 24, 10, 30, tzinfo=UTC))
    timers = sla_timers(d, urgency="high", queue=queue(escalation=None, again=None), hours=ALWAYS)
    assert [(t.kind, t.level, t.queue) for t in timers] == [(TimerKind.RESOLUTION, 1, "general")]


def test_second_level_counts_business_time() -> None:
    # GIVEN a first response due at Friday closing (16:00 UTC = 17:00 Stockholm)
    due = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
    timers = sla_timers(Deadlines(due, due + timedelta(days=4)), urgency="normal", queue=queue(), hours=OFFICE)
    # THEN the second level fires one business hour later: Monday 09:00 local
    level2 = next(t for t in timers if t.kind is TimerKind.FIRST_RESPONSE and t.level == 2)
    assert level2.at == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def test_sfn_timestamp_is_utc_z_and_never_early() -> None:
    assert sfn_timestamp(datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)) == "2026-11-24T10:00:00Z"
    assert sfn_timestamp(datetime(2026, 11, 24, 10, 0, 0, 1, tzinfo=UTC)) == "2026-11-24T10:00:01Z"


@pytest.mark.parametrize("conversation_id", ["RD-7K3M9Q", "conv with spaces/and:colons", "x" * 200, "é"])
def test_execution_names_are_valid_and_deterministic(conversation_id: str) -> None:
    # GIVEN any conversation id WHEN the name is derived twice THEN it is the same, short and safe
    name = execution_name(conversation_id, 3, "sla")
    assert name == execution_name(conversation_id, 3, "sla")
    assert len(name) <= 80
    assert re.fullmatch(r"[A-Za-z0-9_-]+", name)


def test_execution_names_differ_by_version_kind_and_after_sanitising() -> None:
    names = {
        execution_name("RD-1", 1, "sla"),
        execution_name("RD-1", 2, "sla"),
        execution_name("RD-1", 1, "followup"),
        execution_name("a/b", 1, "sla"),
        execution_name("a:b", 1, "sla"),
        execution_name("y" * 100 + "1", 1, "sla"),
        execution_name("y" * 100 + "2", 1, "sla"),
    }
    assert len(names) == 7
    assert execution_name("RD-7K3M9Q", 1, "sla") == "sla-RD-7K3M9Q-v1"


def test_execution_arn_from_machine_arn() -> None:
    assert execution_arn(MACHINE, "sla-RD-1-v1") == (
        "arn:aws:states:eu-north-1:123456789012:execution:replydesk-demo-sla:sla-RD-1-v1"
    )


def test_duplicate_start_returns_the_existing_execution() -> None:
    # GIVEN Step Functions answers ExecutionAlreadyExists (a redelivered message, different start time)
    sfn = sfn_client()
    d = Deadlines(datetime(2026, 11, 24, 10, 0, tzinfo=UTC), datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    with Stubber(sfn) as stub:
        stub.add_client_error(
            "start_execution",
            service_error_code="ExecutionAlreadyExists",
            expected_params={"stateMachineArn": MACHINE, "name": "sla-RD-1-v1", "input": ANY},
        )
        # WHEN the clock is started
        arn = start_sla_clock(
            sfn=sfn,
            state_machine_arn=MACHINE,
            conversation_id="RD-1",
            version=1,
            deadlines=d,
            urgency="normal",
            queue=queue(),
            hours=ALWAYS,
        )
        stub.assert_no_pending_responses()
    # THEN it counts as started and the existing execution's ARN is returned
    assert arn == execution_arn(MACHINE, "sla-RD-1-v1")


def test_sla_input_shape() -> None:
    # GIVEN deadlines for a low-urgency conversation in a queue without a second level
    d = Deadlines(datetime(2026, 11, 24, 10, 0, tzinfo=UTC), datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    timers = [t.to_input() for t in sla_timers(d, urgency="low", queue=queue(again=None), hours=ALWAYS)]
    # WHEN the machine input of the clock's first step is built THEN it times the first deadline and
    # carries the rest for the next step; numbers are strings and times are Z timestamps
    assert sla_input("RD-1", 4, 0, timers) == {
        "action": "sla_due",
        "conversation_id": "RD-1",
        "version": "4",
        "step": "0",
        "timer": {
            "kind": "first_response",
            "level": "1",
            "at": "2026-11-24T10:00:00Z",
            "due": "2026-11-24T10:00:00Z",
            "urgency": "normal",
            "queue": "supervisors",
        },
        "rest": [
            {
                "kind": "resolution",
                "level": "1",
                "at": "2026-11-24T12:00:00Z",
                "due": "2026-11-24T12:00:00Z",
                "urgency": "normal",
                "queue": "supervisors",
            },
        ],
    }


def test_an_sla_clock_without_timers_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one timer"):
        sla_input("RD-1", 1, 0, [])


def test_later_steps_of_a_clock_have_names_of_their_own() -> None:
    assert execution_name("RD-1", 3, "sla", 0) == "sla-RD-1-v3"
    assert execution_name("RD-1", 3, "sla", 2) == "sla-RD-1-v3-s2"


def test_stop_walks_past_the_finished_steps_to_the_waiting_one() -> None:
    # GIVEN a clock whose first timer fired (step 0 succeeded) and whose second waits (step 1)
    sfn = sfn_client()
    with Stubber(sfn) as stub:
        for step, state in ((0, "SUCCEEDED"), (1, "RUNNING")):
            name = execution_name("RD-1", 2, "sla", step)
            stub.add_response(
                "describe_execution",
                {
                    "executionArn": execution_arn(MACHINE, name),
                    "stateMachineArn": MACHINE,
                    "status": state,
                    "startDate": datetime(2026, 11, 24, tzinfo=UTC),
                },
                {"executionArn": execution_arn(MACHINE, name)},
            )
        stub.add_response(
            "stop_execution",
            {"stopDate": datetime(2026, 11, 24, tzinfo=UTC)},
            {"executionArn": execution_arn(MACHINE, "sla-RD-1-v2-s1"), "cause": "resolved"},
        )
        # WHEN it is stopped
        stopped = stop_sla_clock(
            sfn=sfn, state_machine_arn=MACHINE, conversation_id="RD-1", version=2, cause="resolved"
        )
        stub.assert_no_pending_responses()
    # THEN the waiting step was stopped
    assert stopped


def test_pause_then_resume_moves_the_resolution_deadline_by_the_paused_time() -> None:
    # GIVEN a conversation due at 16:00 UTC, paused at 10:00 and resumed at 13:00 (always open)
    d = Deadlines(None, datetime(2026, 11, 24, 16, 0, tzinfo=UTC))
    paused_at = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    now = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
    sfn = sfn_client()
    with Stubber(sfn) as stub:
        stub.add_response(
            "describe_execution",
            {
                "executionArn": execution_arn(MACHINE, "sla-RD-1-v2"),
                "stateMachineArn": MACHINE,
                "status": "RUNNING",
                "startDate": paused_at,
            },
            {"executionArn": execution_arn(MACHINE, "sla-RD-1-v2")},
        )
        stub.add_response(
            "stop_execution",
            {"stopDate": paused_at},
            {"executionArn": execution_arn(MACHINE, "sla-RD-1-v2"), "cause": "pending_customer"},
        )
        stub.add_response(
            "start_execution",
            {"executionArn": "arn:new", "startDate": now},
            {"stateMachineArn": MACHINE, "name": "sla-RD-1-v4", "input": ANY},
        )
        # WHEN the clock is paused (version 2 -> 3) and then resumed (3 -> 4)
        paused = pause_sla_clock(
            sfn=sfn, state_machine_arn=MACHINE, conversation_id="RD-1", version=2, deadlines=d, now=paused_at
        )
        resumed = resume_sla_clock(
            sfn=sfn,
            state_machine_arn=MACHINE,
            conversation_id="RD-1",
            version=paused.version,
            deadlines=paused.deadlines,
            paused_at=paused_at,
            now=now,
            urgency="normal",
            queue=queue(),
            hours=ALWAYS,
            first_response_met=True,
        )
        stub.assert_no_pending_responses()
    # THEN the deadline moved by the 3h paused, on a new version, and both steps are on the timeline
    assert (paused.version, paused.execution_arn) == (3, None)
    assert (resumed.version, resumed.execution_arn) == (4, "arn:new")
    assert resumed.deadlines.resolution_due == datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
    assert [paused.entry.kind, resumed.entry.kind] == ["clock_paused", "clock_resumed"]


def test_paused_time_outside_business_hours_is_not_credited() -> None:
    # GIVEN due Monday 12:00 local, paused Friday 16:00 local and resumed Monday 09:00 local
    d = Deadlines(None, datetime(2026, 11, 30, 11, 0, tzinfo=UTC))
    paused_at = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    # WHEN the deadline is recomputed
    new = resumed_deadlines(d, paused_at=paused_at, now=now, hours=OFFICE)
    # THEN the 5 business hours left (Fri 16-17, Mon 08-12) count from Monday 09:00: due 14:00 local
    assert new.resolution_due == datetime(2026, 11, 30, 13, 0, tzinfo=UTC)


def test_overdue_when_paused_keeps_the_deadline() -> None:
    d = Deadlines(None, datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    new = resumed_deadlines(
        d,
        paused_at=datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
        now=datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
        hours=ALWAYS,
    )
    assert new == d


def test_follow_up_input_uses_wall_clock_delays() -> None:
    replied = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)
    payload = follow_up_input(
        "RD-1",
        reply_id="msg-9",
        replied_at=replied,
        inbound_count=2,
        policy=FollowUp(delay=timedelta(days=2), resolve_after=timedelta(days=5)),
        resolved_status_due="resolved#9999",
    )
    assert payload == {
        "action": "send_follow_up",
        "conversation_id": "RD-1",
        "reply_id": "msg-9",
        "inbound_count": "2",
        "follow_up_at": "2026-11-29T16:30:00Z",
        "resolve_at": "2026-12-04T16:30:00Z",
        # the follow-up task's timeout: how long the customer has to answer the follow-up
        "resolve_after_seconds": 5 * 86400,
        "resolved_status_due": "resolved#9999",
    }


@dataclass
class FakeConversation:
    created_at: str = "2026-11-24T09:00:00.000+00:00"
    first_response_due: str | None = "2026-11-24T10:00:00Z"
    resolution_due: str | None = "2026-11-24T17:00:00Z"
    first_response_at: str | None = None
    resolved_at: str | None = None
    timeline: list[dict[str, str]] = field(default_factory=list)


def test_timeline_shows_what_is_due_and_what_happened() -> None:
    # GIVEN a conversation whose first response was breached, then answered, then paused
    conv = FakeConversation(
        first_response_at="2026-11-24T10:20:00.000+00:00",
        timeline=[
            {
                "at": "2026-11-24T10:00:00.512345+00:00",
                "kind": "sla_breached",
                "detail": "first_response level 1, due 2026-11-24T10:00:00Z",
            },
            TimelineEntry(datetime(2026, 11, 24, 11, 0, tzinfo=UTC), "clock_paused", "pending customer").to_item(),
        ],
    )
    # WHEN the timeline is read at 12:00
    entries = timeline(conv, now=datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    # THEN it lists, oldest first, creation, the deadline (met late), the breach, the answer, the pause
    # and the pending resolution deadline
    assert [(e.at.strftime("%H:%M"), e.kind, e.detail.split(",")[0]) for e in entries] == [
        ("09:00", "created", ""),
        ("10:00", "first_response_due", "met late"),
        ("10:00", "sla_breached", "first_response level 1"),
        ("10:20", "first_response", ""),
        ("11:00", "clock_paused", "pending customer"),
        ("17:00", "resolution_due", "pending"),
    ]
    assert paused_since(conv) == datetime(2026, 11, 24, 11, 0, tzinfo=UTC)


def test_overdue_deadline_and_resume_clears_pause() -> None:
    conv = FakeConversation(
        timeline=[
            {"at": "2026-11-24T11:00:00Z", "kind": "clock_paused"},
            {"at": "2026-11-24T11:30:00Z", "kind": "clock_resumed"},
        ]
    )
    entries = timeline(conv, now=datetime(2026, 11, 24, 10, 30, tzinfo=UTC))
    assert ("first_response_due", "overdue") in [(e.kind, e.detail) for e in entries]
    assert paused_since(conv) is None


def test_timeline_lists_each_deadline_and_the_first_response_once() -> None:
    # GIVEN an answered conversation whose reply stored its own first-response entry (with who answered),
    # and an older stored copy of a deadline (as an earlier version of the clock wrote)
    conv = FakeConversation(
        first_response_at="2026-11-24T09:30:00.000+00:00",
        timeline=[
            {"at": "2026-11-24T09:30:00.000+00:00", "kind": "first_response", "detail": "Alex Agent"},
            {"at": "2026-11-24T16:00:00.000+00:00", "kind": "resolution_due", "detail": "pending"},
            {"at": "2026-11-24T11:00:00.000+00:00", "kind": "reopened", "detail": "customer wrote (sms)"},
        ],
    )
    # WHEN the timeline is read
    entries = timeline(conv, now=datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    kinds = [e.kind for e in entries]
    # THEN each deadline appears once, as it stands now, and the first response once, with who answered
    assert kinds.count("first_response_due") == 1 and kinds.count("resolution_due") == 1
    assert [(e.at.strftime("%H:%M"), e.detail) for e in entries if e.kind == "resolution_due"] == [("17:00", "pending")]
    assert [e.detail for e in entries if e.kind == "first_response"] == ["Alex Agent"]
    assert "reopened" in kinds
