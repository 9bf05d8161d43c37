"""The intake and events DLQs: list, show, replay and purge entries, never printing what a customer wrote.

Two shapes land in a DLQ. Records our handler parks (`park_in_dlq`) carry a `reason` attribute and
either the original record body or the slim `{reason, channel, source_id, raw_key}` message; records
SQS itself moves after `maxReceiveCount` carry the original body (an SNS notification or our intake
envelope) and no reason. Both are read into a `DlqEntry` that holds only ids, keys and the reason.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from chalicelib.errors import InvalidInput
from chalicelib.ops.stack import StackNames

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

# Long enough for one operator command to finish with the messages it took; they come back afterwards.
_HOLD_SECONDS = 60
REDRIVE_REASON = "max_receives"  # SQS moved it after maxReceiveCount: retries kept failing


class DlqName(StrEnum):
    INTAKE = "intake"
    EVENTS = "events"

    @property
    def dlq(self) -> str:
        return f"{self.value}-dlq"


class Shape(StrEnum):
    SLIM = "slim"  # {reason, channel, source_id, raw_key}: no body, no address
    SNS = "sns"  # the original SNS notification (SES receipt, two-way SMS, SES feedback)
    ENVELOPE = "envelope"  # our own intake envelope {channel, key, source_id}
    WORKFLOW = "workflow"  # a state machine's message to the events handler
    UNREADABLE = "unreadable"


@dataclass(frozen=True, slots=True)
class DlqEntry:
    """What an operator may see of one DLQ message: ids, keys, reason, age. Never its body."""

    queue: DlqName
    message_id: str
    receipt_handle: str
    shape: Shape
    reason: str
    channel: str
    source_id: str
    raw_key: str
    age_seconds: float
    receive_count: int
    conversation_id: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "queue": self.queue.value,
            "message_id": self.message_id,
            "shape": self.shape.value,
            "reason": self.reason,
            "channel": self.channel,
            "source_id": self.source_id,
            "raw_key": self.raw_key,
            "conversation_id": self.conversation_id,
            "age_seconds": round(self.age_seconds),
            "receive_count": self.receive_count,
        }


def _topic_channel(topic_arn: str) -> str:
    name = topic_arn.rsplit(":", 1)[-1]
    for suffix, channel in (("-inbound-email", "email"), ("-inbound-sms", "sms"), ("-ses-feedback", "ses_feedback")):
        if name.endswith(suffix):
            return channel
    return "unknown"


def _sns_facts(data: Mapping[str, Any]) -> tuple[str, str, str]:
    """(channel, source_id, raw_key) of an SNS notification, read without keeping any of its content."""
    channel = _topic_channel(str(data.get("TopicArn") or ""))
    message = data.get("Message")
    if isinstance(message, str):
        try:
            message = json.loads(message)
        except json.JSONDecodeError:
            message = None
    if not isinstance(message, dict):
        return channel, f"sns-{data.get('MessageId', '')}", ""
    if channel == "email":
        mail = message.get("mail") or {}
        action = (message.get("receipt") or {}).get("action") or {}
        return channel, str(mail.get("messageId") or ""), str(action.get("objectKey") or "")
    if channel == "sms":
        return channel, str(message.get("inboundMessageId") or f"sns-{data.get('MessageId', '')}"), ""
    if channel == "ses_feedback":
        kind = str(message.get("notificationType") or message.get("eventType") or "")
        return f"ses_{kind.lower()}" if kind else channel, str((message.get("mail") or {}).get("messageId") or ""), ""
    return channel, str(data.get("MessageId") or ""), ""


def describe(queue: DlqName, message: Mapping[str, Any], *, now: float | None = None) -> DlqEntry:
    """One received SQS message as a DlqEntry; unparseable bodies are still listed (shape `unreadable`)."""
    attrs = message.get("MessageAttributes") or {}
    reason = str((attrs.get("reason") or {}).get("StringValue") or "")
    sys_attrs = message.get("Attributes") or {}
    sent_ms = int(sys_attrs.get("SentTimestamp") or 0)
    age = max(0.0, (now if now is not None else time.time()) - sent_ms / 1000) if sent_ms else 0.0
    shape, channel, source_id, raw_key, conversation_id = Shape.UNREADABLE, "unknown", "", "", ""
    try:
        data = json.loads(str(message.get("Body") or ""))
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        if data.get("Type") == "Notification" and "TopicArn" in data:
            shape = Shape.SNS
            channel, source_id, raw_key = _sns_facts(data)
        elif {"channel", "source_id", "raw_key"} <= data.keys() and "key" not in data:
            shape = Shape.SLIM
            channel, source_id, raw_key = str(data["channel"]), str(data["source_id"]), str(data["raw_key"] or "")
            reason = reason or str(data.get("reason") or "")
        elif data.get("channel") and data.get("key"):
            shape = Shape.ENVELOPE
            channel, source_id, raw_key = str(data["channel"]), str(data.get("source_id") or ""), str(data["key"])
        elif "action" in data:
            shape = Shape.WORKFLOW
            channel = f"workflow_{data.get('action')}"
            conversation_id = str(data.get("conversation_id") or "")
    return DlqEntry(
        queue=queue,
        message_id=str(message.get("MessageId") or ""),
        receipt_handle=str(message.get("ReceiptHandle") or ""),
        shape=shape,
        reason=reason[:256] or REDRIVE_REASON,
        channel=channel,
        source_id=source_id,
        raw_key=raw_key,
        age_seconds=age,
        receive_count=int(sys_attrs.get("ApproximateReceiveCount") or 0),
        conversation_id=conversation_id,
    )


# ------------------------------------------------------------------ reading a DLQ


@dataclass(frozen=True, slots=True)
class Held:
    """A message taken from a DLQ for the length of one command, with the body kept out of sight."""

    entry: DlqEntry
    body: str


class DlqClient:
    """The two DLQs of one stack, and the queues their messages came from."""

    def __init__(self, *, sqs: SQSClient, s3: S3Client, names: StackNames) -> None:
        self.sqs = sqs
        self.s3 = s3
        self.names = names
        self._urls: dict[str, str] = {}

    def url(self, name: str) -> str:
        if name not in self._urls:
            self._urls[name] = self.sqs.get_queue_url(QueueName=self.names.queue(name))["QueueUrl"]
        return self._urls[name]

    def hold(self, queue: DlqName, *, limit: int = 1000) -> list[Held]:
        """Take up to `limit` messages out of sight (visibility timeout) so each is seen once."""
        url = self.url(queue.dlq)
        held: dict[str, Held] = {}
        while len(held) < limit:
            resp = self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, limit - len(held)),
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
                VisibilityTimeout=_HOLD_SECONDS,
                WaitTimeSeconds=0,
            )
            batch = resp.get("Messages", [])
            if not batch:
                break
            for m in batch:
                held.setdefault(m["MessageId"], Held(describe(queue, m), m["Body"]))
        return list(held.values())

    def release(self, queue: DlqName, held: Iterable[Held]) -> None:
        """Make messages we did not act on visible again at once."""
        url = self.url(queue.dlq)
        items = [h for h in held if h.entry.receipt_handle]
        for i in range(0, len(items), 10):
            chunk = items[i : i + 10]
            self.sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": h.entry.receipt_handle, "VisibilityTimeout": 0}
                    for n, h in enumerate(chunk)
                ],
            )

    def entries(self, queue: DlqName, *, limit: int = 1000) -> list[DlqEntry]:
        held = self.hold(queue, limit=limit)
        self.release(queue, held)
        return sorted((h.entry for h in held), key=lambda e: -e.age_seconds)

    # -------------------------------------------------------------- acting on entries

    def replay_body(self, queue: DlqName, held: Held) -> str:
        """What the source queue needs to process the entry again."""
        entry = held.entry
        if entry.shape in (Shape.SNS, Shape.ENVELOPE, Shape.WORKFLOW):
            return held.body  # the original record, exactly as the source queue first received it
        if entry.shape is Shape.SLIM and queue is DlqName.INTAKE:
            return self._rebuild(entry)
        raise InvalidInput(f"entry {entry.message_id} ({entry.shape.value}) cannot be replayed; purge it instead")

    def _rebuild(self, entry: DlqEntry) -> str:
        """The intake record for a slim entry, from its raw object (the DLQ message holds no body)."""
        if not entry.raw_key:
            raise InvalidInput(f"entry {entry.message_id} has no raw object to replay from")
        if entry.channel == "web":
            return json.dumps(
                {"channel": "web", "bucket": self.names.raw_bucket, "key": entry.raw_key, "source_id": entry.source_id}
            )
        if entry.channel == "email":
            # The receipt notification SES would publish for that object. Its verdicts are not kept in
            # the DLQ, so the replay reads as GRAY (SES's "could not tell"): the campaign's sender policy
            # rejects FAIL only, so a replay can't make a forged message pass as verified. The envelope
            # sender is not kept either (no address in the DLQ): absent, not empty, so the parser reads
            # the mail's own Return-Path instead of taking it for a bounce's null sender.
            note = {
                "notificationType": "Received",
                "mail": {"messageId": entry.source_id, "destination": []},
                "receipt": {"action": {"type": "S3", "bucketName": self.names.raw_bucket, "objectKey": entry.raw_key}},
            }
            return json.dumps(
                {"Type": "Notification", "TopicArn": self.names.topic_arn("inbound-email"), "Message": json.dumps(note)}
            )
        if entry.channel == "sms":
            payload = self.s3.get_object(Bucket=self.names.raw_bucket, Key=entry.raw_key)["Body"].read().decode()
            return json.dumps(
                {
                    "Type": "Notification",
                    "TopicArn": self.names.topic_arn("inbound-sms"),
                    "MessageId": f"replay-{entry.source_id}",
                    "Message": payload,
                }
            )
        raise InvalidInput(f"entry {entry.message_id}: no replay for channel {entry.channel!r}")

    def act(
        self,
        queue: DlqName,
        selected: Callable[[Held], bool],
        action: Callable[[Held], None],
        *,
        limit: int = 1000,
        skipped: list[tuple[DlqEntry, str]] | None = None,
    ) -> list[DlqEntry]:
        """Run `action` on every selected entry, delete it from the DLQ, and release the rest.

        An entry the action refuses (`InvalidInput`) stays in the DLQ and is reported in `skipped`
        with the reason; the others go on, so one unreplayable entry does not hold up a whole replay.
        """
        held = self.hold(queue, limit=limit)
        done: list[DlqEntry] = []
        try:
            for h in held:
                if not selected(h):
                    continue
                try:
                    action(h)
                except InvalidInput as exc:
                    if skipped is None:
                        raise
                    skipped.append((h.entry, str(exc)))
                    continue
                # Deleted only after the action: a crash in between leaves it here, and replaying it
                # again is harmless because the intake is idempotent on the source id.
                self.sqs.delete_message(QueueUrl=self.url(queue.dlq), ReceiptHandle=h.entry.receipt_handle)
                done.append(h.entry)
        finally:
            self.release(queue, [h for h in held if h.entry not in done])
        return done

    def replay(
        self,
        queue: DlqName,
        selected: Callable[[Held], bool],
        *,
        limit: int = 1000,
        skipped: list[tuple[DlqEntry, str]] | None = None,
    ) -> list[DlqEntry]:
        """Send each selected entry back to its source queue, then remove it from the DLQ.

        Without `skipped` the first entry that cannot be replayed stops the replay (`InvalidInput`);
        with it, such entries are left in the DLQ and listed there with their reason.
        """
        source = self.url(queue.value)

        def send(h: Held) -> None:
            self.sqs.send_message(QueueUrl=source, MessageBody=self.replay_body(queue, h))

        return self.act(queue, selected, send, limit=limit, skipped=skipped)

    def purge(self, queue: DlqName, selected: Callable[[Held], bool], *, limit: int = 1000) -> list[DlqEntry]:
        """Delete the selected entries for good (their raw objects stay in the raw bucket)."""
        return self.act(queue, selected, lambda _h: None, limit=limit)


def by_ids(ids: Iterable[str]) -> Callable[[Held], bool]:
    wanted = set(ids)
    return lambda h: h.entry.message_id in wanted


def everything(_held: Held) -> bool:
    return True


def naming(needles: Iterable[str]) -> Callable[[Held], bool]:
    """Entries whose body or ids mention any needle (an address, a phone, a source id, a raw key)."""
    wanted = [n.lower() for n in needles if n]

    def match(h: Held) -> bool:
        text = h.body.lower()
        ids = (h.entry.source_id.lower(), h.entry.raw_key.lower(), h.entry.conversation_id.lower())
        return any(n in text or n in ids for n in wanted)

    return match
