"""Exactly-once effects under injected AWS faults, duplicate and shuffled delivery, on the local stack.

For each AWS call on a path (counted in a clean run of the same path), reads included, one contact is
processed with that call failing once: throttled, a 5xx before the request, or the answer lost after the
service did the work. The pump redelivers failed records (as SQS does after the visibility
timeout). Then the invariants are counted in moto: one stored message, one conversation, one ack
(never two), one running SLA clock; a staff reply sent once per key; a follow-up sent once.
"""

from __future__ import annotations

import json
import logging
import random
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, TypeVar

import pytest
from botocore.exceptions import ClientError

from local.faults import Fault, FaultInjector, runtime_clients
from local.outbox import sent_emails, sent_sms
from local.phone import send_sms

pytestmark = pytest.mark.integration

T = TypeVar("T")

FAULTS = list(Fault)
# Mixed contacts (email, SMS, web in turn) for the random-fault run and the shuffled double delivery,
# at the sizes: about 35 s and 110 s on this 2-core machine.
RANDOM_FAULT_CONTACTS = 300
TWICE_SHUFFLED_CONTACTS = 500


# ------------------------------------------------------------------ the harness


@pytest.fixture(scope="module")
def faults(stack: Any) -> Iterator[FaultInjector]:
    from chalicelib import pipeline

    rt = pipeline.get_runtime()
    injector = FaultInjector().attach(runtime_clients(rt))
    pump = stack.pump
    saved = pump.redeliver_failed
    # Redeliver at once, as SQS does after the visibility timeout (processing keeps no in-progress
    # record that would have to expire first).
    pump.redeliver_failed = True
    factory = pipeline.intake_record_handler

    def traced_factory() -> Callable[[Any], dict[str, Any]]:
        inner = factory()

        def handler(record: Any) -> dict[str, Any]:
            fresh_templates()  # every record loads its templates: the same calls for each
            injector.start_record(record.body)
            try:
                return inner(record)
            finally:
                injector.end_record()

        return handler

    started = datetime.now(UTC)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "intake_record_handler", traced_factory)
        yield injector
    injector.detach()
    pump.redeliver_failed = saved
    stop_clocks_started_since(stack, started)


def stop_clocks_started_since(stack: Any, started: datetime) -> None:
    """Stop the SLA and follow-up executions this module started (about a thousand conversations).

    Their timers really wait: left running they fire minutes later into whichever test drains the
    events queue then, and it pays for handling them all.
    """
    sfn = stack.client("stepfunctions")
    for machine in (stack.env["SLA_STATE_MACHINE_ARN"], stack.env["FOLLOWUP_STATE_MACHINE_ARN"]):
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine, statusFilter="RUNNING"):
            for execution in page["executions"]:
                if execution["startDate"] >= started:
                    sfn.stop_execution(executionArn=execution["executionArn"], cause="fault suite over")


def fresh_templates() -> None:
    """Empty the template cache, so every contact makes the same calls (templates load from S3 each time)."""
    from chalicelib import pipeline

    source = pipeline.get_runtime().templates.source
    for cache in (getattr(source, "_versions", None), getattr(source, "_latest", None)):
        if isinstance(cache, dict):
            cache.clear()


def mail(stack: Any, sender: str, subject: str = "Order missing") -> tuple[bytes, str]:
    msg = EmailMessage()
    msg["From"] = f"Ada Lovelace <{sender}>"
    msg["To"] = str(stack.campaign.inbound_addresses[0])
    msg["Subject"] = subject
    msg["Date"] = "Fri, 01 May 2026 12:00:00 +0000"
    message_id = make_msgid(domain="customer.test")
    msg["Message-ID"] = message_id
    msg.set_content("Where is my order? It has not arrived.")
    return msg.as_bytes(), message_id.strip("<>")


def deliver_email(stack: Any, sender: str, raw: bytes | None = None) -> str:
    """What SES's receipt rule does: raw to S3, then the receipt notification (no SMTP round trip)."""
    from local.smtp import receipt_notification, ses_message_id

    if raw is None:
        raw, _ = mail(stack, sender)
    ses_id = ses_message_id()
    key = f"raw/email/{ses_id}"
    bucket, topic = stack.env["RAW_BUCKET"], stack.env["INBOUND_EMAIL_TOPIC_ARN"]
    stack.client("s3").put_object(Bucket=bucket, Key=key, Body=raw)
    note = receipt_notification(
        raw,
        mail_from=sender,
        recipients=[str(stack.campaign.inbound_addresses[0])],
        message_id=ses_id,
        bucket=bucket,
        key=key,
        topic_arn=topic,
        now=datetime.now(UTC),
    )
    stack.client("sns").publish(TopicArn=topic, Message=json.dumps(note), Subject="Amazon SES Email Receipt")
    return sender


def submit_form(stack: Any, email: str) -> str:
    body = json.dumps(
        {"name": "Maja", "email": email, "message": "Where is my order? It has not arrived.", "consent": True}
    ).encode()
    req = urllib.request.Request(
        f"{stack.api_url}/contact", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return str(json.loads(resp.read())["reference"])


def fresh_phone() -> str:
    while True:
        tail = f"{random.randrange(10**4):04d}"
        if not tail.endswith("99"):  # moto reports numbers ending in 99 as opted out
            return f"+1425{random.randrange(200, 999)}{tail}"


def mailbox(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@customer.test"


@dataclass(frozen=True)
class Contact:
    channel: str  # email | sms | web
    address: str  # email address or phone


def conversations_of(contact: Contact) -> list[Any]:
    from chalicelib import store
    from chalicelib.models import IdentityModel

    prefix = "phone" if contact.channel == "sms" else "email"
    try:
        customer_id = IdentityModel.get(f"{prefix}#{contact.address}", consistent_read=True).customer_id
    except IdentityModel.DoesNotExist:
        return []
    return store.customer_conversations(customer_id)


def inbound_count(conversation_id: str) -> int:
    from chalicelib import store

    return sum(1 for m in store.conversation_messages(conversation_id) if m.direction == "in")


def sla_execution(stack: Any, conversation_id: str) -> dict[str, Any] | None:
    from chalicelib.workflow import execution_name

    arn = stack.env["SLA_STATE_MACHINE_ARN"].replace(":stateMachine:", ":execution:")
    try:
        desc: dict[str, Any] = stack.client("stepfunctions").describe_execution(
            executionArn=f"{arn}:{execution_name(conversation_id, 1, 'sla')}"
        )
        return desc
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            return None
        raise


def acks_to(data: dict[str, Any], contact: Contact) -> list[dict[str, Any]]:
    if contact.channel == "sms":
        return [m for m in sent_sms(data) if m["to"] == contact.address]
    return [m for m in sent_emails(data) if contact.address in m["to"]]


def violations(stack: Any, contact: Contact, data: dict[str, Any]) -> list[str]:
    """What is wrong for one contact: each invariant of the README's "Invariants" section."""
    problems: list[str] = []
    convs = conversations_of(contact)
    if len(convs) != 1:
        return [f"{len(convs)} conversations"]
    conv = convs[0]
    if (n := inbound_count(conv.conversation_id)) != 1:
        problems.append(f"{n} stored inbound messages")
    acks = acks_to(data, contact)
    if len(acks) != 1:
        problems.append(f"{len(acks)} acks")
    if conv.ack_sent_at is None:
        problems.append("conversation not marked acknowledged")
    execution = sla_execution(stack, conv.conversation_id)
    if execution is None:
        problems.append("no SLA clock")
    elif int(conv.workflow_version or 0) != 1 or not conv.workflow_execution:
        problems.append(f"clock stored as version {conv.workflow_version} / {conv.workflow_execution}")
    return problems


def make_contact(stack: Any, channel: str) -> Contact:
    if channel == "email":
        return Contact("email", deliver_email(stack, mailbox("fault")))
    if channel == "sms":
        phone = fresh_phone()
        send_sms(stack, phone, "Hi, my order 4471 has not arrived yet. Can you check?")
        return Contact("sms", phone)
    email = mailbox("fault-web")
    submit_form(stack, email)
    return Contact("web", email)


def record_clean_run(stack: Any, faults: FaultInjector, channel: str) -> list[str]:
    """The calls one contact of `channel` makes when nothing fails (the sweep injects at each)."""
    stack.pump.drain()  # what earlier tests left queued runs now, not inside the clean run
    contact = make_contact(stack, channel)
    faults.reset()
    stack.pump.drain()
    # Only the contact's own record counts: a timer or another test's leftover in the same drain
    # would shift every index the sweep aims at.
    mine = [calls for body, calls in faults.record_log.items() if contact_of(stack, body) == contact.address]
    assert len(mine) == 1, (contact.channel, len(mine), len(faults.record_log))
    assert violations(stack, contact, stack.moto_data()) == []
    return mine[0]


def contact_of(stack: Any, body: str) -> str:
    """The address or phone a queued record is about (web envelopes point at the raw submission)."""
    try:
        return _contact_of(stack, body)
    except (KeyError, TypeError, ValueError, ClientError):
        return ""  # not a contact of this file (a leftover of another test)


def _contact_of(stack: Any, body: str) -> str:
    data = json.loads(body)
    if data.get("channel") == "web":
        raw = stack.client("s3").get_object(Bucket=data["bucket"], Key=data["key"])["Body"].read()
        return str(json.loads(raw)["email"])
    message = data.get("Message")
    message = json.loads(message) if isinstance(message, str) else message
    if "originationNumber" in message:
        return str(message["originationNumber"])
    return str(message["mail"]["source"])


def every_call(calls: list[str]) -> list[int]:
    """Every call of the path, reads and every write included: a read that fails must not be taken for
    "already done", and each transaction is a different group of writes."""
    return list(range(len(calls)))


def sweep(
    stack: Any, faults: FaultInjector, channel: str, fault: Fault, select: Callable[[list[str]], list[int]]
) -> None:
    """One contact per selected call, each failing at that call once, all processed in one drain."""
    clean = record_clean_run(stack, faults, channel)
    targets = select(clean)
    assert targets, clean
    contacts = {c.address: c for c in (make_contact(stack, channel) for _ in targets)}
    faults.reset()
    faults.plan_records([(i, fault) for i in targets])
    stack.pump.drain(max_rounds=400)
    # Every planned fault fired at the call it was meant for (the path is deterministic).
    fired = {(nth, name) for nth, name, _ in faults.injected}
    missing = [f"call {i} ({clean[i]}) never reached" for i in targets if (i, clean[i]) not in fired]
    data = stack.moto_data()
    report = list(missing)
    for body, (index, _) in faults.assigned.items():
        contact = contacts[contact_of(stack, body)]
        problems = violations(stack, contact, data)
        if problems:
            report.append(f"call {index} ({clean[index]}) {fault.value}: {', '.join(problems)}")
    assert len(faults.assigned) == len(targets), (len(faults.assigned), len(targets))
    assert report == [], "\n".join(report)


# ------------------------------------------------------------------ one fault on each call, per path


@pytest.mark.parametrize("fault", FAULTS, ids=[f.value for f in FAULTS])
def test_email_path_survives_one_fault_on_any_call(stack: Any, faults: FaultInjector, fault: Fault) -> None:
    # GIVEN the calls one inbound email makes; WHEN each of them fails once in turn and SQS redelivers
    # THEN every mail is stored once, in one conversation, acknowledged once, with one SLA clock
    sweep(stack, faults, "email", fault, every_call)


@pytest.mark.parametrize("fault", FAULTS, ids=[f.value for f in FAULTS])
def test_sms_path_survives_one_fault_on_any_call(stack: Any, faults: FaultInjector, fault: Fault) -> None:
    sweep(stack, faults, "sms", fault, every_call)


@pytest.mark.parametrize("fault", FAULTS, ids=[f.value for f in FAULTS])
def test_web_path_survives_one_fault_on_any_call(stack: Any, faults: FaultInjector, fault: Fault) -> None:
    sweep(stack, faults, "web", fault, every_call)


def opted_out(phone: str) -> bool:
    from chalicelib import store

    return store.suppression_reason(f"phone#{phone}") == "opt_out"


def keyword_phones(stack: Any, word: str, n: int) -> list[str]:
    """`n` numbers, each with `word` queued; for START each has opted out first (STOP processed, no fault)."""
    phones = [fresh_phone() for _ in range(n)]
    if word == "START":
        for phone in phones:
            send_sms(stack, phone, "STOP")
        stack.pump.drain()
    for phone in phones:
        send_sms(stack, phone, word)
    return phones


def keyword_violations(phone: str, word: str, answer: str, data: dict[str, Any]) -> list[str]:
    """One keyword message: stored once, its answer sent once, the opt-out state it asks for."""
    problems: list[str] = []
    answers = [m for m in sent_sms(data) if m["to"] == phone and m["text"] == answer]
    if len(answers) != 1:
        problems.append(f"{len(answers)} answers")
    contact = Contact("sms", phone)
    stored = sum(inbound_count(c.conversation_id) for c in conversations_of(contact))
    if stored != (2 if word == "START" else 1):
        problems.append(f"{stored} stored inbound messages")
    if opted_out(phone) is not (word == "STOP"):
        problems.append(f"opted out: {opted_out(phone)}")
    return problems


@pytest.mark.parametrize("word", ["STOP", "START", "HELP"])
@pytest.mark.parametrize("fault", FAULTS, ids=[f.value for f in FAULTS])
def test_keyword_answer_is_sent_once_under_one_fault_on_any_call(
    stack: Any, faults: FaultInjector, fault: Fault, word: str
) -> None:
    # GIVEN the calls one SMS keyword makes (STOP opts out and confirms, START opts back in and confirms,
    # HELP answers), and the answer it sends, from a clean run
    stack.pump.drain()
    (phone,) = keyword_phones(stack, word, 1)
    faults.reset()
    stack.pump.drain()
    mine = [calls for body, calls in faults.record_log.items() if contact_of(stack, body) == phone]
    assert len(mine) == 1, len(mine)
    clean = mine[0]
    answer = [m["text"] for m in sent_sms(stack.moto_data()) if m["to"] == phone][-1]
    assert keyword_violations(phone, word, answer, stack.moto_data()) == []
    # WHEN each of those calls fails once in turn, one number each, and SQS redelivers
    phones = set(keyword_phones(stack, word, len(clean)))
    faults.reset()
    faults.plan_records([(i, fault) for i in range(len(clean))])
    stack.pump.drain(max_rounds=400)
    # THEN every planned fault fired, and each number got its answer once, stored once, opted out or in
    fired = {(nth, name) for nth, name, _ in faults.injected}
    report = [f"call {i} ({clean[i]}) never reached" for i in range(len(clean)) if (i, clean[i]) not in fired]
    data = stack.moto_data()
    for body, (index, _) in faults.assigned.items():
        number = contact_of(stack, body)
        assert number in phones
        if problems := keyword_violations(number, word, answer, data):
            report.append(f"call {index} ({clean[index]}) {fault.value}: {', '.join(problems)}")
    assert len(faults.assigned) == len(clean)
    assert report == [], "\n".join(report)


@pytest.mark.parametrize(
    ("channel", "call"), [("sms", "sns.Publish"), ("email", "ses.SendRawEmail"), ("web", "ses.SendRawEmail")]
)
def test_a_throttled_ack_waits_and_goes_out_on_redelivery(
    stack: Any, faults: FaultInjector, channel: str, call: str
) -> None:
    from chalicelib import outbox
    from chalicelib.processing.stages import ack_effect_id

    # GIVEN a contact whose ack send is throttled once, with the code the service really answers
    # (SNS: `Throttled`, HTTP 429; SES: `Throttling`)
    faults.reset()
    contact = make_contact(stack, channel)
    faults.fail_next(call, Fault.THROTTLE)
    # WHEN it is processed and SQS redelivers the failed record
    stack.pump.drain()
    # THEN the throttle happened, and the ack went out once on the second try, not dropped
    assert [(name, fault) for _, name, fault in faults.injected] == [(call, Fault.THROTTLE)]
    assert violations(stack, contact, stack.moto_data()) == []
    (conv,) = conversations_of(contact)
    rec = outbox.get(ack_effect_id(conv.conversation_id))
    assert rec is not None and (rec.status, rec.attempts) == ("sent", 2)


def until_done(attempt: Callable[[], T], what: str, *, every_failure: bool = False, attempts: int = 4) -> T:
    """Try `attempt` again after a failure, as its caller would: the console after a retryable error
    (with the same request and key), SQS after any failure (`every_failure`)."""
    from chalicelib.errors import is_retryable

    last: Exception | None = None
    for _ in range(attempts):
        try:
            return attempt()
        except Exception as exc:
            if not (every_failure or is_retryable(exc)):
                raise
            last = exc
    raise AssertionError(f"{what} never went through: {last!r}")


def handle_until_done(body: str) -> None:
    """What the events queue does with one record: a failed delivery is delivered again.

    The record is handed to the handler here rather than queued: a timer of an earlier conversation
    (the demo's SLA machines really wait) may land on the queue at any time, and its calls inside the
    drain would shift every call index a sweep aims at.
    """
    from chalicelib.events import handle_event

    until_done(lambda: handle_event(body), "the event", every_failure=True)


def fired(faults: FaultInjector, index: int, name: str, report: list[str]) -> None:
    """Clear the plan, so a fault that did not fire cannot hit what runs next (the next contact's post).

    A planned fault that did not fire although the path got that far is reported. A path shorter than
    its clean run has no call at that index: the clean run's last write can be one that is made only
    once (an index entry, a counter already set), and a shorter path has nothing there to fail.
    """
    if not faults.injected and len(faults.calls) > index:
        report.append(f"call {index} ({name}) reached but its fault never fired")
    faults.reset()


def answered_conversation(stack: Any) -> tuple[Contact, str]:
    contact = make_contact(stack, "web")
    stack.pump.drain()
    convs = conversations_of(contact)
    assert len(convs) == 1
    return contact, convs[0].conversation_id


def reply_until_done(conversation_id: str, key: str) -> dict[str, Any]:
    """What the console does: retry a failed send with the same idempotency key."""
    from chalicelib import pipeline
    from chalicelib.reply import staff_reply

    def reply() -> dict[str, Any]:
        text = "Here is your tracking link."
        return staff_reply(conversation_id, text, sent_by="sam", idempotency_key=key, rt=pipeline.get_runtime())

    return until_done(reply, "the reply")


@pytest.mark.parametrize("fault", FAULTS, ids=[f.value for f in FAULTS])
def test_staff_reply_is_sent_once_per_key_under_one_fault(stack: Any, faults: FaultInjector, fault: Fault) -> None:
    # GIVEN the calls one staff reply makes
    _, conv_id = answered_conversation(stack)
    fresh_templates()
    faults.reset()
    reply_until_done(conv_id, "clean")
    clean = [c.name for c in faults.calls]
    report: list[str] = []
    for index in every_call(clean):
        name = clean[index]
        contact, conv_id = answered_conversation(stack)
        fresh_templates()
        faults.reset()
        faults.fail_call(index, fault)
        # WHEN that call fails once and staff retry with the same key, then once more by mistake
        first = reply_until_done(conv_id, "k1")
        fired(faults, index, name, report)
        again = reply_until_done(conv_id, "k1")
        # THEN the second answer is the first one, marked as a duplicate
        if not (first["sent"] and again["duplicate"] and again["message_id"] == first["message_id"]):
            report.append(f"call {index} ({name}): {first} / {again}")
            continue
        # A reply's Message-ID is its effect's id (`reply-…`); the ack's FAQ may mention tracking links too.
        replies = [m for m in acks_to(stack.moto_data(), contact) if m["message_id"].startswith("reply-")]
        ids = {m["message_id"] for m in replies}
        # AND the customer got it once; only a lost SES answer repeats it, with the same Message-ID
        allowed = 2 if (fault is Fault.LOST_RESPONSE and name == "ses.SendRawEmail") else 1
        if len(ids) != 1 or not 1 <= len(replies) <= allowed:
            report.append(f"call {index} ({name}): {len(replies)} replies, {len(ids)} Message-IDs")
        from chalicelib import store

        conv = store.get_conversation(conv_id)
        assert conv is not None
        if conv.follow_up_id != first["message_id"] or conv.status != "pending_customer":
            report.append(f"call {index} ({name}): conversation not updated ({conv.status}, {conv.follow_up_id})")
    assert report == [], "\n".join(report)


def seen_version(conversation_id: str) -> int:
    """The version the agent's console shows (read before any fault is planned: it is not the request's)."""
    from chalicelib import store

    conv = store.get_conversation(conversation_id)
    assert conv is not None
    return int(conv.version or 0)


def resolve_until_done(conversation_id: str, version: int) -> dict[str, Any]:
    """What the console does on "Resolve and tell the customer": a failed request is sent again as it was."""
    from chalicelib import pipeline
    from chalicelib.auth.roles import Staff
    from chalicelib.console.actions import patch_conversation

    body = {"version": version, "status": "resolved", "send_resolution_message": True}
    staff = Staff(sub="sam-sub", username="sam", email="sam@staff.test", name="Sam", groups=("agent",))
    return until_done(
        lambda: patch_conversation(conversation_id, body, staff=staff, rt=pipeline.get_runtime()), "resolving"
    )


def resolution_mails(stack: Any, contact: Contact) -> list[dict[str, Any]]:
    return [m for m in acks_to(stack.moto_data(), contact) if m["message_id"].startswith("resolution-")]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.value for f in FAULTS])
def test_resolution_message_is_sent_at_most_once_under_one_fault(
    stack: Any, faults: FaultInjector, fault: Fault
) -> None:
    from chalicelib import store

    # GIVEN the calls one "resolve and tell the customer" makes, and the one mail it sends
    contact, conv_id = answered_conversation(stack)
    version = seen_version(conv_id)
    fresh_templates()
    faults.reset()
    assert resolve_until_done(conv_id, version)["resolution_message"]["sent"] is True
    clean = [c.name for c in faults.calls]
    assert len(resolution_mails(stack, contact)) == 1
    report: list[str] = []
    for index in every_call(clean):
        name = clean[index]
        contact, conv_id = answered_conversation(stack)
        version = seen_version(conv_id)
        fresh_templates()
        faults.reset()
        faults.fail_call(index, fault)
        # WHEN that call fails once and the agent's request is sent again, then once more by mistake
        resolve_until_done(conv_id, version)
        fired(faults, index, name, report)
        again = resolve_until_done(conv_id, version)["resolution_message"]
        # THEN the conversation is resolved and the customer got the message once; only a lost SES
        # answer may leave it unsent (at most once: an unknown outcome is not repeated)
        mails = resolution_mails(stack, contact)
        lost = fault is Fault.LOST_RESPONSE and name == "ses.SendRawEmail"
        conv = store.get_conversation(conv_id)
        assert conv is not None
        if conv.status != "resolved" or len(mails) != 1 or not again["duplicate"]:
            report.append(f"call {index} ({name}): {conv.status}, {len(mails)} mails, again {again}")
        elif lost and again["sent"]:
            report.append(f"call {index} ({name}): a lost answer reported as sent")
    assert report == [], "\n".join(report)


def note_until_done(conversation_id: str, key: str) -> dict[str, Any]:
    """What the console does with an internal note that @mentions agent2: a failed post is sent again, same key."""
    from chalicelib import aws, pipeline
    from chalicelib.auth.roles import Staff
    from chalicelib.config import get_settings
    from chalicelib.console import mentions

    body = {"text": "@agent2 could you look at this one?", "idempotency_key": key}
    author = Staff(sub="agent-sub", username="agent", email="agent@staff.test", name="Alex Agent", groups=("agent",))

    def post() -> dict[str, Any]:
        pool_id = get_settings().cognito_user_pool_id
        rt = pipeline.get_runtime()
        return mentions.add_note(conversation_id, body, staff=author, rt=rt, idp=aws.cognito_idp(), pool_id=pool_id)

    return until_done(post, "the note")


def mention_mails(stack: Any, conversation_id: str) -> list[dict[str, Any]]:
    return [
        m
        for m in sent_emails(stack.moto_data())
        if m["message_id"].startswith("mention-") and f"mentioned you on {conversation_id}" in m["subject"]
    ]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.value for f in FAULTS])
def test_mention_mail_is_sent_at_most_once_under_one_fault(stack: Any, faults: FaultInjector, fault: Fault) -> None:
    from chalicelib import aws, store

    faults.attach([aws.cognito_idp()])  # the colleague's address and groups come from the user pool
    # GIVEN the calls one note that @mentions a colleague makes, and the one mail it sends them
    _, conv_id = answered_conversation(stack)
    faults.reset()
    first = note_until_done(conv_id, "clean")
    clean = [c.name for c in faults.calls]
    assert [n["sent"] for n in first["notified"]] == [True] and len(mention_mails(stack, conv_id)) == 1
    assert {"cognito-idp.AdminGetUser", "ses.SendRawEmail"} <= set(clean), clean
    report: list[str] = []
    for index in every_call(clean):
        name = clean[index]
        _, conv_id = answered_conversation(stack)
        faults.reset()
        faults.fail_call(index, fault)
        # WHEN that call fails once and the note is posted again with its key, then once more by mistake
        note_until_done(conv_id, "k1")
        fired(faults, index, name, report)
        again = note_until_done(conv_id, "k1")
        # THEN the note is stored once and the colleague mailed once (a lost SES answer is not repeated)
        notes = [m for m in store.conversation_messages(conv_id) if m.direction == "note"]
        mails = mention_mails(stack, conv_id)
        if len(notes) != 1 or len(mails) != 1 or not again["notified"][0]["duplicate"]:
            report.append(f"call {index} ({name}): {len(notes)} notes, {len(mails)} mails, again {again['notified']}")
    assert report == [], "\n".join(report)


@pytest.mark.parametrize("fault", FAULTS, ids=[f.value for f in FAULTS])
def test_follow_up_is_sent_at_most_once_under_one_fault(stack: Any, faults: FaultInjector, fault: Fault) -> None:
    from chalicelib import store

    def follow_ups(contact: Contact) -> list[dict[str, Any]]:
        return [m for m in acks_to(stack.moto_data(), contact) if "solve" in m["text"]]

    def ask(conv_id: str) -> str:
        conv = store.get_conversation(conv_id)
        assert conv is not None
        return json.dumps({"action": "send_follow_up", "conversation_id": conv_id, "reply_id": conv.follow_up_id})

    # GIVEN the calls one follow-up makes
    _, conv_id = answered_conversation(stack)
    reply_until_done(conv_id, "fu")
    body = ask(conv_id)
    fresh_templates()
    faults.reset()
    handle_until_done(body)
    clean = [c.name for c in faults.calls]
    report: list[str] = []
    for index in every_call(clean):
        name = clean[index]
        contact, conv_id = answered_conversation(stack)
        reply_until_done(conv_id, "fu")
        body = ask(conv_id)
        fresh_templates()
        faults.reset()
        faults.fail_call(index, fault)
        # WHEN that call fails once and the events queue redelivers
        handle_until_done(body)
        fired(faults, index, name, report)
        # THEN exactly one follow-up went out, and the conversation records it
        sent = follow_ups(contact)
        conv = store.get_conversation(conv_id)
        assert conv is not None
        if len(sent) != 1 or conv.follow_up_sent_for != conv.follow_up_id:
            report.append(f"call {index} ({name}): {len(sent)} follow-ups, sent_for={conv.follow_up_sent_for}")
    assert report == [], "\n".join(report)


def breach_event(stack: Any, conversation_id: str, kind: str = "first_response", level: int = 1) -> str:
    """What the SLA machine's EmitBreachEvent state sends when a deadline passed unmet."""
    now = datetime.now(UTC).isoformat()
    return json.dumps(
        {
            "action": "sla_breached",
            "conversation_id": conversation_id,
            "version": "1",
            "kind": kind,
            "level": level,
            "due": now,
            "queue": "general",
            "urgency": "high",
            "at": now,
            "execution": f"{stack.env['SLA_STATE_MACHINE_ARN']}:sla-{conversation_id}-v1",
        }
    )


@pytest.mark.parametrize("fault", FAULTS, ids=[f.value for f in FAULTS])
def test_escalation_notice_is_sent_at_most_once_under_one_fault_on_its_publish(
    stack: Any, faults: FaultInjector, fault: Fault
) -> None:
    from chalicelib import outbox
    from chalicelib.workflow_events import escalation_effect_id
    from local.outbox import escalations

    # GIVEN a conversation whose first-response deadline passed: the machine's breach event, delivered
    # twice (SQS is at least once), and a second level for the same deadline
    _, conv_id = answered_conversation(stack)
    faults.reset()
    faults.fail_next("sns.Publish", fault)
    url = stack.env["EVENTS_QUEUE_URL"]
    for body in (breach_event(stack, conv_id), breach_event(stack, conv_id)):
        stack.sqs.send_message(QueueUrl=url, MessageBody=body)
    # WHEN the events queue is consumed, the publish failing once and the failed record redelivered
    stack.pump.drain()
    stack.sqs.send_message(QueueUrl=url, MessageBody=breach_event(stack, conv_id, level=2))
    stack.pump.drain()
    # THEN the fault fired, and supervisors got one notice per level: never two, none lost
    assert [(name, f) for _, name, f in faults.injected] == [("sns.Publish", fault)]
    notices = [e["detail"] for e in escalations(stack.moto_data()) if e["detail"].get("conversation_id") == conv_id]
    assert sorted((n["kind"], n["level"]) for n in notices) == [("first_response", 1), ("first_response", 2)]
    # AND the outbox holds each notice under its deterministic id (a lost answer: outcome unknown, not repeated)
    first = outbox.get(escalation_effect_id(conv_id, 1, "first_response", 1))
    assert first is not None
    assert first.status == ("unknown" if fault is Fault.LOST_RESPONSE else "sent")


@pytest.mark.parametrize("fault", FAULTS, ids=[f.value for f in FAULTS])
def test_escalation_notice_is_sent_once_under_one_fault_on_any_call(
    stack: Any, faults: FaultInjector, fault: Fault
) -> None:
    from local.outbox import escalations

    def notices(conv_id: str) -> list[dict[str, Any]]:
        return [e["detail"] for e in escalations(stack.moto_data()) if e["detail"].get("conversation_id") == conv_id]

    # GIVEN the calls one breach event makes (the deadline passed unmet: supervisors are told)
    _, conv_id = answered_conversation(stack)
    faults.reset()
    handle_until_done(breach_event(stack, conv_id))
    clean = [c.name for c in faults.calls]
    assert "sns.Publish" in clean and len(notices(conv_id)) == 1, clean
    report: list[str] = []
    for index in every_call(clean):
        _, conv_id = answered_conversation(stack)
        faults.reset()
        faults.fail_call(index, fault)
        # WHEN that call fails once and the events queue redelivers the event
        handle_until_done(breach_event(stack, conv_id))
        fired(faults, index, clean[index], report)
        # THEN the supervisors got the notice once (a lost SNS answer: published, not repeated)
        if len(got := notices(conv_id)) != 1:
            report.append(f"call {index} ({clean[index]}): {len(got)} notices")
    assert report == [], "\n".join(report)


def sla_due_event(conversation_id: str) -> str:
    """What the SLA machine sends when clock version 1's first-response timer fires unanswered."""
    from chalicelib.config import BusinessHours, Queue, SlaPolicy
    from chalicelib.workflow import compute_deadlines, sla_input, sla_timers

    always = BusinessHours(timezone="UTC", weekly={}, holidays=frozenset(), always_open=True)
    targets = dict.fromkeys(("low", "normal", "high", "urgent"), timedelta(seconds=1))
    later = dict.fromkeys(("low", "normal", "high", "urgent"), timedelta(minutes=10))
    queue = Queue(id="general", label="General", sla=SlaPolicy(first_response=targets, resolution=later))
    deadlines = compute_deadlines(datetime.now(UTC) - timedelta(seconds=5), "normal", queue, always)
    timers = [t.to_input() for t in sla_timers(deadlines, urgency="normal", queue=queue, hours=always)]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    clock = sla_input(conversation_id, 1, 0, timers)
    return json.dumps({"action": "sla_due", "conversation_id": conversation_id, "clock": clock, "at": now})


@pytest.mark.parametrize("fault", FAULTS, ids=[f.value for f in FAULTS])
def test_a_missed_deadline_is_recorded_and_announced_once_under_one_fault_on_any_call(
    stack: Any, faults: FaultInjector, fault: Fault
) -> None:
    from chalicelib import pipeline, store
    from chalicelib.workflow import execution_name, stop_sla_clock
    from local.outbox import escalations

    machine = stack.env["SLA_STATE_MACHINE_ARN"]

    def end_state(conv_id: str) -> list[str]:
        """What is wrong: the breach on the item and its timeline once, one notice, the next timer started."""
        conv = store.get_conversation(conv_id)
        assert conv is not None
        problems = []
        if [(b.kind, int(b.level)) for b in conv.breaches or []] != [("first_response", 1)]:
            problems.append(f"breaches {[(b.kind, b.level) for b in conv.breaches or []]}")
        if (n := sum(1 for e in conv.timeline or [] if e.get("kind") == "sla_breached")) != 1:
            problems.append(f"{n} breach entries")
        got = [e for e in escalations(stack.moto_data()) if e["detail"].get("conversation_id") == conv_id]
        if len(got) != 1:
            problems.append(f"{len(got)} notices")
        execution = f"{machine.replace(':stateMachine:', ':execution:')}:{execution_name(conv_id, 1, 'sla', 1)}"
        try:
            stack.client("stepfunctions").describe_execution(executionArn=execution)
        except ClientError:
            problems.append("no next timer")
        stop_sla_clock(
            sfn=pipeline.get_runtime().sfn,
            state_machine_arn=machine,
            conversation_id=conv_id,
            version=1,
            cause="test over",
        )
        return problems

    # GIVEN the calls one unanswered conversation's fired first-response timer makes
    _, conv_id = answered_conversation(stack)
    faults.reset()
    handle_until_done(sla_due_event(conv_id))
    clean = [c.name for c in faults.calls]
    assert {"sns.Publish", "stepfunctions.StartExecution"} <= set(clean) and end_state(conv_id) == [], clean
    report: list[str] = []
    for index in every_call(clean):
        _, conv_id = answered_conversation(stack)
        faults.reset()
        faults.fail_call(index, fault)
        # WHEN that call fails once and the events queue redelivers the event
        handle_until_done(sla_due_event(conv_id))
        fired(faults, index, clean[index], report)
        # THEN the end state is the clean run's
        if problems := end_state(conv_id):
            report.append(f"call {index} ({clean[index]}): {', '.join(problems)}")
    assert report == [], "\n".join(report)


@pytest.mark.parametrize("fault", FAULTS, ids=[f.value for f in FAULTS])
def test_the_retire_close_out_is_sent_once_under_one_fault_on_any_call(
    stack: Any, faults: FaultInjector, fault: Fault
) -> None:
    from chalicelib import store
    from chalicelib.campaign.winddown import CLOSE_ACTION, CLOSING_KIND, closing_effect_id

    def end_state(contact: Contact, conv_id: str) -> list[str]:
        """What is wrong: one closing message to the customer, one timeline entry, the conversation closed."""
        conv = store.get_conversation(conv_id)
        assert conv is not None
        mails = [m for m in acks_to(stack.moto_data(), contact) if closing_effect_id(conv_id) in m["message_id"]]
        entries = sum(1 for e in conv.timeline or [] if e.get("kind") == CLOSING_KIND)
        problems = [] if conv.status == "closed" else [f"status {conv.status}"]
        return problems + ([] if len(mails) == 1 and entries == 1 else [f"{len(mails)} mails, {entries} entries"])

    def close_out(conv_id: str) -> None:
        """What `replydesk campaign retire --close` queues for each open conversation."""
        handle_until_done(json.dumps({"action": CLOSE_ACTION, "conversation_id": conv_id}))

    # GIVEN the calls one close-out of an open conversation makes (the closing message, then closed)
    contact, conv_id = answered_conversation(stack)
    fresh_templates()
    faults.reset()
    close_out(conv_id)
    clean = [c.name for c in faults.calls]
    assert "ses.SendRawEmail" in clean and end_state(contact, conv_id) == [], clean
    report: list[str] = []
    for index in every_call(clean):
        contact, conv_id = answered_conversation(stack)
        fresh_templates()
        faults.reset()
        faults.fail_call(index, fault)
        # WHEN that call fails once and the events queue redelivers the request
        close_out(conv_id)
        fired(faults, index, clean[index], report)
        # THEN the end state is the clean run's
        if problems := end_state(contact, conv_id):
            report.append(f"call {index} ({clean[index]}): {', '.join(problems)}")
    assert report == [], "\n".join(report)


# ------------------------------------------------------------------ duplicates, reordering, random faults


def mixed_contacts(stack: Any, n: int) -> list[Contact]:
    channels = ["email", "sms", "web"]
    return [make_contact(stack, channels[i % 3]) for i in range(n)]


def take_queue(stack: Any) -> list[str]:
    """Every message on the intake queue, removed (the test redelivers them itself)."""
    url = stack.env["INTAKE_QUEUE_URL"]
    bodies: list[str] = []
    while True:
        msgs = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not msgs:
            return bodies
        bodies += [m["Body"] for m in msgs]
        stack.sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
        )


def assert_invariants(stack: Any, contacts: list[Contact]) -> None:
    data = stack.moto_data()
    report = [f"{c.channel} {i}: {', '.join(p)}" for i, c in enumerate(contacts) if (p := violations(stack, c, data))]
    assert report == [], "\n".join(report)


@pytest.mark.timeout(1500)  # hundreds of contacts: longer than the suite's per-test limit
def test_every_message_delivered_twice_in_shuffled_order(stack: Any, faults: FaultInjector) -> None:
    # GIVEN mixed contacts (email, SMS, web form) waiting on the intake queue
    faults.reset()
    stack.pump.drain()  # nothing else on the queue
    contacts = mixed_contacts(stack, TWICE_SHUFFLED_CONTACTS)
    bodies = take_queue(stack)
    assert len(bodies) == TWICE_SHUFFLED_CONTACTS
    # WHEN every record is delivered twice, all shuffled into one stream
    twice = bodies * 2
    random.Random(11).shuffle(twice)
    url = stack.env["INTAKE_QUEUE_URL"]
    for i in range(0, len(twice), 10):
        stack.sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": b} for n, b in enumerate(twice[i : i + 10])]
        )
    stack.pump.drain(max_rounds=2000)
    # THEN each contact has one message, one conversation, one ack and one clock
    assert_invariants(stack, contacts)


@pytest.mark.timeout(1500)
def test_random_faults_lose_nothing_and_double_nothing(stack: Any, faults: FaultInjector) -> None:
    # GIVEN mixed contacts on the queue, and faults on a random ~10 % of processing attempts
    faults.reset()
    contacts = mixed_contacts(stack, RANDOM_FAULT_CONTACTS)
    # What one contact costs in processing (bench/bench_calls.py: 10-11 warm) plus the template reads
    # each record makes here (the harness empties the template cache per record).
    calls_per_attempt = 14
    faults.fail_randomly(1 - 0.9 ** (1 / calls_per_attempt), seed=7)
    # WHEN they are processed, failed records redelivered
    stack.pump.drain(max_rounds=2000)
    faults.fail_randomly(0.0)
    # THEN faults did happen, and still no contact is lost or doubled
    assert faults.injected, "no fault was injected"
    assert_invariants(stack, contacts)


def test_oversized_mail_gets_its_message_ack_and_clock(stack: Any, faults: FaultInjector) -> None:
    # GIVEN a mail whose text and HTML together are beyond DynamoDB's 400 KB item limit
    faults.reset()
    sender = mailbox("big")
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = str(stack.campaign.inbound_addresses[0])
    msg["Subject"] = "Order missing, full log attached inline"
    msg["Message-ID"] = make_msgid(domain="customer.test")
    msg.set_content("Where is my order?\n" + ("log line 0123456789 abcdefghij\n" * 8000))
    msg.add_alternative("<p>Where is my order?</p>" + ("<p>log line 0123456789 abcdefghij</p>" * 8000), subtype="html")
    deliver_email(stack, sender, msg.as_bytes())
    # WHEN it is processed
    stack.pump.drain()
    # THEN the message is stored with its body in S3, and it got its ack and its clock
    contact = Contact("email", sender)
    assert violations(stack, contact, stack.moto_data()) == []
    from chalicelib import store

    conv = conversations_of(contact)[0]
    stored = next(m for m in store.conversation_messages(conv.conversation_id) if m.direction == "in")
    assert stored.text_key, "the body should be kept in S3"
    body = json.loads(stack.client("s3").get_object(Bucket=stack.env["RAW_BUCKET"], Key=stored.text_key)["Body"].read())
    assert body["text"].count("log line") == 8000


def test_broken_ack_template_is_parked_once_and_the_conversation_still_gets_its_clock(
    stack: Any, faults: FaultInjector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an ack template that cannot render (an undefined variable)
    from jinja2 import UndefinedError

    from chalicelib import pipeline

    faults.reset()
    templates = pipeline.get_runtime().templates
    original = templates.render

    def broken(purpose: str, *args: Any, **kwargs: Any) -> Any:
        if purpose == "acknowledge":
            raise UndefinedError("'customer' has no attribute 'nickname'")
        return original(purpose, *args, **kwargs)

    monkeypatch.setattr(templates, "render", broken)
    sender = mailbox("broken-template")
    deliver_email(stack, sender)
    # WHEN it is processed (and redelivered, should it fail)
    stack.pump.drain()
    monkeypatch.setattr(templates, "render", original)
    # THEN the message is stored once with its conversation and clock, no ack went out
    contact = Contact("email", sender)
    assert violations(stack, contact, stack.moto_data()) == ["0 acks", "conversation not marked acknowledged"]
    # AND it is parked exactly once, in the one DLQ shape, naming the reason and no address
    conv = conversations_of(contact)[0]
    parked = [e for e in dlq_bodies(stack) if e.get("source_id") and conv.origin_source_id == e["source_id"]]
    assert len(parked) == 1, parked
    assert set(parked[0]) == {"reason", "channel", "source_id", "raw_key"}
    assert "template_error" in parked[0]["reason"] and sender not in json.dumps(parked[0])


def dlq_bodies(stack: Any) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(10):
        resp = stack.sqs.receive_message(
            QueueUrl=stack.env["INTAKE_DLQ_URL"], MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0
        )
        for m in resp.get("Messages", []):
            try:
                seen[m["MessageId"]] = json.loads(m["Body"])
            except json.JSONDecodeError:
                continue
    return list(seen.values())


def test_failure_logs_carry_no_personal_data(
    stack: Any, faults: FaultInjector, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN an email, an SMS and a web form with known addresses, a known number and a known word
    faults.reset()
    email, web_email, phone, word = mailbox("pii"), mailbox("pii-web"), fresh_phone(), "Quuxzanzibar"
    raw, _ = mail(stack, email)
    deliver_email(stack, email, raw.replace(b"Where is my order?", f"Where is my order? {word}".encode()))
    send_sms(stack, phone, f"My order {word} has not arrived")
    submit_form(stack, web_email)
    capfd.readouterr()  # only what processing prints from here on
    started = time.time()
    # WHEN processing them meets faults whose error text quotes the request (as botocore's do)
    faults.fail_randomly(0.2, seed=5)
    stack.pump.drain(max_rounds=400)
    faults.fail_randomly(0.0)
    out = capfd.readouterr()
    formatter = logging.Formatter()
    records = [r for r in caplog.records if r.created >= started]
    # Every field of every log record (the Powertools keys are record attributes), tracebacks included.
    logged = out.out + out.err + "\n".join(json.dumps(r.__dict__, default=str) + formatter.format(r) for r in records)
    # THEN faults happened and were logged, and nothing logged names the customers or what they wrote
    assert faults.injected
    assert any(r.levelno >= logging.WARNING and r.name.startswith("replydesk") for r in records)
    for secret in (email, web_email, phone, phone.lstrip("+"), word):
        assert secret not in logged, secret


def test_web_form_ack_carries_no_text_the_submitter_chose(stack: Any, faults: FaultInjector) -> None:
    # GIVEN a stranger's submission naming someone else's address, with advertising as the name
    faults.reset()
    victim = mailbox("relay-victim")
    body = json.dumps(
        {"name": "WIN A PRIZE TODAY", "email": victim, "message": "Where is my order?", "consent": True}
    ).encode()
    req = urllib.request.Request(
        f"{stack.api_url}/contact", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 202
    # WHEN it is processed
    stack.pump.drain()
    # THEN the ack to that address greets nobody by the typed name and repeats none of it
    (ack,) = acks_to(stack.moto_data(), Contact("web", victim))
    assert "PRIZE" not in ack["text"] and "PRIZE" not in ack["html"] and "PRIZE" not in ack["subject"]
    assert "Hello there" in ack["text"]


def test_suppressed_sender_opens_no_staff_work_and_no_clock(stack: Any, faults: FaultInjector) -> None:
    # GIVEN an address on the suppression list (it bounced before)
    from chalicelib import store

    faults.reset()
    sender = mailbox("suppressed")
    store.add_suppression(f"email#{sender}", reason="bounce", source="ses", now=datetime.now(UTC))
    # WHEN it writes a new mail
    deliver_email(stack, sender)
    stack.pump.drain()
    # THEN the mail is stored with the reason, in a closed conversation without an SLA clock or ack
    (conv,) = conversations_of(Contact("email", sender))
    (msg,) = [m for m in store.conversation_messages(conv.conversation_id) if m.direction == "in"]
    assert msg.suppressed_reason == "suppressed"
    assert conv.status == "closed"
    assert sla_execution(stack, conv.conversation_id) is None
    assert acks_to(stack.moto_data(), Contact("email", sender)) == []
