"""Staff actions in the stack's audit table (DESIGN §3: subject, at#event): who did what, ids and counts only."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.config import deploy_names
from chalicelib.store import iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def audit_table() -> str:
    """The stack's audit table, by the stack's naming (as the GDPR tools find it)."""
    return f"{deploy_names().prefix}-audit"


def record(
    ddb: DynamoDBClient,
    *,
    subject: str,
    event: str,
    actor: str,
    now: datetime,
    detail: Mapping[str, Any],
    customer_id: str | None = None,
) -> None:
    """One audit entry; `detail` must hold ids and counts, never a customer's details."""
    at = iso(now)
    item: dict[str, Any] = {
        "subject": {"S": subject},
        "at_event": {"S": f"{at}#{event}"},
        "event": {"S": event},
        "actor": {"S": actor},
        "started_at": {"S": at},
        "detail": {"S": json.dumps(dict(detail), sort_keys=True)},
    }
    if customer_id:
        item["customer_id"] = {"S": customer_id}
    ddb.put_item(TableName=audit_table(), Item=item)
