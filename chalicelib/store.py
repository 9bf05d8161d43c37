"""Customers, identities, conversations, messages and suppressions in DynamoDB (every write idempotent)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib import searchindex
from chalicelib.errors import InvalidInput, TransientError, error_code
from chalicelib.gdpr import hashing as gdpr_hashing
from chalicelib.inbound import Channel, InboundMessage, TemplateRef
from chalicelib.models import (
    ConversationModel,
    CustomerModel,
    Direction,
    IdentityModel,
    MessageModel,
    SearchTokenModel,
    Status,
    SuppressionModel,
)

OPEN_STATUSES = (Status.NEW.value, Status.OPEN.value, Status.PENDING_CUSTOMER.value)
_FAR_FUTURE = "9999-12-31T23:59:59+00:00"


def _conditional_failed(exc: Exception) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


def _transient(exc: Exception) -> Exception:
    """A failed write: retryable unless DynamoDB says the item itself is invalid."""
    if error_code(exc) == "ValidationException":
        bad = InvalidInput(f"DynamoDB rejected the item: {exc}")
        bad.__cause__ = exc
        return bad
    err = TransientError(f"DynamoDB write failed: {type(exc).__name__}")
    err.__cause__ = exc
    return err


def stable_id(*parts: str) -> str:
    """A deterministic id, so a redelivered input maps onto the item its first delivery wrote."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:26]


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds")


def status_due(status: str, due: str | None) -> str:
    """The queue GSI's range key: open work sorted by what is due first."""
    return f"{status}#{due or _FAR_FUTURE}"


# ------------------------------------------------------------------ customers and identities


@dataclass(frozen=True, slots=True)
class CustomerRef:
    customer_id: str
    name: str
    language: str | None
    tags: frozenset[str]
    created: bool
    marketing_opt_out: bool
    # The identity's ack log as this delivery found it (None: not read), so the rate-limit check
    # and the slot it takes need no read of their own.
    ack_log: tuple[str, ...] | None = None


def _customer_ref(model: CustomerModel, created: bool, ack_log: tuple[str, ...] | None = None) -> CustomerRef:
    return CustomerRef(
        customer_id=model.customer_id,
        name=model.name,
        language=model.language,
        tags=frozenset(model.tags or ()),
        created=created,
        marketing_opt_out=bool(model.marketing_opt_out),
        ack_log=ack_log,
    )


def upsert_customer(
    identity: str,
    *,
    name: str,
    channel: Channel,
    now: datetime,
    extra_identities: Iterable[str] = (),
    unverified_contacts: Iterable[str] = (),
    marketing_opt_in: bool = False,
) -> CustomerRef:
    """Find the customer holding `identity`, or create one; the identity's conditional put makes it unique.

    `extra_identities` are proven identities linked to the same customer unless another customer
    already holds them. `unverified_contacts` (e.g. the phone typed on the web form) are only kept
    as contact details on the customer, and as an *unverified* identity (so staff find the customer
    by that number) that the number's first real message takes over: it never merges anyone.
    """
    customer_id = "cus_" + stable_id("identity", identity)
    ack_log: tuple[str, ...] | None
    first = _first_contact(
        identity, customer_id, name=name, channel=channel, now=now, marketing_opt_in=marketing_opt_in
    )
    if first is not None:
        customer, created, ack_log = first, True, ()
    else:
        customer, created, ack_log = _find_or_create(identity, customer_id, name=name, channel=channel, now=now)
    return _link(
        customer,
        created,
        ack_log,
        name=name,
        channel=channel,
        now=now,
        extra_identities=extra_identities,
        unverified_contacts=unverified_contacts,
        marketing_opt_in=marketing_opt_in,
        indexed=first is not None,
    )


def _first_contact(
    identity: str, customer_id: str, *, name: str, channel: Channel, now: datetime, marketing_opt_in: bool
) -> CustomerModel | None:
    """A sender never seen before: identity, customer and the name's search words in one transaction.

    None when the identity or the customer exists already (the transaction wrote nothing): the caller
    then finds them the long way.
    """
    customer = CustomerModel(
        customer_id=customer_id,
        name=name,
        channels={channel.value},
        identities={identity},
        created_at=now,
        updated_at=now,
        # Customers start opted out of marketing; only the form's explicit box opts them in.
        marketing_opt_out=not marketing_opt_in,
    )
    try:
        with TransactWrite(connection=transaction_connection()) as tx:
            tx.save(
                IdentityModel(identity=identity, customer_id=customer_id, created_at=now),
                condition=IdentityModel.identity.does_not_exist(),
            )
            tx.save(customer, condition=CustomerModel.customer_id.does_not_exist())
            for word in searchindex.tokens(name)[:NAME_WORDS_IN_TRANSACTION]:
                tx.save(SearchTokenModel(token=searchindex.NAME + word, ref=customer_id, at=None))
    except TransactWriteError as exc:
        reasons = [getattr(r, "code", None) for r in (exc.cancellation_reasons or []) if r is not None]
        if "ConditionalCheckFailed" in reasons:
            return None
        raise _transient(exc) from exc
    return customer


def _find_or_create(
    identity: str, customer_id: str, *, name: str, channel: Channel, now: datetime
) -> tuple[CustomerModel, bool, tuple[str, ...] | None]:
    """The customer holding an identity that exists (or a customer an interrupted delivery left half made)."""
    created = False
    ack_log: tuple[str, ...] | None = None
    try:
        IdentityModel(identity=identity, customer_id=customer_id, created_at=now).save(
            condition=IdentityModel.identity.does_not_exist()
        )
        created, ack_log = True, ()
    except PutError as exc:
        if not _conditional_failed(exc):
            raise _transient(exc) from exc
        held = IdentityModel.get(identity, consistent_read=True)
        ack_log = tuple(_ack_log(held))
        if held.verified is False:
            # Only typed into a form by someone: the channel's own message is the proof, and wins.
            try:
                held.update(
                    actions=[IdentityModel.customer_id.set(customer_id), IdentityModel.verified.remove()],
                    condition=IdentityModel.verified == False,  # noqa: E712 - a DynamoDB condition, not a test
                )
            except UpdateError as upd:
                if not _conditional_failed(upd):
                    raise _transient(upd) from upd
                customer_id = IdentityModel.get(identity, consistent_read=True).customer_id
                ack_log = None
        else:
            customer_id = held.customer_id
    # A brand-new identity's customer (whose id derives from it) is new too: no read; the conditional
    # put below still finds one an earlier, interrupted delivery wrote.
    existing = None if created else _consistent_customer(customer_id)
    if existing is not None:
        customer, created = existing, False
    else:
        # Also reached when an earlier delivery wrote the identity and then failed: finish its work.
        customer = CustomerModel(
            customer_id=customer_id,
            name=name,
            channels={channel.value},
            identities={identity},
            created_at=now,
            updated_at=now,
        )
        try:
            customer.save(condition=CustomerModel.customer_id.does_not_exist())
        except PutError as exc:
            if not _conditional_failed(exc):
                raise _transient(exc) from exc
            customer = CustomerModel.get(customer_id, consistent_read=True)
            created = False
    return customer, created, ack_log


def _link(
    customer: CustomerModel,
    created: bool,
    ack_log: tuple[str, ...] | None,
    *,
    name: str,
    channel: Channel,
    now: datetime,
    extra_identities: Iterable[str],
    unverified_contacts: Iterable[str],
    marketing_opt_in: bool,
    indexed: bool,
) -> CustomerRef:
    """What this contact adds to its customer: channel, name, marketing consent, further identities."""
    customer_id = customer.customer_id
    actions: list[Any] = []
    if channel.value not in (customer.channels or set()):
        actions.append(CustomerModel.channels.add({channel.value}))
    if name and not customer.name:
        actions.append(CustomerModel.name.set(name))
    if marketing_opt_in and customer.marketing_opt_out:
        # Customers start opted out of marketing; only the form's explicit box opts them in.
        actions.append(CustomerModel.marketing_opt_out.set(False))
    for extra in extra_identities:
        if extra in (customer.identities or set()):
            continue
        try:
            IdentityModel(identity=extra, customer_id=customer_id, created_at=now).save(
                condition=IdentityModel.identity.does_not_exist()
            )
            actions.append(CustomerModel.identities.add({extra}))
        except PutError as exc:
            if not _conditional_failed(exc):
                raise _transient(exc) from exc
            if IdentityModel.get(extra).customer_id == customer_id:
                actions.append(CustomerModel.identities.add({extra}))
    fresh = [c for c in unverified_contacts if c not in (customer.unverified_contacts or set())]
    if fresh:
        actions.append(CustomerModel.unverified_contacts.add(set(fresh)))
    for contact in fresh:
        try:
            IdentityModel(identity=contact, customer_id=customer_id, created_at=now, verified=False).save(
                condition=IdentityModel.identity.does_not_exist()
            )
        except PutError as exc:
            if not _conditional_failed(exc):
                raise _transient(exc) from exc  # held by someone already: left alone
    if actions:
        actions.append(CustomerModel.updated_at.set(now))
        customer.update(actions=actions)
    if name and (created or not customer.name) and not indexed:
        searchindex.index_customer(customer_id, name)
    return _customer_ref(customer, created, ack_log)


# A name's first words ride in the first contact's transaction (with the identity and the customer).
NAME_WORDS_IN_TRANSACTION = 20


def _consistent_customer(customer_id: str) -> CustomerModel | None:
    try:
        return CustomerModel.get(customer_id, consistent_read=True)
    except DoesNotExist:
        return None


def get_customer(customer_id: str) -> CustomerModel | None:
    try:
        return CustomerModel.get(customer_id)
    except DoesNotExist:
        return None


def set_customer_language(customer_id: str, language: str) -> None:
    CustomerModel(customer_id=customer_id).update(actions=[CustomerModel.language.set(language)])


# ------------------------------------------------------------------ conversations


@dataclass(frozen=True, slots=True)
class ConversationRef:
    conversation_id: str
    reference: str
    status: str
    queue: str
    created: bool
    reopened: bool
    ack_sent: bool
    language: str | None
    inbound_count: int


def _conv_ref(m: ConversationModel, *, created: bool, reopened: bool = False) -> ConversationRef:
    return ConversationRef(
        conversation_id=m.conversation_id,
        reference=m.reference,
        status=m.status,
        queue=m.queue,
        created=created,
        reopened=reopened,
        ack_sent=m.ack_sent_at is not None,
        language=m.language,
        inbound_count=int(m.inbound_count or 0),
    )


def get_conversation(conversation_id: str) -> ConversationModel | None:
    try:
        return ConversationModel.get(conversation_id, consistent_read=True)
    except DoesNotExist:
        return None


def conversation_by_rfc_ids(message_ids: Iterable[str]) -> str | None:
    """The conversation holding any of these RFC 5322 Message-IDs (ours or the customer's)."""
    for mid in message_ids:
        for hit in MessageModel.by_rfc_message_id.query(mid, limit=1):
            return hit.conversation_id
    return None


def latest_conversation(customer_id: str, *, channel: Channel | None = None) -> ConversationModel | None:
    for conv in ConversationModel.by_customer.query(customer_id, scan_index_forward=False, limit=10):
        if channel is None or conv.channel == channel.value:
            return conv
    return None


def conversation_item(
    *,
    reference: str,
    customer_id: str,
    msg: InboundMessage,
    queue: str,
    now: datetime,
    status: str = Status.NEW.value,
) -> ConversationModel:
    """A new conversation under its reference, not yet written (the intake commit writes it)."""
    ts = iso(now)
    return ConversationModel(
        conversation_id=reference,
        reference=reference,
        customer_id=customer_id,
        channel=msg.channel.value,
        status=status,
        queue=queue,
        status_due=status_due(status, None),
        created_at=ts,
        updated_at=ts,
        subject=msg.subject[:500],
        thread_keys=set(),
        origin_source_id=msg.source_id,
    )


# The reference alphabet: no 0/O, 1/I/L (read out over the phone).
_REF_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def derive_reference(prefix: str, source_id: str, attempt: int = 0) -> str:
    """`RD-XXXXXX` derived from the source id: a retry of the same input computes the same reference."""
    digest = hashlib.sha256(f"{source_id}\x1f{attempt}".encode()).digest()
    n = int.from_bytes(digest[:8], "big")
    chars = []
    for _ in range(6):
        n, r = divmod(n, len(_REF_ALPHABET))
        chars.append(_REF_ALPHABET[r])
    return f"{prefix}-" + "".join(chars)


def conversation_opened_by(source_id: str, prefix: str, reference: str | None = None) -> ConversationModel | None:
    """The conversation this source id opened on an earlier delivery, if any (one read in the usual case)."""
    # The order processing.commit.commit takes them in: the given reference instead of the first derived id.
    candidates = [reference] if reference else [derive_reference(prefix, source_id, 0)]
    candidates += [derive_reference(prefix, source_id, attempt) for attempt in range(1, 6)]
    for ref in candidates:
        conv = get_conversation(ref)
        if conv is None:
            # Ids are taken in order, the given reference first: the first free one means this source
            # opened none.
            return None
        if conv.origin_source_id == source_id:
            return conv
    return None


def item_rejected(exc: Exception) -> InvalidInput:
    """DynamoDB refused an item as invalid (too large, bad value): never retryable."""
    bad = InvalidInput(f"DynamoDB rejected the item ({getattr(exc, 'cause_response_code', '')})")
    return bad


def record_inbound(conv: ConversationModel, *, now: datetime, reopen: bool) -> ConversationModel:
    """Count a customer message on the conversation; reopen it if it was resolved."""
    ts = iso(now)
    actions: list[Any] = [
        ConversationModel.inbound_count.add(1),
        ConversationModel.last_inbound_at.set(ts),
        ConversationModel.updated_at.set(ts),
    ]
    if reopen and conv.status in (Status.RESOLVED.value, Status.PENDING_CUSTOMER.value):
        actions += [
            ConversationModel.status.set(Status.OPEN.value),
            ConversationModel.status_due.set(status_due(Status.OPEN.value, conv.resolution_due)),
        ]
    conv.update(actions=actions)
    return conv


def set_classification(
    conv_id: str,
    *,
    topic: str,
    language: str,
    urgency: str,
    sentiment: str,
    reasons: list[str],
    queue: str,
    status: str,
    due: str | None,
) -> None:
    ConversationModel(conversation_id=conv_id).update(
        actions=[
            ConversationModel.topic.set(topic),
            ConversationModel.language.set(language),
            ConversationModel.urgency.set(urgency),
            ConversationModel.sentiment.set(sentiment),
            ConversationModel.reasons.set(reasons),  # type: ignore[arg-type]  # PynamoDB types list items as attributes
            ConversationModel.queue.set(queue),
            ConversationModel.status_due.set(status_due(status, due)),
        ]
    )


def set_clock(
    conv_id: str,
    *,
    version: int,
    first_response_due: str | None,
    resolution_due: str,
    execution: str | None,
    status: str,
    timeline_entry: dict[str, str] | None = None,
    expected_version: int | None = None,
    answered: bool = False,
) -> bool:
    """Store a (re)started or paused SLA clock: its version, deadlines and execution.

    With `expected_version` the write only applies while the stored version is that one (a retry of
    the same change finds it applied and returns False); every write bumps the staff-visible version.
    Once `answered`, the queue index orders by the resolution deadline (the first response is done).
    """
    actions: list[Any] = [
        ConversationModel.workflow_version.set(version),
        ConversationModel.first_response_due.set(first_response_due)
        if first_response_due
        else ConversationModel.first_response_due.remove(),
        ConversationModel.resolution_due.set(resolution_due),
        ConversationModel.status_due.set(
            status_due(status, resolution_due if answered else first_response_due or resolution_due)
        ),
    ]
    actions.append(
        ConversationModel.workflow_execution.set(execution)
        if execution
        else ConversationModel.workflow_execution.remove()
    )
    if timeline_entry:
        actions.append(ConversationModel.timeline.set(ConversationModel.timeline.append([timeline_entry])))
    actions.append(ConversationModel.version.add(1))
    condition = None
    if expected_version is not None:
        condition = (
            ConversationModel.workflow_version.does_not_exist()
            if expected_version == 0
            else ConversationModel.workflow_version == expected_version
        )
        if expected_version == 0:
            condition = condition | (ConversationModel.workflow_version == 0)
    try:
        ConversationModel(conversation_id=conv_id).update(actions=actions, condition=condition)
    except UpdateError as exc:
        if condition is not None and _conditional_failed(exc):
            return False
        raise _transient(exc) from exc
    return True


def add_timeline(conv_id: str, entry: dict[str, str], *extra: Any) -> None:
    ConversationModel(conversation_id=conv_id).update(
        actions=[
            ConversationModel.timeline.set(ConversationModel.timeline.append([entry])),
            ConversationModel.version.add(1),
            *extra,
        ]
    )


def add_timeline_once(conv_id: str, entry: dict[str, str], *extra: Any, condition: Any) -> bool:
    """Append `entry` (and `extra` actions) only if `condition` holds; False when a retry finds it done."""
    try:
        ConversationModel(conversation_id=conv_id).update(
            actions=[
                ConversationModel.timeline.set(ConversationModel.timeline.append([entry])),
                ConversationModel.version.add(1),
                *extra,
            ],
            condition=condition,
        )
        return True
    except UpdateError as exc:
        if _conditional_failed(exc):
            return False
        raise _transient(exc) from exc


def last_inbound(conversation_id: str) -> MessageModel | None:
    for m in MessageModel.query(conversation_id, scan_index_forward=False, consistent_read=True):
        if m.direction == Direction.IN.value and m.sender:
            return m
    return None


def claim_ack(conv_id: str, now: datetime) -> bool:
    """Take the conversation's one acknowledgement; False if another delivery already took it."""
    try:
        ConversationModel(conversation_id=conv_id).update(
            actions=[ConversationModel.ack_sent_at.set(iso(now))],
            condition=ConversationModel.ack_sent_at.does_not_exist(),
        )
        return True
    except UpdateError as exc:
        if _conditional_failed(exc):
            return False
        raise _transient(exc) from exc


def release_ack(conv_id: str) -> None:
    """Give the claim back when the send failed, so the retry can acknowledge."""
    ConversationModel(conversation_id=conv_id).update(actions=[ConversationModel.ack_sent_at.remove()])


def ack_actions(rfc_message_id: str | None, now: datetime | None) -> list[Any]:
    actions: list[Any] = [ConversationModel.ack_message_id.set(rfc_message_id or "")]
    if now is not None:
        actions.append(ConversationModel.ack_sent_at.set(iso(now)))
    if rfc_message_id:
        actions.append(ConversationModel.thread_keys.add({rfc_message_id}))
    return actions


def confirm_ack(conv_id: str, rfc_message_id: str | None, *, now: datetime | None = None) -> None:
    """Record the conversation's ack (after its send): its time, its Message-ID as a thread key."""
    ConversationModel(conversation_id=conv_id).update(actions=ack_actions(rfc_message_id, now))


def transaction_connection() -> Connection:
    """The connection transactions go through: the message table's own (same endpoint, same client)."""
    meta = MessageModel.Meta
    return _connection(meta.region, meta.host)


@functools.cache
def _connection(region: str, host: str | None) -> Connection:
    return Connection(region=region, host=host)


# ------------------------------------------------------------------ messages


def message_sort(created_at: str, message_id: str) -> str:
    return f"{created_at}#{message_id}"


def find_message_by_source(source_id: str) -> MessageModel | None:
    """The full stored message with this provider id (the index holds keys only, so it is read again)."""
    for hit in MessageModel.by_source.query(source_id, limit=1):
        return MessageModel.get(hit.conversation_id, hit.sort)
    return None


def put_message(item: MessageModel, *, index: bool = True) -> bool:
    """Store once: False if this exact message (same key) is already stored.

    `index=False` keeps it out of the staff search index: an ack is the campaign's boilerplate, and
    indexing its words would make every conversation match them.
    """
    try:
        item.save(condition=MessageModel.sort.does_not_exist())
    except PutError as exc:
        if _conditional_failed(exc):
            return False
        raise _transient(exc) from exc
    if not index:
        return True
    searchindex.index_message(
        item.conversation_id,
        subject=item.subject,
        text=item.new_text or item.text,
        at=item.created_at,
        note=item.direction == Direction.NOTE.value,
    )
    return True


def inbound_message_item(
    msg: InboundMessage,
    *,
    conversation_id: str,
    classification: dict[str, Any] | None,
    suppressed_reason: str | None,
    attachments: list[dict[str, Any]],
) -> MessageModel:
    created = iso(msg.received_at)
    message_id = "msg_" + stable_id("in", msg.channel.value, msg.source_id)
    return MessageModel(
        conversation_id=conversation_id,
        sort=message_sort(created, message_id),
        message_id=message_id,
        direction=Direction.IN.value,
        channel=msg.channel.value,
        source_id=msg.source_id,
        rfc_message_id=msg.message_id,
        references=list(msg.references)[-20:],
        sender=msg.sender or None,
        raw_key=msg.raw_key,
        subject=msg.subject[:1000],
        text=msg.text[:200_000],
        new_text=msg.new_text,
        html=msg.html[:300_000] if msg.html else None,
        attachments=attachments,
        classification=classification,
        suppressed_reason=suppressed_reason,
        problems=list(msg.problems),
        created_at=created,
    )


def outbound_message_item(
    *,
    conversation_id: str,
    channel: Channel,
    source_id: str,
    now: datetime | str,
    text: str,
    subject: str = "",
    rfc_message_id: str | None = None,
    template: str | None = None,
    template_ref: TemplateRef | None = None,
    sent_by: str = "system",
    ack: bool = False,
    delivery: str | None = None,
) -> MessageModel:
    """An outbound message; `now` may be the outbox record's time, so a retry writes the same key."""
    created = now if isinstance(now, str) else iso(now)
    message_id = "msg_" + stable_id("out", channel.value, source_id)
    return MessageModel(
        conversation_id=conversation_id,
        sort=message_sort(created, message_id),
        message_id=message_id,
        direction=Direction.OUT.value,
        channel=channel.value,
        source_id=source_id,
        rfc_message_id=rfc_message_id,
        subject=subject,
        text=text,
        template=template,
        template_id=template_ref.id if template_ref else None,
        template_version=template_ref.version if template_ref else None,
        template_language=template_ref.language if template_ref else None,
        sent_by=sent_by,
        ack=ack,
        delivery=delivery,
        created_at=created,
    )


def outbound_message_id(channel: Channel, source_id: str) -> str:
    """The id outbound_message_item gives the message for this source id (known before it is stored)."""
    return "msg_" + stable_id("out", channel.value, source_id)


def conversation_messages(conversation_id: str) -> list[MessageModel]:
    return list(MessageModel.query(conversation_id, consistent_read=True))


def customer_conversations(customer_id: str, limit: int = 50) -> list[ConversationModel]:
    return list(ConversationModel.by_customer.query(customer_id, scan_index_forward=False, limit=limit))


# ------------------------------------------------------------------ suppressions and rate limit


def suppression_reason(identity: str) -> str | None:
    return gdpr_hashing.suppression_reason(identity)  # an erased customer's opt-out is kept under its hashed key


def add_suppression(identity: str, *, reason: str, source: str, now: datetime, origin: str | None = None) -> bool:
    """True when newly suppressed (so an opt-out is confirmed once), False if it already was.

    With `origin` (the inbound message's source id) a retry of that same message also gets True, so
    its confirmation is still owed after a failure between the write and the send.
    """
    if gdpr_hashing.erased_suppression_reason(identity) == reason:
        return False  # an erased customer's suppression, kept under its hash: already confirmed once
    try:
        SuppressionModel(address=identity, reason=reason, source=source, created_at=now, origin=origin).save(
            condition=SuppressionModel.address.does_not_exist()
        )
        return True
    except PutError as exc:
        if not _conditional_failed(exc):
            raise _transient(exc) from exc
    if origin is None:
        return False
    try:
        return SuppressionModel.get(identity, consistent_read=True).origin == origin
    except DoesNotExist:
        return False


def remove_suppression(identity: str, *, only_reason: str | None = None) -> bool:
    """True when a suppression (of `only_reason`, if given) was lifted; a failed delete raises.

    A failure is not "nothing to remove": START would confirm an opt-in while the number stays opted out.
    """
    try:
        cond = SuppressionModel.address.exists()
        if only_reason:
            cond &= SuppressionModel.reason == only_reason
        SuppressionModel(address=identity).delete(condition=cond)
        removed = True
    except DeleteError as exc:
        if not _conditional_failed(exc):  # absent, or suppressed for another reason: nothing removed
            raise _transient(exc) from exc
        removed = False
    return gdpr_hashing.remove_erased_suppression(identity, only_reason=only_reason) or removed


def _slot_time(entry: str) -> str:
    return entry.split("|", 1)[0]


def _ack_log(item: IdentityModel) -> list[str]:
    return [str(t) for t in (item.ack_log or [])]


def _read_ack_log(identity: str, known: Sequence[str] | None) -> list[str] | None:
    """The identity's ack log: the one this delivery already read, else a read (None: no such identity)."""
    if known is not None:
        return list(known)
    try:
        return _ack_log(IdentityModel.get(identity, consistent_read=True))
    except DoesNotExist:
        return None


def ack_slot_free(
    identity: str, *, now: datetime, max_acks: int, window: timedelta, known: Sequence[str] | None = None
) -> bool:
    """Whether an ack to this address would stay within the rate limit (read only; take_ack_slot takes it)."""
    log = _read_ack_log(identity, known)
    if log is None:
        return True
    cutoff = iso(now - window)
    return sum(1 for t in log if _slot_time(t) >= cutoff) < max_acks


def holds_ack_slot(identity: str, effect_id: str, *, known: Sequence[str] | None = None) -> bool:
    """Whether this effect already holds one of the address's slots (a retry of the same ack)."""
    log = _read_ack_log(identity, known)
    return log is not None and any(t.endswith(f"|{effect_id}") for t in log)


def take_ack_slot(
    identity: str,
    *,
    now: datetime,
    max_acks: int,
    window: timedelta,
    effect_id: str = "",
    known: Sequence[str] | None = None,
) -> bool:
    """Record an ack to this address if fewer than `max_acks` went out within `window`.

    Entries are `<iso time>|<effect id>`: the same effect taking its slot again is a no-op, and
    `release_ack_slot` gives it back when the send did not happen. `known` is the log as this
    delivery read it: the conditional write checks it is still the stored one (else read, try again).
    """
    if known is not None:
        item = IdentityModel(identity=identity, ack_log=list(known))
    else:
        try:
            item = IdentityModel.get(identity, consistent_read=True)
        except DoesNotExist:
            return True
    log = _ack_log(item)
    if effect_id and any(t.endswith(f"|{effect_id}") for t in log):
        return True
    cutoff = iso(now - window)
    recent = [t for t in log if _slot_time(t) >= cutoff]
    if len(recent) >= max_acks:
        return False
    entry = f"{iso(now)}|{effect_id}" if effect_id else iso(now)
    try:
        # The equality condition turns two racing deliveries into one slot each, never one too many.
        item.update(
            actions=[IdentityModel.ack_log.set([*recent, entry])],  # type: ignore[list-item]
            condition=IdentityModel.ack_log.does_not_exist() | (IdentityModel.ack_log == item.ack_log),
        )
        return True
    except UpdateError as exc:
        if _conditional_failed(exc):
            return take_ack_slot(identity, now=now, max_acks=max_acks, window=window, effect_id=effect_id)
        raise _transient(exc) from exc


def release_ack_slot(identity: str, effect_id: str) -> None:
    """Give back the slot an ack took when its send did not happen (never spend a slot on nothing)."""
    try:
        item = IdentityModel.get(identity, consistent_read=True)
    except DoesNotExist:
        return
    log = _ack_log(item)
    kept = [t for t in log if not t.endswith(f"|{effect_id}")]
    if len(kept) == len(log):
        return
    try:
        item.update(
            actions=[IdentityModel.ack_log.set(kept)],  # type: ignore[arg-type]  # PynamoDB types list items as attributes
            condition=IdentityModel.ack_log == item.ack_log,
        )
    except UpdateError as exc:
        if _conditional_failed(exc):
            release_ack_slot(identity, effect_id)
            return
        raise _transient(exc) from exc
