"""The SLA clock and follow-up of each conversation: deadlines, Step Functions executions, timeline."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from chalicelib.businesshours import add_business_time, business_time_between
from chalicelib.config import URGENCIES, BusinessHours, FollowUp, Queue
from chalicelib.errors import TransientError
from chalicelib.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


class ClockKind(StrEnum):
    # Part of execution names: never rename.
    SLA = "sla"
    FOLLOW_UP = "followup"


class TimerKind(StrEnum):
    # Stored in breaches and compared in the ASL: never rename.
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


class TimelineKind(StrEnum):
    # Stored in the conversation's timeline (some written by the ASL): never rename.
    CREATED = "created"
    FIRST_RESPONSE_DUE = "first_response_due"
    FIRST_RESPONSE = "first_response"
    RESOLUTION_DUE = "resolution_due"
    SLA_BREACHED = "sla_breached"
    CLOCK_PAUSED = "clock_paused"
    CLOCK_RESUMED = "clock_resumed"
    REPRIORITISED = "reprioritised"
    FOLLOW_UP_SCHEDULED = "follow_up_scheduled"
    FOLLOW_UP_SENT = "follow_up_sent"
    AUTO_RESOLVED = "auto_resolved"
    RESOLVED = "resolved"
    REOPENED = "reopened"  # the customer wrote to a resolved conversation


# Step Functions execution names: 1-80 characters; we keep to [A-Za-z0-9-_] so names are also safe in
# CloudWatch and in URLs.
_NAME_MAX = 80
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
# Wait states take ISO-8601 with a literal Z; moto's interpreter accepts only this form (plus fractions).
_SFN_TS = "%Y-%m-%dT%H:%M:%SZ"
_TOP_URGENCY = URGENCIES[-1]
# A clock has at most two deadlines with two levels each; the bound only ends a stop's walk.
MAX_SLA_STEPS = 8


# ------------------------------------------------------------------ deadlines


@dataclass(frozen=True, slots=True)
class Deadlines:
    """When the conversation must be first answered and resolved; no first-response due once it was met."""

    first_response_due: datetime | None
    resolution_due: datetime


def compute_deadlines(created_at: datetime, urgency: str, queue: Queue, hours: BusinessHours) -> Deadlines:
    """Deadlines from the queue's SLA policy for `urgency`, counted in the campaign's business hours."""
    # An urgency outside the closed set (a classifier bug) must not leave a conversation untimed.
    key = urgency if urgency in queue.sla.first_response else "normal"
    return Deadlines(
        first_response_due=add_business_time(created_at, queue.sla.first_response[key], hours),
        resolution_due=add_business_time(created_at, queue.sla.resolution[key], hours),
    )


def urgency_reason(old: str, new: str, why: Iterable[str], fallback: str) -> str:
    """The line a conversation's `reasons` gains when its urgency changes: from what, to what, and why."""
    return f"urgency {old} -> {new}: {'; '.join(why) or fallback}"


def raised_urgency(urgency: str) -> str:
    """One level up (low -> normal -> high -> urgent); urgent stays urgent."""
    if urgency not in URGENCIES:
        return _TOP_URGENCY
    return URGENCIES[min(URGENCIES.index(urgency) + 1, len(URGENCIES) - 1)]


def sfn_timestamp(at: datetime) -> str:
    """An aware instant as the Wait state's timestamp, rounded up to the second so it is never early."""
    at = at.astimezone(UTC)
    if at.microsecond:
        at = at.replace(microsecond=0) + timedelta(seconds=1)
    return at.strftime(_SFN_TS)


def parse_timestamp(value: str) -> datetime:
    """A stored timestamp ('...Z', '+00:00', with or without fractions) as an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Timer:
    """One Wait of the SLA machine: at `at`, if `kind` is still unmet, record a breach of `level`."""

    kind: TimerKind
    level: int
    at: datetime
    due: datetime
    urgency: str  # the conversation's urgency after this escalation
    queue: str  # the queue it moves to (the escalation queue if configured, else its own)

    def to_input(self) -> dict[str, str]:
        # Numbers travel as strings: DynamoDB's N type in the ASL's updateItem takes a string.
        return {
            "kind": self.kind.value,
            "level": str(self.level),
            "at": sfn_timestamp(self.at),
            "due": sfn_timestamp(self.due),
            "urgency": self.urgency,
            "queue": self.queue,
        }


def sla_timers(
    deadlines: Deadlines, *, urgency: str, queue: Queue, hours: BusinessHours, first_response_met: bool = False
) -> tuple[Timer, ...]:
    """The escalation timers for one clock, in the order they fire.

    Level 1 at the deadline raises urgency one step and moves the conversation to the queue's
    escalation queue; level 2, if the queue sets `escalate_again_after` (business time), makes it urgent.
    """
    target_queue = queue.escalation_queue or queue.id
    level1 = raised_urgency(urgency)
    timers: list[Timer] = []
    deadlines_by_kind: list[tuple[TimerKind, datetime]] = [(TimerKind.RESOLUTION, deadlines.resolution_due)]
    if deadlines.first_response_due is not None and not first_response_met:
        deadlines_by_kind.insert(0, (TimerKind.FIRST_RESPONSE, deadlines.first_response_due))
    for kind, due in deadlines_by_kind:
        timers.append(Timer(kind, 1, due, due, level1, target_queue))
        if queue.escalate_again_after:
            again = add_business_time(due, queue.escalate_again_after, hours)
            timers.append(Timer(kind, 2, again, due, _TOP_URGENCY, target_queue))
    # Stable sort: on equal times the first response is checked before the resolution.
    return tuple(sorted(timers, key=lambda t: t.at))


class SlaAction(StrEnum):
    # What the machines send to the events queue (chalicelib/workflow_events.py): never rename.
    SLA_DUE = "sla_due"
    FOLLOW_UP_DUE = "send_follow_up"
    AUTO_RESOLVE_DUE = "auto_resolve"


def sla_input(
    conversation_id: str, version: int | str, step: int, timers: Sequence[Mapping[str, str]]
) -> dict[str, Any]:
    """The SLA machine's input for one timer (see infra/statemachines/sla.asl.json).

    The machine waits for `timer.at` and hands the whole input to our events handler, which decides
    whether the deadline was missed and starts step + 1 with `rest`: one Wait and one send per timer,
    no Pass or Choice states (billed transitions, issue 13).
    """
    if not timers:
        raise ValueError("an SLA clock needs at least one timer")
    return {
        "action": SlaAction.SLA_DUE.value,
        "conversation_id": conversation_id,
        "version": str(version),
        "step": str(step),
        "timer": dict(timers[0]),
        "rest": [dict(t) for t in timers[1:]],
    }


def follow_up_input(
    conversation_id: str,
    *,
    reply_id: str,
    replied_at: datetime,
    inbound_count: int,
    policy: FollowUp,
    resolved_status_due: str,
) -> dict[str, Any]:
    """The follow-up machine's input (see infra/statemachines/followup.asl.json).

    The delays are wall-clock time: the customer's silence is measured in days, not in our office hours.
    `resolve_after_seconds` is the follow-up task's timeout: the machine waits on it for the auto-resolve.
    """
    follow_up_at = replied_at + policy.delay
    return {
        "action": SlaAction.FOLLOW_UP_DUE.value,
        "conversation_id": conversation_id,
        "reply_id": reply_id,
        "inbound_count": str(inbound_count),
        "follow_up_at": sfn_timestamp(follow_up_at),
        "resolve_at": sfn_timestamp(follow_up_at + policy.resolve_after),
        # Step Functions takes a positive whole number of seconds for a task's timeout.
        "resolve_after_seconds": max(1, math.ceil(policy.resolve_after.total_seconds())),
        "resolved_status_due": resolved_status_due,
    }


# ------------------------------------------------------------------ executions


def execution_name(conversation_id: str, version: int | str, kind: str, step: int = 0) -> str:
    """A deterministic Step Functions execution name: duplicate deliveries map onto one execution.

    `<kind>-<conversation>-v<version>` (and `-s<step>` for an SLA clock's later timers) with unsafe
    characters replaced; if that is too long or had to be altered, a hash of the exact parts keeps
    different inputs from colliding.
    """
    raw = f"{kind}-{conversation_id}-v{version}" + (f"-s{step}" if step else "")
    safe = _NAME_UNSAFE.sub("_", raw)
    if safe == raw and len(raw) <= _NAME_MAX:
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:12]
    return f"{safe[: _NAME_MAX - len(digest) - 1]}-{digest}"


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN an execution named `name` of `state_machine_arn` has (or will have)."""
    prefix, sep, machine = state_machine_arn.partition(":stateMachine:")
    if not sep:
        raise ValueError(f"not a state machine ARN: {state_machine_arn!r}")
    return f"{prefix}:execution:{machine}:{name}"


def _client_error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _start(sfn: SFNClient, state_machine_arn: str, name: str, payload: Mapping[str, Any]) -> str:
    try:
        response = sfn.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload, sort_keys=True)
        )
    except ClientError as exc:
        # Same name already used: a redelivery, or a retry after a partial failure. The first start
        # owns the clock; Step Functions keeps names unique for 90 days after the execution closes.
        if _client_error_code(exc) == "ExecutionAlreadyExists":
            logger.info("workflow already started", extra={"execution_name": name})
            return execution_arn(state_machine_arn, name)
        raise TransientError(f"StartExecution failed: {_client_error_code(exc)}") from exc
    logger.info("workflow started", extra={"execution_name": name})
    return response["executionArn"]


def start_sla_clock(
    *,
    sfn: SFNClient,
    state_machine_arn: str,
    conversation_id: str,
    version: int,
    deadlines: Deadlines,
    urgency: str,
    queue: Queue,
    hours: BusinessHours,
    first_response_met: bool = False,
) -> str:
    """Start the SLA execution for this conversation version; returns its ARN (also on a duplicate start)."""
    timers = sla_timers(deadlines, urgency=urgency, queue=queue, hours=hours, first_response_met=first_response_met)
    return start_sla_step(
        sfn=sfn,
        state_machine_arn=state_machine_arn,
        conversation_id=conversation_id,
        version=version,
        step=0,
        timers=[t.to_input() for t in timers],
    )


def start_sla_step(
    *,
    sfn: SFNClient,
    state_machine_arn: str,
    conversation_id: str,
    version: int | str,
    step: int,
    timers: Sequence[Mapping[str, str]],
) -> str:
    """Start the execution that times `timers[0]` (step `step` of this clock version); its ARN, also on a duplicate.

    One execution per timer, each named after its step: a redelivered event that starts the next step
    again finds it (ExecutionAlreadyExists), and a stop finds the one running by walking the steps.
    """
    name = execution_name(conversation_id, version, ClockKind.SLA, step)
    return _start(sfn, state_machine_arn, name, sla_input(conversation_id, version, step, timers))


def stop_clock(*, sfn: SFNClient, execution_arn: str, cause: str) -> bool:
    """Stop an SLA or follow-up execution; False if it was not running (finished, or never started).

    The events handler also checks `workflow_version` / `follow_up_id` on the item when a timer fires,
    so a stop that fails after the version was bumped still cannot escalate on stale deadlines.
    """
    try:
        sfn.stop_execution(executionArn=execution_arn, cause=cause[:256])
    except ClientError as exc:
        if _client_error_code(exc) in ("ExecutionDoesNotExist", "ExecutionNotRunning", "ValidationException"):
            return False
        raise TransientError(f"StopExecution failed: {_client_error_code(exc)}") from exc
    logger.info("workflow stopped", extra={"execution": execution_arn.rsplit(":", 1)[-1], "cause": cause})
    return True


def stop_sla_clock(*, sfn: SFNClient, state_machine_arn: str, conversation_id: str, version: int, cause: str) -> bool:
    """Stop the running SLA execution of `version` (e.g. answered, resolved or closed by staff).

    The steps of one version run one after another: an earlier one has finished, a later one does not
    exist yet. So the walk asks each step's status from step 0 (StopExecution alone cannot tell: it
    answers success for a finished execution) and stops the one still running; usually that is step 0
    (two calls). A step started just after the walk passed it finds the version bumped when it fires
    and does nothing.
    """
    for step in range(MAX_SLA_STEPS):
        arn = execution_arn(state_machine_arn, execution_name(conversation_id, version, ClockKind.SLA, step))
        try:
            status = sfn.describe_execution(executionArn=arn)["status"]
        except ClientError as exc:
            if _client_error_code(exc) in ("ExecutionDoesNotExist", "ValidationException"):
                return False
            raise TransientError(f"DescribeExecution failed: {_client_error_code(exc)}") from exc
        if status == "RUNNING":
            return stop_clock(sfn=sfn, execution_arn=arn, cause=cause)
        if status != "SUCCEEDED":
            return False  # stopped, failed or timed out: nothing of this version runs after it
    return False


# ------------------------------------------------------------------ timeline values


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    kind: str
    detail: str = ""

    def to_item(self) -> dict[str, str]:
        """The map stored in ConversationModel.timeline (the same keys the ASL writes)."""
        return {
            "at": self.at.astimezone(UTC).isoformat(timespec="milliseconds"),
            "kind": str(self.kind),
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class ClockChange:
    """What the caller stores after a clock change: new version, deadlines, execution, timeline entry."""

    version: int
    deadlines: Deadlines
    execution_arn: str | None  # None while paused
    entry: TimelineEntry


def pause_sla_clock(
    *, sfn: SFNClient, state_machine_arn: str, conversation_id: str, version: int, deadlines: Deadlines, now: datetime
) -> ClockChange:
    """Pending on the customer: stop the clock and bump the version so the old execution is stale anyway.

    The deadlines are kept as they were; `resume_sla_clock` credits the paused time.
    """
    stop_sla_clock(
        sfn=sfn,
        state_machine_arn=state_machine_arn,
        conversation_id=conversation_id,
        version=version,
        cause="pending_customer",
    )
    return ClockChange(
        version=version + 1,
        deadlines=deadlines,
        execution_arn=None,
        entry=TimelineEntry(now, TimelineKind.CLOCK_PAUSED, "pending customer"),
    )


def resumed_deadlines(deadlines: Deadlines, *, paused_at: datetime, now: datetime, hours: BusinessHours) -> Deadlines:
    """The resolution deadline moved by the paused business time (pure; see resume_sla_clock)."""
    remaining = business_time_between(paused_at, deadlines.resolution_due, hours)
    if remaining <= timedelta(0):
        # It was already overdue when paused, and the old clock escalated it: no credit, no new deadline.
        return deadlines
    return Deadlines(
        first_response_due=deadlines.first_response_due, resolution_due=add_business_time(now, remaining, hours)
    )


def resume_sla_clock(
    *,
    sfn: SFNClient,
    state_machine_arn: str,
    conversation_id: str,
    version: int,
    deadlines: Deadlines,
    paused_at: datetime,
    now: datetime,
    urgency: str,
    queue: Queue,
    hours: BusinessHours,
    first_response_met: bool,
) -> ClockChange:
    """The customer replied: restart the clock as version+1 with the resolution time that was left."""
    new = resumed_deadlines(deadlines, paused_at=paused_at, now=now, hours=hours)
    # A resolution timer still in the past was overdue before the pause and escalated by the old clock.
    timers = [
        t
        for t in sla_timers(new, urgency=urgency, queue=queue, hours=hours, first_response_met=first_response_met)
        if t.kind is not TimerKind.RESOLUTION or t.at > now
    ]
    # Every timer already fired on the old clock (all overdue before the pause): nothing left to time.
    arn = None
    if timers:
        arn = start_sla_step(
            sfn=sfn,
            state_machine_arn=state_machine_arn,
            conversation_id=conversation_id,
            version=version + 1,
            step=0,
            timers=[t.to_input() for t in timers],
        )
    paused = business_time_between(paused_at, now, hours)
    return ClockChange(
        version=version + 1,
        deadlines=new,
        execution_arn=arn,
        entry=TimelineEntry(now, TimelineKind.CLOCK_RESUMED, f"paused {int(paused.total_seconds())}s of business time"),
    )


def reprioritise(
    *,
    sfn: SFNClient,
    state_machine_arn: str,
    conversation_id: str,
    version: int,
    created_at: datetime,
    urgency: str,
    queue: Queue,
    hours: BusinessHours,
    first_response_met: bool,
    now: datetime,
) -> ClockChange:
    """Urgency (or queue) changed: deadlines from creation under the new policy, on a new clock version.

    Time paused on the customer earlier is not credited again (the new deadlines count from creation).
    """
    stop_sla_clock(
        sfn=sfn,
        state_machine_arn=state_machine_arn,
        conversation_id=conversation_id,
        version=version,
        cause="reprioritised",
    )
    deadlines = compute_deadlines(created_at, urgency, queue, hours)
    arn = start_sla_clock(
        sfn=sfn,
        state_machine_arn=state_machine_arn,
        conversation_id=conversation_id,
        version=version + 1,
        deadlines=deadlines,
        urgency=urgency,
        queue=queue,
        hours=hours,
        first_response_met=first_response_met,
    )
    return ClockChange(
        version=version + 1,
        deadlines=deadlines,
        execution_arn=arn,
        entry=TimelineEntry(now, TimelineKind.REPRIORITISED, f"{urgency} in {queue.id}"),
    )


def start_follow_up(
    *,
    sfn: SFNClient,
    state_machine_arn: str,
    conversation_id: str,
    reply_id: str,
    replied_at: datetime,
    inbound_count: int,
    policy: FollowUp,
    resolved_status_due: str,
) -> str:
    """After a staff reply, start its follow-up; returns the execution ARN (also on a duplicate start).

    `reply_id` is the staff message id; store it as the conversation's `follow_up_id` so an older
    follow-up stands down. `inbound_count` is the count at reply time: any customer message since
    cancels the follow-up. `resolved_status_due` is the by_queue range key the item gets when the
    machine auto-resolves it (store.status_due("resolved", ...)).
    """
    name = execution_name(conversation_id, reply_id, ClockKind.FOLLOW_UP)
    payload = follow_up_input(
        conversation_id,
        reply_id=reply_id,
        replied_at=replied_at,
        inbound_count=inbound_count,
        policy=policy,
        resolved_status_due=resolved_status_due,
    )
    return _start(sfn, state_machine_arn, name, payload)


def stop_follow_up(*, sfn: SFNClient, state_machine_arn: str, conversation_id: str, reply_id: str, cause: str) -> bool:
    name = execution_name(conversation_id, reply_id, ClockKind.FOLLOW_UP)
    return stop_clock(sfn=sfn, execution_arn=execution_arn(state_machine_arn, name), cause=cause)


# ------------------------------------------------------------------ timeline reader


class ConversationView(Protocol):
    """The fields of ConversationModel the timeline reads (a model instance satisfies it)."""

    @property
    def created_at(self) -> str: ...
    @property
    def first_response_due(self) -> str | None: ...
    @property
    def resolution_due(self) -> str | None: ...
    @property
    def first_response_at(self) -> str | None: ...
    @property
    def resolved_at(self) -> str | None: ...
    @property
    def timeline(self) -> Any: ...


def _as_dict(value: Any) -> Mapping[str, Any]:
    # PynamoDB returns raw MapAttribute objects inside a ListAttribute(of=MapAttribute).
    if hasattr(value, "as_dict"):
        return value.as_dict()  # type: ignore[no-any-return]
    if isinstance(value, Mapping):
        return value
    return {}


def timeline(conversation: ConversationView, now: datetime | None = None) -> list[TimelineEntry]:
    """What happened and what is due when, oldest first: deadlines with their state, then stored entries.

    A deadline's detail is `met`, `pending` or `overdue` (as of `now`, default the current time).
    """
    now = now or datetime.now(UTC)
    created = parse_timestamp(conversation.created_at)
    entries: list[TimelineEntry] = [TimelineEntry(created, TimelineKind.CREATED)]
    first_at = parse_timestamp(conversation.first_response_at) if conversation.first_response_at else None
    resolved_at = parse_timestamp(conversation.resolved_at) if conversation.resolved_at else None
    for kind, due_text, done in (
        (TimelineKind.FIRST_RESPONSE_DUE, conversation.first_response_due, first_at),
        (TimelineKind.RESOLUTION_DUE, conversation.resolution_due, resolved_at),
    ):
        if not due_text:
            continue
        due = parse_timestamp(due_text)
        if done is not None:
            state = "met" if done <= due else "met late"
        else:
            state = "overdue" if due <= now else "pending"
        entries.append(TimelineEntry(due, kind, state))
    stored_kinds: set[str] = set()
    for raw in conversation.timeline or ():
        item = _as_dict(raw)
        if "at" not in item or "kind" not in item:
            continue
        stored = str(item["kind"])
        if stored in (TimelineKind.FIRST_RESPONSE_DUE, TimelineKind.RESOLUTION_DUE):
            continue  # a deadline is listed once, as it stands now (above), never as an older copy
        stored_kinds.add(stored)
        entries.append(TimelineEntry(parse_timestamp(str(item["at"])), stored, str(item.get("detail", ""))))
    # The reply stores its own first-response entry (with who answered): the field adds one only without it.
    if first_at is not None and TimelineKind.FIRST_RESPONSE not in stored_kinds:
        entries.append(TimelineEntry(first_at, TimelineKind.FIRST_RESPONSE))
    if resolved_at is not None and TimelineKind.AUTO_RESOLVED not in stored_kinds:
        entries.append(TimelineEntry(resolved_at, TimelineKind.RESOLVED))
    return sorted(entries, key=lambda e: e.at)


def paused_since(conversation: ConversationView) -> datetime | None:
    """When the resolution clock was paused, if it is paused now (the last pause/resume entry is a pause)."""
    last: TimelineEntry | None = None
    for raw in conversation.timeline or ():
        item = _as_dict(raw)
        if item.get("kind") in (TimelineKind.CLOCK_PAUSED, TimelineKind.CLOCK_RESUMED) and "at" in item:
            entry = TimelineEntry(parse_timestamp(str(item["at"])), str(item["kind"]))
            if last is None or entry.at >= last.at:
                last = entry
    return last.at if last is not None and last.kind == TimelineKind.CLOCK_PAUSED else None
