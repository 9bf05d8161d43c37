"""The outbox under one failure before the send: what provably did not go out is sent on the next try.

A step that runs before the provider call (START's opt-in; until the ack's rate-limit slot moved into
the in-flight mark's transaction, the slot too) is a DynamoDB write of its own. When that write's
answer is lost (a read timeout), nothing has been sent yet: the effect must go back to pending and go
out on redelivery, not be taken for a send whose answer was lost. This is how the 300-contact random
fault run lost a web ack (seed 7). Against the session's moto server, through the runtime's own clients.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from local.outbox import sent_emails

pytestmark = pytest.mark.functional


def _effect(kind: str = "ack") -> Any:
    from chalicelib.outbox import Effect, Kind, Policy

    conversation_id = f"RD-T{uuid.uuid4().hex[:6].upper()}"
    return Effect(f"{kind}-{conversation_id}", Kind.ACK, Policy.AT_MOST_ONCE, "email", "email", conversation_id)


def _compose(stack: Any, to: str) -> Callable[[str], Any]:
    from chalicelib.acknowledge import OutboundEmail

    def compose(message_id: str) -> OutboundEmail:
        msg = EmailMessage()
        msg["From"] = stack.campaign.sender_email
        msg["To"] = to
        msg["Subject"] = "We have your message"
        msg["Message-ID"] = f"<{message_id}>"
        msg.set_content("We have your message.")
        return OutboundEmail(
            message_id=message_id,
            subject="We have your message",
            to=to,
            raw=msg.as_bytes(),
            template="acknowledge",
            language="en",
            text="We have your message.",
        )

    return compose


def _once(first: BaseException) -> Callable[[], None]:
    """A pre-send step that fails the first time it runs, then succeeds."""
    calls: list[int] = []

    def step() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise first

    return step


def _lost_answer() -> BaseException:
    from chalicelib.errors import TransientError

    # What a store write raises when its UpdateItem was done but the answer never came back.
    err = TransientError("DynamoDB write failed: UpdateError")
    err.__cause__ = ReadTimeoutError(endpoint_url="https://dynamodb.test")
    return err


def _throttled() -> BaseException:
    return ClientError({"Error": {"Code": "Throttling", "Message": "slow down"}}, "UpdateItem")


@pytest.mark.parametrize("failure", [_lost_answer, _throttled], ids=["lost_answer", "throttled"])
def test_a_failure_before_the_send_leaves_the_effect_pending_and_the_retry_sends_it(
    stack: Any, failure: Callable[[], BaseException]
) -> None:
    from chalicelib import outbox, pipeline
    from chalicelib.delivery import deliver_email
    from chalicelib.errors import TransientError

    rt = pipeline.get_runtime()
    to = f"pre-send-{uuid.uuid4().hex[:10]}@customer.test"
    effect = _effect()
    before_send = _once(failure())
    # GIVEN an effect whose pre-send step fails once, before anything was sent
    # WHEN it is delivered, and delivered again as SQS redelivers the failed record
    with pytest.raises(TransientError):
        deliver_email(effect, _compose(stack, to), to=to, rt=rt, before_send=before_send)
    rec = outbox.get(effect.effect_id)
    # THEN the first try left the record pending and not in flight (nothing went out) ...
    assert rec is not None and (rec.status, rec.in_flight_since) == ("pending", None)
    assert [m for m in sent_emails(stack.moto_data()) if to in m["to"]] == []
    delivered = deliver_email(effect, _compose(stack, to), to=to, rt=rt, before_send=before_send)
    # ... and the retry sent it, once
    assert delivered.sent and not delivered.duplicate
    assert len([m for m in sent_emails(stack.moto_data()) if to in m["to"]]) == 1
    rec = outbox.get(effect.effect_id)
    assert rec is not None and (rec.status, rec.attempts) == ("sent", 2)


def test_a_lost_answer_of_the_send_itself_is_still_never_repeated(stack: Any) -> None:
    from chalicelib import outbox, pipeline
    from chalicelib.delivery import deliver_email
    from local.faults import Fault, FaultInjector

    rt = pipeline.get_runtime()
    to = f"lost-send-{uuid.uuid4().hex[:10]}@customer.test"
    effect = _effect()
    injector = FaultInjector().attach([rt.ses])
    try:
        # GIVEN SES carries out the send and its answer is lost
        injector.fail_next("ses.SendRawEmail", Fault.LOST_RESPONSE)
        # WHEN the ack is delivered, then delivered again
        first = deliver_email(effect, _compose(stack, to), to=to, rt=rt)
        again = deliver_email(effect, _compose(stack, to), to=to, rt=rt)
    finally:
        injector.detach()
    # THEN the outcome is unknown and stays so: one mail reached the customer, never a second
    assert (first.status.value, again.status.value, again.duplicate) == ("unknown", "unknown", True)
    assert len([m for m in sent_emails(stack.moto_data()) if to in m["to"]]) == 1
    rec = outbox.get(effect.effect_id)
    assert rec is not None and rec.reason == "response_lost"


def test_a_send_not_made_whose_mark_cannot_be_taken_back_is_still_sent_on_the_retry(stack: Any) -> None:
    from chalicelib import outbox, pipeline
    from chalicelib.delivery import deliver_email
    from chalicelib.errors import TransientError
    from local.faults import Fault, FaultInjector, runtime_clients

    rt = pipeline.get_runtime()
    to = f"stuck-mark-{uuid.uuid4().hex[:10]}@customer.test"
    effect = _effect()
    injector = FaultInjector().attach(runtime_clients(rt))
    try:
        # GIVEN a send that SES throttles (nothing went out), and both tries to take its in-flight mark
        # back failing: calls 0-4 are the claim, the mark, the send, the two releases
        injector.reset()
        for index, fault in ((2, Fault.THROTTLE), (3, Fault.SERVER_ERROR), (4, Fault.SERVER_ERROR)):
            injector.fail_call(index, fault)
        # WHEN it is delivered, and delivered again as SQS redelivers the failed record
        with pytest.raises(TransientError):
            deliver_email(effect, _compose(stack, to), to=to, rt=rt)
        calls = [c.name for c in injector.calls]
        stuck = outbox.get(effect.effect_id)
        delivered = deliver_email(effect, _compose(stack, to), to=to, rt=rt)
    finally:
        injector.detach()
    # THEN the faults hit the send and both releases, leaving the mark standing ...
    assert calls == ["dynamodb.PutItem", "dynamodb.UpdateItem", "ses.SendRawEmail"] + ["dynamodb.UpdateItem"] * 2
    assert stuck is not None and stuck.in_flight_since and stuck.status == "pending"
    # ... and the retry knew the mark for its own unsent one: it sent the mail, once
    assert delivered.sent and not delivered.duplicate
    assert len([m for m in sent_emails(stack.moto_data()) if to in m["to"]]) == 1
    rec = outbox.get(effect.effect_id)
    assert rec is not None and (rec.status, rec.in_flight_since) == ("sent", None)
