"""GDPR Art. 15 export: everything stored about one customer, as one JSON document (optionally a zip)."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pynamodb.attributes import MapAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from chalicelib.errors import NotFound
from chalicelib.gdpr.hashing import identity_hashes
from chalicelib.gdpr.subject import Subject
from chalicelib.models import ConversationModel, CustomerModel, IdentityModel, MessageModel, SuppressionModel

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

FORMAT = "replydesk-export/1"


def _plain(model: Model) -> dict[str, Any]:
    """Every stored attribute as JSON-ready values (sets sorted, datetimes ISO, maps as dicts)."""
    return {name: _value(getattr(model, name)) for name in model.get_attributes()}


def _value(value: Any) -> Any:
    if isinstance(value, MapAttribute):
        return {k: _value(v) for k, v in value.as_dict().items()}  # type: ignore[no-untyped-call]
    if isinstance(value, dict):
        return {str(k): _value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_value(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_value(v) for v in value)
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@dataclass(frozen=True, slots=True)
class Holdings:
    """Where one customer's data is: the items, and the keys of their objects in the raw bucket."""

    customer: CustomerModel | None
    identities: list[IdentityModel]
    conversations: list[ConversationModel]
    messages: dict[str, list[MessageModel]]
    suppressions: list[SuppressionModel]

    @property
    def source_ids(self) -> set[str]:
        return {m.source_id for ms in self.messages.values() for m in ms if m.direction == "in"}

    @property
    def raw_keys(self) -> set[str]:
        return {m.raw_key for ms in self.messages.values() for m in ms if m.raw_key}

    @property
    def attachment_keys(self) -> set[str]:
        return {a.s3_key for ms in self.messages.values() for m in ms for a in (m.attachments or []) if a.s3_key}


def holdings(subject: Subject) -> Holdings:
    """Read everything stored about the subject: Queries and key reads only (the by_customer GSI)."""
    customer: CustomerModel | None
    try:
        customer = CustomerModel.get(subject.customer_id, consistent_read=True)
    except DoesNotExist:
        customer = None
    identities = []
    for identity in subject.identities:
        try:
            item = IdentityModel.get(identity, consistent_read=True)
        except DoesNotExist:
            continue
        if item.customer_id == subject.customer_id:
            identities.append(item)
    conversations = list(ConversationModel.by_customer.query(subject.customer_id))
    messages = {c.conversation_id: list(MessageModel.query(c.conversation_id)) for c in conversations}
    suppressions = []
    for identity in subject.identities:
        for key in (identity, *identity_hashes(identity)):
            try:
                suppressions.append(SuppressionModel.get(key, consistent_read=True))
            except DoesNotExist:
                pass
    return Holdings(customer, identities, conversations, messages, suppressions)


def export_customer(subject: Subject, *, campaign: str, now: datetime) -> dict[str, Any]:
    """The Art. 15 document: customer, identities, conversations with messages, attachments, suppressions."""
    held = holdings(subject)
    if held.customer is None and not held.conversations:
        raise NotFound(f"nothing is stored about customer {subject.customer_id}")
    attachments = [
        {
            "conversation_id": conv_id,
            "message_id": m.message_id,
            "filename": a.filename,
            "content_type": a.content_type,
            "size": a.size,
            "s3_key": a.s3_key,
        }
        for conv_id, ms in held.messages.items()
        for m in ms
        for a in (m.attachments or [])
    ]
    return {
        "format": FORMAT,
        "campaign": campaign,
        "exported_at": now.isoformat(),
        "customer": _plain(held.customer) if held.customer is not None else None,
        "identities": [_plain(i) for i in held.identities],
        "conversations": [
            {**_plain(c), "messages": [_plain(m) for m in held.messages[c.conversation_id]]} for c in held.conversations
        ],
        "attachments": attachments,
        "raw_objects": sorted(held.raw_keys),
        "suppressions": [_plain(s) for s in held.suppressions],
    }


def export_zip(document: dict[str, Any], *, s3: S3Client, bucket: str) -> bytes:
    """`export.json` plus every attachment and raw object it names, under their S3 keys."""
    buf = io.BytesIO()
    missing = []
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        keys = [a["s3_key"] for a in document["attachments"] if a.get("s3_key")] + list(document["raw_objects"])
        for key in dict.fromkeys(keys):
            try:
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                    raise
                missing.append(key)  # expired by the bucket's lifecycle: say so rather than fail
                continue
            zf.writestr(f"objects/{key}", body)
        zf.writestr("export.json", json.dumps({**document, "missing_objects": missing}, indent=2, ensure_ascii=False))
    return buf.getvalue()
