"""Fault injection for the local stack: botocore event hooks that fail chosen AWS calls (tests, bench).

A hook on `before-call` raises before the request leaves (throttling, a 5xx); a hook on `after-call`
raises after the service did the work (the answer is lost: a read timeout). The hooks sit on the
runtime's own cached clients and on PynamoDB's botocore clients, so the code under test is unchanged.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError


class Fault(StrEnum):
    THROTTLE = "throttle"  # before the request: the service refused it for now
    SERVER_ERROR = "server_error"  # before the request: a 5xx from the front door
    LOST_RESPONSE = "lost_response"  # after the request: done by the service, the answer lost


# What each service really answers when it throttles: (error code, HTTP status).
_THROTTLES = {
    "dynamodb": ("ProvisionedThroughputExceededException", 400),
    "stepfunctions": ("ThrottlingException", 400),
    "sns": ("Throttled", 429),  # SNS's ThrottledException
    "s3": ("SlowDown", 503),
}


@dataclass
class Call:
    service: str
    operation: str

    @property
    def name(self) -> str:
        return f"{self.service}.{self.operation}"


@dataclass
class FaultInjector:
    """Counts every AWS call on the hooked clients and fails the ones it is told to, once each."""

    calls: list[Call] = field(default_factory=list)
    injected: list[tuple[int, str, Fault]] = field(default_factory=list)
    _at: dict[int, Fault] = field(default_factory=dict)
    _rate: float = 0.0
    _rng: random.Random = field(default_factory=lambda: random.Random(0))
    _ignore: frozenset[str] = frozenset()
    _clients: list[Any] = field(default_factory=list)
    _pending_after: dict[int, Fault] = field(default_factory=dict)
    _by_name: dict[str, list[Fault]] = field(default_factory=dict)
    # Per-record plans: each new record (by body) takes the next (call index, fault) of the plan.
    _record_plan: list[tuple[int, Fault]] = field(default_factory=list)
    assigned: dict[str, tuple[int, Fault]] = field(default_factory=dict)
    _current: tuple[int, Fault] | None = None
    _record_calls: int = -1
    # The calls each record made on its first delivery, by body: what a clean run of one contact costs,
    # whatever else the same drain processed (leftovers of other tests, timers firing).
    record_log: dict[str, list[str]] = field(default_factory=dict)
    _body: str | None = None

    # ------------------------------------------------------------------ wiring

    def attach(self, clients: Iterable[Any]) -> FaultInjector:
        for client in clients:
            if any(client is c for c in self._clients):
                continue
            events = client.meta.events
            events.register("before-call", self._before, unique_id=f"faults-before-{id(self)}")
            events.register("after-call", self._after, unique_id=f"faults-after-{id(self)}")
            self._clients.append(client)
        return self

    def detach(self) -> None:
        for client in self._clients:
            client.meta.events.unregister("before-call", unique_id=f"faults-before-{id(self)}")
            client.meta.events.unregister("after-call", unique_id=f"faults-after-{id(self)}")
        self._clients.clear()

    # ------------------------------------------------------------------ what to fail

    def reset(self) -> None:
        self.calls.clear()
        self.injected.clear()
        self._at.clear()
        self._pending_after.clear()
        self._by_name.clear()
        self._rate = 0.0
        self._record_plan = []
        self.assigned = {}
        self._current = None
        self._record_calls = -1
        self.record_log = {}
        self._body = None

    def plan_records(self, plan: Iterable[tuple[int, Fault]]) -> None:
        """Each record seen for the first time gets the next (index, fault): its index-th call fails once.

        Many records, each failing at a different call, then run in one drain (batched like Lambda).
        """
        self._record_plan = list(plan)

    def start_record(self, body: str) -> None:
        if body not in self.assigned and self._record_plan:
            self.assigned[body] = self._record_plan.pop(0)
            self._current = self.assigned[body]
        else:
            self._current = None  # a redelivery: its one fault already happened
        self._record_calls = 0
        first = body not in self.record_log
        self._body = body if first else None
        if first:
            self.record_log[body] = []

    def end_record(self) -> None:
        self._current = None
        self._record_calls = -1
        self._body = None

    def fail_call(self, index: int, fault: Fault) -> None:
        """Fail the `index`-th call (0-based, counted from the last reset) once."""
        self._at[index] = fault

    def fail_next(self, name: str, fault: Fault, times: int = 1) -> None:
        """Fail the next `times` calls of one operation (`sns.Publish`), wherever they come from."""
        self._by_name.setdefault(name, []).extend([fault] * times)

    def fail_randomly(self, rate: float, *, seed: int = 0, ignore: Iterable[str] = ()) -> None:
        """Fail each call with probability `rate`, with a random one of the three faults."""
        self._rate = rate
        self._rng = random.Random(seed)
        self._ignore = frozenset(ignore)

    # ------------------------------------------------------------------ hooks

    def _choose(self, index: int, name: str) -> Fault | None:
        if self._record_calls >= 0:
            nth = self._record_calls
            self._record_calls += 1
            if self._current is not None and self._current[0] == nth:
                fault = self._current[1]
                self._current = None
                return fault
        elif index in self._at:
            return self._at.pop(index)
        if self._by_name.get(name):
            return self._by_name[name].pop(0)
        if self._rate and name not in self._ignore and self._rng.random() < self._rate:
            return self._rng.choice(list(Fault))
        return None

    def _before(self, model: Any, params: Any = None, context: Any = None, **_: Any) -> None:
        call = Call(model.service_model.service_name, model.name)
        index = len(self.calls)
        self.calls.append(call)
        if self._body is not None:
            self.record_log[self._body].append(call.name)
        if isinstance(context, dict):
            context["fault_index"] = index  # the same dict reaches after-call, whatever other threads do
        nth = self._record_calls
        fault = self._choose(index, call.name)
        if fault is None:
            return
        # Per-record plans report the call's place within its record; otherwise its place overall.
        self.injected.append((nth if nth >= 0 else index, call.name, fault))
        if fault is Fault.LOST_RESPONSE:
            self._pending_after[index] = fault
            return
        # Like botocore's own messages, the text quotes what was sent: logs must scrub it.
        quoted = json.dumps(params, default=str)[:300] if params is not None else ""
        if fault is Fault.THROTTLE:
            code, status = _THROTTLES.get(call.service, ("Throttling", 400))
        else:
            code, status = ("InternalServerError", 500) if call.service == "dynamodb" else ("ServiceUnavailable", 503)
        raise ClientError(
            {
                "Error": {"Code": code, "Message": f"injected {fault.value} for {quoted}"},
                # botocore fills the other metadata keys on real answers
                "ResponseMetadata": {"HTTPStatusCode": status},  # type: ignore[typeddict-item]
            },
            model.name,
        )

    def _after(self, model: Any, context: Any = None, **_: Any) -> None:
        if not self._pending_after or not isinstance(context, dict):
            return
        index = context.get("fault_index")
        if index is not None and self._pending_after.pop(index, None) is not None:
            raise ReadTimeoutError(endpoint_url=f"https://{model.service_model.endpoint_prefix}.injected")


def runtime_clients(rt: Any) -> list[Any]:
    """Every botocore client the handlers use: the runtime's cached ones, the SQS/DynamoDB factories'
    (idempotency records, the DLQ) and PynamoDB's, one per model, plus the transaction connection."""
    from chalicelib import aws
    from chalicelib.models import ALL_MODELS
    from chalicelib.processing.commit import transaction_connection

    clients = [rt.ses, rt.sns, rt.sfn, rt.s3, aws.sqs(), aws.dynamodb()]
    for model in ALL_MODELS:
        clients.append(model._get_connection().connection.client)
    clients.append(transaction_connection().client)
    return clients
