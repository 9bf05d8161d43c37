"""The outbox: every outbound effect is recorded under a deterministic id, carried out once, then marked."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.errors import MessageError
from enum import StrEnum
from typing import Any, Protocol

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from jinja2 import TemplateError
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib import store
from chalicelib.errors import (
    RETRYABLE_AWS_CODES,
    DeliveryError,
    InvalidInput,
    NotFound,
    ReplydeskError,
    SegmentBudgetExceeded,
    SendNotAttempted,
    TransientError,
    ValidationError,
    error_code,
)
from chalicelib.inbound import TemplateRef
from chalicelib.library.rendering import TemplateError as LibraryTemplateError
from chalicelib.metrics import Metric, count
from chalicelib.models import EffectStatus, OutboxModel
from chalicelib.observability import logger


class Policy(StrEnum):
    """What a retry does with an effect whose outcome is unknown."""

    # An ack, follow-up or keyword answer: better lost than doubled, so an unknown outcome stays unknown.
    AT_MOST_ONCE = "at_most_once"
    # A staff reply or a clock start: repeated under the same id, so a duplicate is detectable
    # (the same Message-ID for mail; the same execution name for Step Functions).
    SAME_KEY = "same_key"


class Kind(StrEnum):
    # Stored in DynamoDB: never rename.
    ACK = "ack"
    REPLY = "reply"
    FOLLOW_UP = "follow_up"
    KEYWORD = "keyword"
    ESCALATION = "escalation"
    SLA_CLOCK = "sla_clock"
    RESOLUTION = "resolution"  # the message staff send with "Resolve"
    MENTION = "mention"  # a colleague @mentioned in an internal note is mailed


class OutcomeUnknown(ReplydeskError):
    """Raised when a send left and its answer was lost (timeout, dropped connection); a retry may repeat it."""

    retryable = True


class EffectRefused(ReplydeskError):
    """Raised when an effect can never succeed (invalid address, broken or missing template): parked with its reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Effect:
    """One outbound effect: its deterministic id and what the record says about it (never the address)."""

    effect_id: str
    kind: Kind
    policy: Policy
    channel: str
    target_kind: str
    conversation_id: str | None = None


@dataclass(frozen=True, slots=True)
class Sent:
    """What a successful send reports back to the outbox."""

    provider_id: str
    message_id: str | None = None
    template: TemplateRef | None = None
    result: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EffectResult:
    status: EffectStatus
    duplicate: bool
    provider_id: str | None = None
    message_id: str | None = None
    result: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None
    created_at: str = ""  # the record's first write: a stable time for the message it stores

    @property
    def sent(self) -> bool:
        return self.status is EffectStatus.SENT


_UNKNOWN_OUTCOME = (ReadTimeoutError, ConnectionClosedError)
_NOT_SENT = (EndpointConnectionError, ConnectTimeoutError)


def classify_failure(exc: BaseException, *, attempted: bool = True) -> str:
    """`not_sent` (retry), `unknown` (the request left, the answer was lost) or `refused` (never retry).

    `attempted=False`: the failure came before the send was called (a pre-send step's own write lost
    its answer), so whatever it was, nothing went out: never `unknown`.

    A ClientError is an answer from the service: the request arrived and was refused, so nothing was
    done (the SDK itself retries 5xx and throttling on that basis). A read timeout or a dropped
    connection after the request was written is the one case where the send may have happened.
    """
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    before_send = not attempted or any(isinstance(e, SendNotAttempted) for e in chain)
    for e in chain:
        if isinstance(e, (OutcomeUnknown, *_UNKNOWN_OUTCOME)) and not before_send:
            return "unknown"
    for e in chain:
        if isinstance(e, (*_NOT_SENT, *_UNKNOWN_OUTCOME, TransientError)):
            return "not_sent"
        if isinstance(e, ClientError):
            code = str(e.response.get("Error", {}).get("Code", ""))
            status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            # A 429 is a throttle whatever its code (SNS says `Throttled`): nothing was done, retry.
            if code in RETRYABLE_AWS_CODES or status == 429 or status >= 500 or code == "InternalFailure":
                return "not_sent"
            return "refused"
    for e in chain:
        if isinstance(e, EffectRefused | DeliveryError | InvalidInput | NotFound | SegmentBudgetExceeded):
            return "refused"
        if isinstance(e, TemplateError | LibraryTemplateError | ValidationError | ValueError | MessageError):
            return "refused"  # a template that cannot render, an address or header the mail library refuses
    return "not_sent"  # an unknown error before or inside the send: a bug or an outage, retried


def refusal_reason(exc: BaseException) -> str:
    """A short reason without personal data: the error's class (and AWS code), never its message text."""
    if isinstance(exc, EffectRefused):
        return exc.reason
    if isinstance(exc, ReplydeskError) and exc.aws_code:
        return f"{type(exc).__name__}:{exc.aws_code}"
    if isinstance(exc, ClientError):
        return f"ClientError:{exc.response.get('Error', {}).get('Code', '')}"
    if isinstance(exc, NotFound):
        return "template_missing"
    if isinstance(exc, TemplateError | LibraryTemplateError):
        return f"template_error:{type(exc).__name__}"
    if isinstance(exc, ValidationError):
        return f"invalid:{type(exc).__name__}"
    if isinstance(exc, ValueError | MessageError):
        return f"unsendable:{type(exc).__name__}"
    if isinstance(exc, SegmentBudgetExceeded):
        return "template_too_long"
    return type(exc).__name__


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds")


def _plain(value: Any) -> dict[str, Any]:
    """A stored MapAttribute as a plain dict (PynamoDB leaves as_dict untyped)."""
    if value is None:
        return {}
    return {str(k): v for k, v in (value.attribute_values if hasattr(value, "attribute_values") else value).items()}


def _as_result(rec: OutboxModel, *, duplicate: bool) -> EffectResult:
    return EffectResult(
        status=EffectStatus(rec.status),
        duplicate=duplicate,
        provider_id=rec.provider_id,
        message_id=rec.message_id,
        result=_plain(rec.result),
        reason=rec.reason,
        created_at=rec.created_at,
    )


def _transient(exc: Exception, what: str) -> TransientError:
    err = TransientError(f"outbox {what} failed: {type(exc).__name__}")
    err.__cause__ = exc
    return err


def get(effect_id: str) -> OutboxModel | None:
    try:
        return OutboxModel.get(effect_id, consistent_read=True)
    except DoesNotExist:
        return None


def _claim(effect: Effect, now: datetime) -> OutboxModel:
    """The pending record, written once; a redelivery reads the one its first delivery wrote."""
    rec = OutboxModel(
        effect_id=effect.effect_id,
        kind=effect.kind.value,
        status=EffectStatus.PENDING.value,
        conversation_id=effect.conversation_id,
        channel=effect.channel,
        target_kind=effect.target_kind,
        attempts=0,
        created_at=_iso(now),
        updated_at=_iso(now),
    )
    try:
        rec.save(condition=OutboxModel.effect_id.does_not_exist())
        return rec
    except PutError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise _transient(exc, "claim") from exc
    existing = get(effect.effect_id)
    if existing is None:
        raise TransientError("outbox record vanished after its claim")
    return existing


class Reserve(Protocol):
    """A write that must happen with the in-flight mark (a rate-limit slot): one transaction, both or neither."""

    def add(self, tx: TransactWrite) -> None:
        """Add its write to `tx` (or nothing if already held); raise EffectRefused when it cannot be had."""

    def refresh(self) -> None:
        """Its condition failed (another delivery changed what it read): read again before the next add."""


def _begin(rec: OutboxModel, now: datetime, *, retry_unknown: bool, reserve: Reserve | None = None) -> None:
    """Mark the send as under way; a concurrent try of the same effect makes this fail (and retry later).

    With `reserve` the mark and its write are one transaction (one call, and a lost answer left both
    written or neither: the retry finds its own slot).
    """
    allowed = OutboxModel.status == EffectStatus.PENDING.value
    if retry_unknown:
        allowed = allowed | (OutboxModel.status == EffectStatus.UNKNOWN.value)
    actions: list[Any] = [
        OutboxModel.in_flight_since.set(_iso(now)),
        OutboxModel.attempts.add(1),
        OutboxModel.updated_at.set(_iso(now)),
    ]
    condition = allowed & OutboxModel.in_flight_since.does_not_exist() if not retry_unknown else allowed
    for _ in range(3):
        try:
            if reserve is None:
                rec.update(actions=actions, condition=condition)
            else:
                with TransactWrite(connection=store.transaction_connection()) as tx:
                    tx.update(OutboxModel(effect_id=rec.effect_id), actions=actions, condition=condition)
                    reserve.add(tx)
            return
        except (UpdateError, TransactWriteError) as exc:
            # One reason per item, in the order added (both are updates): the mark, then the reserve.
            reasons = [getattr(r, "code", None) for r in (getattr(exc, "cancellation_reasons", None) or [])]
            if error_code(exc) == "ConditionalCheckFailedException" or (
                reasons and reasons[0] == "ConditionalCheckFailed"
            ):
                raise TransientError("another delivery is carrying out this effect") from exc
            if reserve is not None and len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                reserve.refresh()  # another delivery took a slot of this address meanwhile
                continue
            # Nothing was sent: if the flag was written and only its answer lost, take it back, or the
            # retry would take the effect for interrupted mid-send.
            _release(rec, now)
            raise _transient(exc, "begin") from exc
    raise TransientError("the reserve kept changing under the in-flight mark")


# Writes that belong with an effect's mark (the message it stored, the conversation it changed): given
# the transaction, the mark's status and the record's first write time, they add themselves to it.
Alongside = Callable[[TransactWrite, EffectStatus, str], None]


def _finish(
    rec: OutboxModel,
    status: EffectStatus,
    now: datetime,
    *,
    sent: Sent | None = None,
    reason: str | None = None,
    alongside: Alongside | None = None,
    condition: Any = None,
) -> None:
    actions: list[Any] = [
        OutboxModel.status.set(status.value),
        OutboxModel.in_flight_since.remove(),
        OutboxModel.updated_at.set(_iso(now)),
    ]
    if reason:
        actions.append(OutboxModel.reason.set(reason[:256]))
    if sent is not None:
        actions.append(OutboxModel.provider_id.set(sent.provider_id or ""))
        if sent.message_id:
            actions.append(OutboxModel.message_id.set(sent.message_id))
        if sent.result:
            actions.append(OutboxModel.result.set(dict(sent.result)))
        if sent.template is not None:
            actions += [
                OutboxModel.template_id.set(sent.template.id),
                OutboxModel.template_version.set(sent.template.version),
                OutboxModel.template_language.set(sent.template.language),
            ]
    # Setting the same values twice is harmless, and a mark lost after a real send would turn a sent
    # effect into an unknown one: one more try here before the record is retried.
    # With `alongside` the mark and those writes are one transaction: one call, and every write in it
    # repeats harmlessly.
    for attempt in (1, 2):
        try:
            if alongside is None:
                rec.update(actions=actions, condition=condition)
            else:
                with TransactWrite(connection=store.transaction_connection()) as tx:
                    tx.update(OutboxModel(effect_id=rec.effect_id), actions=actions, condition=condition)
                    alongside(tx, status, rec.created_at)
            return
        except (UpdateError, TransactWriteError) as exc:
            if attempt == 2:
                raise _transient(exc, "mark") from exc
            logger.warning("outbox mark failed, trying again", extra={"effect_id": rec.effect_id})


def _release(rec: OutboxModel, now: datetime) -> None:
    """Nothing went out: the next try may send.

    A flag left standing would make the next try take this effect for one interrupted mid-send (unknown,
    never sent), so one failed release is tried again; past that it is best effort, logged.
    """
    for attempt in (1, 2):
        try:
            rec.update(actions=[OutboxModel.in_flight_since.remove(), OutboxModel.updated_at.set(_iso(now))])
            return
        except UpdateError:
            logger.warning("outbox release failed", extra={"effect_id": rec.effect_id, "attempt": attempt})


def _undo(on_not_sent: Callable[[], None], effect: Effect) -> None:
    """Give back what the try took (a rate-limit slot); its failure must not keep the record in flight."""
    try:
        on_not_sent()
    except Exception as exc:  # noqa: BLE001 - the redelivery reuses the same slot (keyed by the effect)
        logger.warning(
            "giving back after a failed send failed",
            extra={"effect_kind": effect.kind.value, "error": type(exc).__name__},
        )


def perform(
    effect: Effect,
    send: Callable[[], Sent],
    *,
    now: Callable[[], datetime],
    before_send: Callable[[], None] = lambda: None,
    on_not_sent: Callable[[], None] = lambda: None,
    alongside: Alongside | None = None,
    reserve: Reserve | None = None,
) -> EffectResult:
    """Carry out `effect` once: claim it, send, mark it; a repeat returns the first result as a duplicate.

    `reserve` is written with the in-flight mark (an ack's rate-limit slot); when it cannot be had
    (EffectRefused), the effect is `failed` with that reason, nothing sent.

    `before_send` runs once the effect is marked in flight, right before `send` (START undoing the
    opt-out): whatever it raises, `send` was not called, so a lost answer of its own
    write is "not sent" (retried), never an unknown outcome.

    `alongside` adds writes to the mark of a sent (or possibly sent) effect, in the same transaction.

    `send` raises on failure. Not sent (throttled, 5xx, no connection): the record goes back to pending,
    `on_not_sent` runs (e.g. give a rate-limit slot back) and TransientError makes the record retry.
    Unknown outcome: AT_MOST_ONCE effects stay `unknown` (counted as OutcomeUnknown, never repeated);
    SAME_KEY effects raise OutcomeUnknown and are repeated with the same id. Refused: `failed` with its
    reason, returned (not raised), so the caller parks it once.
    """
    rec = _claim(effect, now())
    status = EffectStatus(rec.status)
    if status is EffectStatus.SENT or status is EffectStatus.FAILED:
        return _as_result(rec, duplicate=True)
    if status is EffectStatus.UNKNOWN and effect.policy is Policy.AT_MOST_ONCE:
        return _as_result(rec, duplicate=True)
    if rec.in_flight_since and effect.policy is Policy.AT_MOST_ONCE:
        # An earlier try died between its send and its mark: it may have gone out. Do not repeat it.
        # Only while the flag is the one read here: a concurrent delivery that was still sending and
        # has marked it since keeps its answer (this mark fails, and the retry finds it sent).
        still = (OutboxModel.in_flight_since == rec.in_flight_since) & (OutboxModel.status == rec.status)
        _finish(rec, EffectStatus.UNKNOWN, now(), reason="interrupted", alongside=alongside, condition=still)
        count(Metric.OUTCOME_UNKNOWN, kind=effect.kind.value)
        logger.warning("effect outcome unknown", extra={"effect_kind": effect.kind.value, "why": "interrupted"})
        return EffectResult(
            status=EffectStatus.UNKNOWN, duplicate=False, reason="interrupted", created_at=rec.created_at
        )
    try:
        _begin(rec, now(), retry_unknown=effect.policy is Policy.SAME_KEY, reserve=reserve)
    except EffectRefused as exc:
        return _refused(rec, effect, exc.reason, now())
    attempted = False
    try:
        before_send()
        attempted = True
        sent = send()
    except Exception as exc:
        kind = classify_failure(exc, attempted=attempted)
        if kind == "unknown":
            _finish(rec, EffectStatus.UNKNOWN, now(), reason="response_lost", alongside=alongside)
            count(Metric.OUTCOME_UNKNOWN, kind=effect.kind.value)
            logger.warning("effect outcome unknown", extra={"effect_kind": effect.kind.value, "why": "response_lost"})
            if effect.policy is Policy.SAME_KEY:
                raise OutcomeUnknown(f"{effect.kind.value} outcome unknown; retry with the same key") from exc
            return EffectResult(
                status=EffectStatus.UNKNOWN, duplicate=False, reason="response_lost", created_at=rec.created_at
            )
        _undo(on_not_sent, effect)
        if kind == "refused":
            return _refused(rec, effect, refusal_reason(exc), now())
        _release(rec, now())
        if isinstance(exc, TransientError):
            raise
        raise TransientError(f"{effect.kind.value} not sent: {type(exc).__name__}") from exc
    _finish(rec, EffectStatus.SENT, now(), sent=sent, alongside=alongside)
    return EffectResult(
        status=EffectStatus.SENT,
        duplicate=False,
        provider_id=sent.provider_id,
        message_id=sent.message_id,
        result=dict(sent.result),
        created_at=rec.created_at,
    )


def _refused(rec: OutboxModel, effect: Effect, reason: str, now: datetime) -> EffectResult:
    _finish(rec, EffectStatus.FAILED, now, reason=reason)
    count(Metric.EFFECT_FAILED, kind=effect.kind.value, reason=reason.split(":", 1)[0])
    logger.warning("effect refused", extra={"effect_kind": effect.kind.value, "reason": reason})
    return EffectResult(status=EffectStatus.FAILED, duplicate=False, reason=reason, created_at=rec.created_at)


def refuse(effect: Effect, reason: str, *, now: datetime) -> EffectResult:
    """Record an effect that failed before any send (its template cannot render): failed, once."""
    rec = _claim(effect, now)
    if rec.status != EffectStatus.PENDING.value:
        return _as_result(rec, duplicate=True)
    return _refused(rec, effect, reason, now)
