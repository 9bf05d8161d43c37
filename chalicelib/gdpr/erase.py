"""GDPR Art. 17 erasure: a checkpointed job of named steps that removes one customer's personal data.

Each step removes one kind of holding and records what it removed on the audit tombstone; a step on
the tombstone is done, so a rerun after a crash continues with the next one. Steps that find data
through other data run before it is deleted (objects before the messages naming them, messages before
their conversations, the customer last). New holdings (a search index, an outbox) are a new `Step`.
Suppressions survive as hashes, so a number that sent STOP stays opted out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.gdpr.audit import AuditModel
from chalicelib.gdpr.export import Holdings, holdings
from chalicelib.gdpr.hashing import ERASED_PREFIX, hashed_identity
from chalicelib.gdpr.subject import Subject
from chalicelib.models import IdentityModel, MessageModel, SuppressionModel
from chalicelib.observability import logger
from chalicelib.ops.dlq import DlqClient, DlqName, naming
from chalicelib.ops.stack import StackNames

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient


@dataclass(frozen=True, slots=True)
class Clients:
    s3: S3Client
    sqs: SQSClient
    dynamodb: DynamoDBClient
    sfn: SFNClient
    names: StackNames


@dataclass(frozen=True, slots=True)
class Job:
    """What one step needs: the subject, what is still stored about them, and the clients."""

    subject: Subject
    held: Holdings
    clients: Clients


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    what: str
    run: Callable[[Job], int]  # returns how many items or objects it removed


@dataclass(frozen=True, slots=True)
class Tombstone:
    """The audit record an erasure leaves: hashed identities, who, when, and per step what it removed."""

    customer_id: str
    identity_hashes: tuple[str, ...]
    actor: str
    started_at: str
    completed_at: str | None
    status: str
    steps: dict[str, int] = field(default_factory=dict)
    resumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "identity_hashes": list(self.identity_hashes),
            "actor": self.actor,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "status": self.status,
            "steps": dict(self.steps),
            "resumed": self.resumed,
        }


# ------------------------------------------------------------------ the steps


def _needles(job: Job) -> set[str]:
    values = {i.split("#", 1)[1] for i in job.subject.identities if "#" in i}
    return (
        values
        | job.held.source_ids
        | job.held.raw_keys
        | {c.conversation_id for c in job.held.conversations}
        | {job.subject.customer_id}
    )


def erase_dlq(job: Job) -> int:
    """DLQ entries naming the customer: by address, phone, source id, raw key or conversation id."""
    dlq = DlqClient(sqs=job.clients.sqs, s3=job.clients.s3, names=job.clients.names)
    match = naming(_needles(job))
    return sum(len(dlq.purge(queue, match)) for queue in (DlqName.INTAKE, DlqName.EVENTS))


def _delete_objects(s3: S3Client, bucket: str, keys: Iterable[str]) -> int:
    todo = sorted(set(keys))
    for i in range(0, len(todo), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in todo[i : i + 1000]], "Quiet": True})
    return len(todo)


def _list(s3: S3Client, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return keys


def erase_raw_objects(job: Job) -> int:
    """Raw email, SMS and web objects; SMS and web keys carry their source id, which also finds redeliveries."""
    s3, bucket = job.clients.s3, job.clients.names.raw_bucket
    keys = set(job.held.raw_keys)
    for ms in job.held.messages.values():
        for m in ms:
            if m.direction != "in" or m.channel not in ("sms", "web"):
                continue
            day = datetime.fromisoformat(m.created_at)
            for d in (day, day + timedelta(days=1)):
                keys.update(_list(s3, bucket, f"raw/{m.channel}/{d.date().isoformat()}/{m.source_id}"))
    return _delete_objects(s3, bucket, keys)


def erase_attachments(job: Job) -> int:
    s3, bucket = job.clients.s3, job.clients.names.raw_bucket
    keys = set(job.held.attachment_keys)
    # The intake writes a message's attachments under its source id: listing that prefix also finds
    # any the item does not name (an earlier, interrupted delivery of the same mail).
    for ms in job.held.messages.values():
        for m in ms:
            if m.direction == "in" and m.attachments:
                keys.update(_list(s3, bucket, f"attachments/{m.source_id}/"))
    return _delete_objects(s3, bucket, keys)


def erase_idempotency(job: Job) -> int:
    """Powertools' records of processed messages (their saved result names the conversation).

    A Scan: the records are keyed by a hash of the source id and expire within days, so the table
    stays small, and erasure is a rare operator job, not a console read.
    """
    ddb, table = job.clients.dynamodb, job.clients.names.table("idempotency")
    conv_ids = sorted(c.conversation_id for c in job.held.conversations)
    removed = 0
    for i in range(0, len(conv_ids), 20):
        chunk = conv_ids[i : i + 20]
        values = {f":c{n}": {"S": cid} for n, cid in enumerate(chunk)}
        expr = " OR ".join(f"contains(#d, :c{n})" for n in range(len(chunk)))
        for page in ddb.get_paginator("scan").paginate(
            TableName=table,
            FilterExpression=expr,
            ExpressionAttributeNames={"#d": "data"},
            ExpressionAttributeValues=values,
            ProjectionExpression="id",
        ):
            for item in page.get("Items", []):
                ddb.delete_item(TableName=table, Key={"id": item["id"]})
                removed += 1
    return removed


def erase_outbox(job: Job) -> int:
    """Outbox records of the customer's effects (acks, replies, follow-ups): they name the conversation.

    A Scan filtered on the conversation ids (the table has no conversation index); erasure is rare.
    """
    ddb, table = job.clients.dynamodb, job.clients.names.table("outbox")
    conv_ids = sorted(c.conversation_id for c in job.held.conversations)
    removed = 0
    for i in range(0, len(conv_ids), 100):  # IN takes at most 100 values
        chunk = conv_ids[i : i + 100]
        values = {f":c{n}": {"S": cid} for n, cid in enumerate(chunk)}
        for page in ddb.get_paginator("scan").paginate(
            TableName=table,
            FilterExpression=f"conversation_id IN ({', '.join(values)})",
            ExpressionAttributeValues=values,
            ProjectionExpression="effect_id",
        ):
            for item in page.get("Items", []):
                ddb.delete_item(TableName=table, Key={"effect_id": item["effect_id"]})
                removed += 1
    return removed


def erase_analytics(job: Job) -> int:
    """Rows of the customer's conversations in the analytics export: each partition file is rewritten without them."""
    from chalicelib.analytics.export import PREFIX

    s3, bucket = job.clients.s3, job.clients.names.analytics_bucket
    conv_ids = {c.conversation_id for c in job.held.conversations}
    if not conv_ids:
        return 0
    removed = 0
    for key in _list(s3, bucket, f"{PREFIX}/"):
        lines = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
        kept = [line for line in lines if line and json.loads(line).get("conversation_id") not in conv_ids]
        if len(kept) != len([line for line in lines if line]):
            removed += len([line for line in lines if line]) - len(kept)
            body = ("\n".join(kept) + "\n") if kept else ""
            s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/x-ndjson")
    return removed


def erase_search_index(job: Job) -> int:
    """The console's search entries: the words of their messages and of their name, recomputed as indexed."""
    from chalicelib import searchindex
    from chalicelib.models import SearchTokenModel

    entries: set[tuple[str, str]] = set()
    for conv_id, ms in job.held.messages.items():
        for m in ms:
            for part in (f"{m.subject}\n{m.text}", m.new_text or "", m.subject, m.text):
                entries.update((searchindex.WORD + w, conv_id) for w in searchindex.tokens(part))
    if job.held.customer is not None:
        name_words = searchindex.tokens(job.held.customer.name or "")
        entries.update((searchindex.NAME + w, job.subject.customer_id) for w in name_words)
    with SearchTokenModel.batch_write() as batch:
        for token, ref in sorted(entries):
            batch.delete(SearchTokenModel(token=token, ref=ref))
    return len(entries)


def erase_messages(job: Job) -> int:
    n = 0
    with MessageModel.batch_write() as batch:
        for ms in job.held.messages.values():
            for m in ms:
                batch.delete(m)
                n += 1
    return n


def erase_conversations(job: Job) -> int:
    """Conversations, after stopping their SLA clocks (a late escalation must not write to a deleted item)."""
    for c in job.held.conversations:
        if c.workflow_execution:
            try:
                job.clients.sfn.stop_execution(executionArn=c.workflow_execution, cause="customer erased")
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("ExecutionDoesNotExist", "ValidationException"):
                    raise
        c.delete()
    return len(job.held.conversations)


def rekey_suppressions(job: Job) -> int:
    """Every suppression moves to the identity's hashed key: STOP, bounces and complaints stay honoured."""
    n = 0
    for s in job.held.suppressions:
        if s.address.startswith(ERASED_PREFIX):
            continue
        SuppressionModel(
            address=hashed_identity(s.address),
            reason=s.reason,
            source=s.source,
            created_at=s.created_at,
            confirmed=s.confirmed,
        ).save()
        s.delete()
        n += 1
    return n


def erase_identities(job: Job) -> int:
    for i in job.held.identities:
        i.delete(condition=IdentityModel.customer_id == job.subject.customer_id)
    return len(job.held.identities)


def erase_customer_item(job: Job) -> int:
    if job.held.customer is None:
        return 0
    job.held.customer.delete()
    return 1


STEPS: tuple[Step, ...] = (
    Step("dlq", "intake and events DLQ entries naming the customer", erase_dlq),
    Step("raw_objects", "raw email, SMS and web objects in the raw bucket", erase_raw_objects),
    Step("attachments", "attachments in the raw bucket", erase_attachments),
    Step("idempotency", "Powertools idempotency records of their messages", erase_idempotency),
    Step("outbox", "outbox records of their acks, replies and follow-ups", erase_outbox),
    Step("analytics", "their rows in the analytics export files", erase_analytics),
    Step("search", "the console's search index entries for their messages and name", erase_search_index),
    Step("messages", "inbound, outbound (rendered replies and acks) and note items", erase_messages),
    Step("conversations", "conversation items (SLA clocks stopped)", erase_conversations),
    Step("suppressions", "suppressions, kept under the hashed identity", rekey_suppressions),
    Step("identities", "identity items (address and phone → customer)", erase_identities),
    Step("customer", "the customer item", erase_customer_item),
)


# ------------------------------------------------------------------ the job


def _subject_key(customer_id: str) -> str:
    return f"erasure#{customer_id}"


def _tombstone(item: AuditModel, *, resumed: bool = False) -> Tombstone:
    return Tombstone(
        customer_id=item.customer_id,
        identity_hashes=tuple(sorted(item.identity_hashes or ())),
        actor=item.actor,
        started_at=item.started_at,
        completed_at=item.completed_at,
        status=item.status,
        steps={str(k): int(v) for k, v in (item.steps or {}).items()},
        resumed=resumed,
    )


def latest_tombstone(customer_id: str) -> AuditModel | None:
    for item in AuditModel.query(_subject_key(customer_id), scan_index_forward=False, limit=1, consistent_read=True):
        return item
    return None


def erase_customer(
    subject: Subject,
    *,
    actor: str,
    now: datetime,
    clients: Clients,
    steps: tuple[Step, ...] = STEPS,
) -> Tombstone:
    """Run (or continue) the customer's erasure; idempotent: a finished erasure is returned as it was."""
    existing = latest_tombstone(subject.customer_id)
    held = holdings(subject)
    nothing_left = held.customer is None and not held.conversations and not held.identities
    if existing is not None and existing.status == "complete" and nothing_left:
        return _tombstone(existing)
    resumed = existing is not None and existing.status == "running"
    if existing is not None and resumed:
        item = existing
        item.identity_hashes = set(item.identity_hashes or ()) | {hashed_identity(i) for i in subject.identities}
    else:
        started = now.isoformat(timespec="milliseconds")
        item = AuditModel(
            subject=_subject_key(subject.customer_id),
            at_event=f"{started}#erasure",
            event="erasure",
            actor=actor,
            customer_id=subject.customer_id,
            identity_hashes={hashed_identity(i) for i in subject.identities},
            started_at=started,
            planned={s.name for s in steps},
            steps={},
        )
    item.save()
    for hashed in item.identity_hashes or ():
        # One reference per hashed identity, so a rerun by any of the customer's addresses finds this job.
        AuditModel(
            subject=hashed,
            at_event=item.at_event,
            event="erasure_ref",
            actor=item.actor,
            customer_id=item.customer_id,
            started_at=item.started_at,
        ).save()
    done: dict[str, int] = dict(item.steps or {})
    # Read once per run: each step only uses holdings that later steps delete (objects before the
    # messages naming them, messages before their conversations), so the picture stays true; a
    # resumed run reads again what is left.
    job = Job(subject=subject, held=held, clients=clients)
    for step in steps:
        if step.name in done:
            continue
        done[step.name] = step.run(job)
        item.steps = dict(done)
        item.save()  # the checkpoint
        logger.info("erasure step done", extra={"customer_id": subject.customer_id, "step": step.name})
    item.status = "complete"
    item.completed_at = datetime.now(now.tzinfo).isoformat(timespec="milliseconds")
    item.save()
    return _tombstone(item, resumed=resumed)


def describe_steps(steps: tuple[Step, ...] = STEPS) -> str:
    return json.dumps([{"step": s.name, "removes": s.what} for s in steps], indent=2)
