"""The DynamoDB tables (DESIGN §3) as PynamoDB models; table names and endpoint come from Settings."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.config import Settings


class Status(StrEnum):
    # Stored in DynamoDB: never rename.
    NEW = "new"
    OPEN = "open"
    PENDING_CUSTOMER = "pending_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Direction(StrEnum):
    # Stored in DynamoDB: never rename.
    IN = "in"
    OUT = "out"
    NOTE = "note"


def utcnow() -> datetime:
    return datetime.now(UTC)


def retention_expiry() -> int | None:
    """DynamoDB TTL (epoch seconds) for a new conversation or message: the campaign's `retention_days`.

    Set when the item is first written, as the raw bucket's lifecycle counts from an object's write.
    Without a campaign (tools that only read) the item gets no TTL rather than a made-up one.
    """
    from chalicelib.config import get_campaign
    from chalicelib.errors import ConfigError

    try:
        days = get_campaign().retention_days
    except ConfigError:
        return None
    return int(utcnow().timestamp()) + days * 86400


class _Meta:
    # Real values are bound by bind_models() at cold start; the placeholder fails loudly if not.
    table_name = "unbound"
    region = "us-east-1"
    host: str | None = None


class CustomerModel(Model):
    class Meta(_Meta):
        pass

    customer_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(default="")
    language = UnicodeAttribute(null=True)
    channels = UnicodeSetAttribute(default=set)
    identities = UnicodeSetAttribute(default=set)
    tags = UnicodeSetAttribute(default=set)
    # Contact details the customer typed (e.g. a phone on the web form): unproven, so never identities.
    unverified_contacts = UnicodeSetAttribute(default=set)
    marketing_opt_out = BooleanAttribute(default=True)
    # Set on a customer merged into another by staff (identities and conversations moved there).
    merged_into = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute(default=utcnow)
    updated_at = UTCDateTimeAttribute(default=utcnow)


class IdentityModel(Model):
    """`email#a@b.com` or `phone#+4670...` -> customer; the conditional put makes it unique."""

    class Meta(_Meta):
        pass

    identity = UnicodeAttribute(hash_key=True)
    customer_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute(default=utcnow)
    # False: only typed into the web form (unproven); the channel's own first message takes it over.
    verified = BooleanAttribute(null=True)
    # ISO timestamps of acks sent to this address, pruned to the campaign's rate-limit window.
    ack_log = ListAttribute(of=UnicodeAttribute, default=list)


class CustomerIndex(GlobalSecondaryIndex["ConversationModel"]):
    class Meta:
        index_name = "by_customer"
        projection = AllProjection()

    customer_id = UnicodeAttribute(hash_key=True)
    updated_at = UnicodeAttribute(range_key=True)


class QueueIndex(GlobalSecondaryIndex["ConversationModel"]):
    class Meta:
        index_name = "by_queue"
        projection = AllProjection()

    queue = UnicodeAttribute(hash_key=True)
    status_due = UnicodeAttribute(range_key=True)


class AssigneeIndex(GlobalSecondaryIndex["ConversationModel"]):
    """Sparse: only assigned conversations carry `assignee` (the staff username)."""

    class Meta:
        index_name = "by_assignee"
        projection = AllProjection()

    assignee = UnicodeAttribute(hash_key=True)
    status_due = UnicodeAttribute(range_key=True)


class Breach(MapAttribute[str, Any]):
    kind = UnicodeAttribute()  # first_response | resolution
    level = NumberAttribute(default=1)
    at = UnicodeAttribute()
    due = UnicodeAttribute(null=True)


class ConversationModel(Model):
    class Meta(_Meta):
        pass

    # The conversation id is its reference number (RD-7K3M9Q): the key's uniqueness makes references unique.
    conversation_id = UnicodeAttribute(hash_key=True)
    reference = UnicodeAttribute()
    origin_source_id = UnicodeAttribute(null=True)
    customer_id = UnicodeAttribute()
    channel = UnicodeAttribute()
    status = UnicodeAttribute(default=Status.NEW.value)
    queue = UnicodeAttribute()
    status_due = UnicodeAttribute()
    # ISO strings, so the GSI range key sorts by time.
    updated_at = UnicodeAttribute()
    created_at = UnicodeAttribute()
    subject = UnicodeAttribute(default="")
    topic = UnicodeAttribute(default="unknown")
    language = UnicodeAttribute(null=True)
    urgency = UnicodeAttribute(default="normal")
    sentiment = UnicodeAttribute(default="neutral")
    reasons = ListAttribute(of=UnicodeAttribute, default=list)
    assignee = UnicodeAttribute(null=True)
    first_response_due = UnicodeAttribute(null=True)
    resolution_due = UnicodeAttribute(null=True)
    first_response_at = UnicodeAttribute(null=True)
    resolved_at = UnicodeAttribute(null=True)
    breaches = ListAttribute(of=Breach, default=list)
    thread_keys = UnicodeSetAttribute(default=set)
    ack_sent_at = UnicodeAttribute(null=True)
    ack_message_id = UnicodeAttribute(null=True)
    last_inbound_at = UnicodeAttribute(null=True)
    inbound_count = NumberAttribute(default=0)
    workflow_version = NumberAttribute(default=0)
    workflow_execution = UnicodeAttribute(null=True)
    follow_up_id = UnicodeAttribute(null=True)  # the staff reply whose follow-up is current
    follow_up_sent_for = UnicodeAttribute(null=True)
    # The SLA timers (v<version>-<kind>-l<level>) whose breach is recorded: a redelivered timer records none.
    sla_fired = UnicodeSetAttribute(null=True)
    callback_requested_at = UnicodeAttribute(null=True)
    timeline = ListAttribute(of=MapAttribute, default=list)  # type: ignore[arg-type]
    expires_at = NumberAttribute(null=True, default_for_new=retention_expiry)  # TTL attribute (template)
    # Bumped (atomically, with ADD) by every change staff see; console writes are conditional on it.
    version = NumberAttribute(default=0)
    # Retention playbook and satisfaction rating (chalicelib/library/offers.py, csat.py).
    offers_sent = ListAttribute(of=MapAttribute, default=list)  # type: ignore[arg-type]
    retention = MapAttribute[str, Any](null=True)
    csat = MapAttribute[str, Any](null=True)

    by_customer = CustomerIndex()
    by_queue = QueueIndex()
    by_assignee = AssigneeIndex()


class SourceIndex(GlobalSecondaryIndex["MessageModel"]):
    class Meta:
        index_name = "by_source"
        projection = KeysOnlyProjection()

    source_id = UnicodeAttribute(hash_key=True)


class RfcMessageIdIndex(GlobalSecondaryIndex["MessageModel"]):
    class Meta:
        index_name = "by_rfc_message_id"
        projection = KeysOnlyProjection()

    rfc_message_id = UnicodeAttribute(hash_key=True)


class AttachmentMap(MapAttribute[str, Any]):
    filename = UnicodeAttribute()
    content_type = UnicodeAttribute()
    size = NumberAttribute()
    s3_key = UnicodeAttribute(null=True)
    inline = BooleanAttribute(default=False)
    content_id = UnicodeAttribute(null=True)


class MessageModel(Model):
    class Meta(_Meta):
        pass

    conversation_id = UnicodeAttribute(hash_key=True)
    sort = UnicodeAttribute(range_key=True)  # <iso time>#<message_id>
    message_id = UnicodeAttribute()
    direction = UnicodeAttribute()
    channel = UnicodeAttribute()
    source_id = UnicodeAttribute()
    rfc_message_id = UnicodeAttribute(null=True)
    references = ListAttribute(of=UnicodeAttribute, default=list)
    sender = UnicodeAttribute(null=True)  # the customer's address or phone on inbound messages
    raw_key = UnicodeAttribute(null=True)
    subject = UnicodeAttribute(default="")
    text = UnicodeAttribute(default="")
    new_text = UnicodeAttribute(null=True)
    html = UnicodeAttribute(null=True)
    attachments = ListAttribute(of=AttachmentMap, default=list)
    classification = MapAttribute[str, Any](null=True)
    template = UnicodeAttribute(null=True)
    # The library template an outbound message was rendered from (id, immutable version, language used).
    template_id = UnicodeAttribute(null=True)
    template_version = NumberAttribute(null=True)
    template_language = UnicodeAttribute(null=True)
    # A body too big for the item (DynamoDB's 400 KB limit) is kept in the raw bucket under this key.
    text_key = UnicodeAttribute(null=True)
    # Outbound only: what the outbox knows of the send (sent, unknown).
    delivery = UnicodeAttribute(null=True)
    sent_by = UnicodeAttribute(null=True)
    ack = BooleanAttribute(default=False)
    suppressed_reason = UnicodeAttribute(null=True)
    problems = ListAttribute(of=UnicodeAttribute, default=list)
    created_at = UnicodeAttribute()
    expires_at = NumberAttribute(null=True, default_for_new=retention_expiry)  # TTL attribute (template)

    by_source = SourceIndex()
    by_rfc_message_id = RfcMessageIdIndex()


class SuppressionModel(Model):
    """Why no ack may go to an address or phone: bounce, complaint, opt_out or manual."""

    class Meta(_Meta):
        pass

    address = UnicodeAttribute(hash_key=True)  # the identity string, e.g. phone#+4670...
    reason = UnicodeAttribute()
    source = UnicodeAttribute(default="")
    # The inbound message that caused it (an SMS STOP): its retry still owes the one confirmation.
    origin = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute(default=utcnow)
    confirmed = BooleanAttribute(default=False)


class EffectStatus(StrEnum):
    # Stored in DynamoDB: never rename.
    PENDING = "pending"
    SENT = "sent"
    UNKNOWN = "unknown"  # the request left and its answer was lost: not repeated where a double is worse
    FAILED = "failed"  # refused for good (invalid address, broken template): parked with its reason


class OutboxModel(Model):
    """One outbound effect under a deterministic id: pending, then sent / unknown / failed."""

    class Meta(_Meta):
        pass

    effect_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()  # ack | reply | follow_up | keyword | escalation | sla_clock
    status = UnicodeAttribute(default=EffectStatus.PENDING.value)
    conversation_id = UnicodeAttribute(null=True)
    channel = UnicodeAttribute(null=True)  # email | sms | stepfunctions
    target_kind = UnicodeAttribute(null=True)  # email | phone | execution (never the address itself)
    template_id = UnicodeAttribute(null=True)
    template_version = NumberAttribute(null=True)
    template_language = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    # Set while a send is under way; found set on a retry, it means the earlier try died mid-send.
    in_flight_since = UnicodeAttribute(null=True)
    provider_id = UnicodeAttribute(null=True)  # SES/SNS message id or execution ARN
    message_id = UnicodeAttribute(null=True)  # the stored outbound message, if any
    result = MapAttribute[str, Any](null=True)  # what the caller returns on a duplicate request
    reason = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class IntakeSeenModel(Model):
    """One per committed inbound message, keyed by a hash of channel and source id, in the idempotency
    table: the commit's transaction writes it (condition: new), so the same input in another envelope
    (an MTA's retry is a new SES receipt with its own time) is not stored twice. TTL: `expiration`."""

    class Meta(_Meta):
        pass

    id = UnicodeAttribute(hash_key=True)
    expiration = NumberAttribute()  # epoch seconds, the table's TTL attribute


class RateLimitModel(Model):
    """One counter per (subject, window): `web-ip#<ip>#<window start>`; DynamoDB's TTL removes old ones."""

    class Meta(_Meta):
        pass

    key = UnicodeAttribute(hash_key=True)
    hits = NumberAttribute(default=0)
    expires_at = NumberAttribute()  # epoch seconds, the table's TTL attribute


class TemplateKindIndex(GlobalSecondaryIndex["TemplateModel"]):
    """Sparse: only the latest pointers carry `kind`, so listing the library is a Query, not a Scan."""

    class Meta:
        index_name = "by_kind"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    template_id = UnicodeAttribute(range_key=True)


class TemplateModel(Model):
    """One immutable template version (version >= 1), or the template's latest pointer (version 0)."""

    class Meta(_Meta):
        pass

    template_id = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(range_key=True)
    kind = UnicodeAttribute(null=True)  # "template" on the pointer only (the by_kind GSI)
    latest = NumberAttribute(null=True)  # on the pointer
    purpose = UnicodeAttribute()
    channel = UnicodeAttribute()
    title = UnicodeAttribute(default="")
    topics = ListAttribute(of=UnicodeAttribute, default=list)
    required_inputs = ListAttribute(of=UnicodeAttribute, default=list)
    languages = ListAttribute(of=UnicodeAttribute, default=list)
    bodies = MapAttribute[str, Any](default=dict)  # language -> part (subject, text, html) -> source
    digest = UnicodeAttribute(default="")
    author = UnicodeAttribute(default="")
    created_at = UnicodeAttribute(default="")
    diff = UnicodeAttribute(default="")
    retired = BooleanAttribute(default=False)

    by_kind = TemplateKindIndex()


class SearchTokenModel(Model):
    """The console's inverted index: `w#<word>` -> conversation id, `n#<name word>` -> customer id."""

    class Meta(_Meta):
        pass

    token = UnicodeAttribute(hash_key=True)
    ref = UnicodeAttribute(range_key=True)
    at = UnicodeAttribute(null=True)


ALL_MODELS: tuple[type[Model], ...] = (
    CustomerModel,
    IdentityModel,
    ConversationModel,
    MessageModel,
    SuppressionModel,
    OutboxModel,
    RateLimitModel,
    TemplateModel,
    SearchTokenModel,
    IntakeSeenModel,
)


def bind_models(settings: Settings) -> None:
    """Point every model at its table and endpoint; called once per container before first use."""
    tables = {
        CustomerModel: settings.customers_table,
        IdentityModel: settings.identities_table,
        ConversationModel: settings.conversations_table,
        MessageModel: settings.messages_table,
        SuppressionModel: settings.suppressions_table,
        OutboxModel: settings.outbox_table,
        RateLimitModel: settings.rate_limits_table,
        TemplateModel: settings.templates_table,
        SearchTokenModel: settings.search_table,
        IntakeSeenModel: settings.idempotency_table,
    }
    for model, table in tables.items():
        meta = model.Meta
        if (meta.table_name, meta.host, meta.region) == (table, settings.endpoint_url, settings.region):
            continue
        meta.table_name = table
        meta.host = settings.endpoint_url
        meta.region = settings.region
        # PynamoDB caches its connection per model; drop it so the new table/endpoint apply.
        model._connection = None
    _share_connection(tuple(tables))


def _share_connection(models: tuple[type[Model], ...]) -> None:
    """One PynamoDB Connection (one botocore session per thread, one DynamoDB client) for all the models.

    Each model's own Connection made its own session and client on first use, loading botocore's data
    again: ~55 ms of CPU per table, ~0.4 s over the tables a first contact touches (issue 13). A
    Connection serves any table (each call names its table); the models share region, endpoint and
    PynamoDB's default timeouts, so the first model's serves them all.
    """
    shared = None
    for model in models:
        table = model._get_connection()
        if shared is None:
            shared = table.connection
        elif table.connection is not shared:
            shared.add_meta_table(table.connection.get_meta_table(table.table_name))
            table.connection = shared
