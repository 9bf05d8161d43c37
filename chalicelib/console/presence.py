"""Who is viewing or composing on a conversation: one small item per conversation, entries kept fresh by
heartbeats, gone ~30 s after the last one (the page beats every 10 s).

One item per conversation (a map username -> entry) rather than one per viewer, so a list page reads
the presence of all its rows with one BatchGetItem. DynamoDB's TTL deletes the item only eventually
(hours), so readers also drop entries older than FRESH_SECONDS themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.errors import TransientError, ValidationError
from chalicelib.store import iso
from chalicelib.workflow import parse_timestamp

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

FRESH_SECONDS = 30
ITEM_TTL = timedelta(hours=1)
_BATCH = 100


class PresenceState(StrEnum):
    VIEWING = "viewing"
    COMPOSING = "composing"
    LEFT = "left"


def parse_state(value: Any) -> PresenceState:
    try:
        return PresenceState(str(value or ""))
    except ValueError as exc:
        raise ValidationError("'state' must be viewing, composing or left", field="state") from exc


def _fresh(viewers: Mapping[str, Any], now: datetime) -> list[dict[str, Any]]:
    out = []
    for username, raw in viewers.items():
        entry = raw.get("M", {})
        at = entry.get("at", {}).get("S")
        if not at or (now - parse_timestamp(at)).total_seconds() > FRESH_SECONDS:
            continue
        out.append(
            {
                "username": username,
                "name": entry.get("name", {}).get("S", username),
                "state": entry.get("state", {}).get("S", PresenceState.VIEWING.value),
                "at": at,
            }
        )
    return sorted(out, key=lambda v: v["username"])


def beat(
    *,
    ddb: DynamoDBClient,
    table: str,
    conversation_id: str,
    username: str,
    name: str,
    state: PresenceState,
    now: datetime,
) -> list[dict[str, Any]]:
    """Record this staff member's state (or remove it on `left`) and return who is there now."""
    names = {"#v": "viewers", "#u": username, "#x": "expires_at"}
    ttl = {"N": str(int((now + ITEM_TTL).timestamp()))}
    try:
        if state is PresenceState.LEFT:
            resp = ddb.update_item(
                TableName=table,
                Key={"conversation_id": {"S": conversation_id}},
                UpdateExpression="REMOVE #v.#u",
                ConditionExpression="attribute_exists(#v)",
                ExpressionAttributeNames={"#v": "viewers", "#u": username},
                ReturnValues="ALL_NEW",
            )
        else:
            entry = {"M": {"state": {"S": state.value}, "at": {"S": iso(now)}, "name": {"S": name[:100]}}}
            try:
                resp = ddb.update_item(
                    TableName=table,
                    Key={"conversation_id": {"S": conversation_id}},
                    UpdateExpression="SET #v.#u = :e, #x = :t",
                    ConditionExpression="attribute_exists(#v)",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={":e": entry, ":t": ttl},
                    ReturnValues="ALL_NEW",
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                # First viewer: a map path cannot be set inside a map that does not exist yet, so the map
                # is created; a concurrent first viewer loses one beat, and the next beat adds them.
                resp = ddb.update_item(
                    TableName=table,
                    Key={"conversation_id": {"S": conversation_id}},
                    UpdateExpression="SET #v = if_not_exists(#v, :m), #x = :t",
                    ExpressionAttributeNames={"#v": "viewers", "#x": "expires_at"},
                    ExpressionAttributeValues={":m": {"M": {username: entry}}, ":t": ttl},
                    ReturnValues="ALL_NEW",
                )
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code == "ConditionalCheckFailedException":
            return []  # left a conversation nobody was on
        raise TransientError("presence could not be stored") from exc
    return _fresh(resp.get("Attributes", {}).get("viewers", {}).get("M", {}), now)


def viewers(
    *, ddb: DynamoDBClient, table: str, conversation_ids: Iterable[str], now: datetime
) -> dict[str, list[dict[str, Any]]]:
    """Fresh viewers per conversation: one BatchGetItem per 100 conversations."""
    ids = list(dict.fromkeys(conversation_ids))
    out: dict[str, list[dict[str, Any]]] = {}
    for i in range(0, len(ids), _BATCH):
        keys: list[Any] = [{"conversation_id": {"S": c}} for c in ids[i : i + _BATCH]]
        request: Any = {table: {"Keys": keys}}
        for _ in range(5):  # unprocessed keys come back under throttling; a few rounds, then give up on them
            resp = ddb.batch_get_item(RequestItems=request)
            for item in resp.get("Responses", {}).get(table, []):
                fresh = _fresh(item.get("viewers", {}).get("M", {}), now)
                if fresh:
                    out[item["conversation_id"]["S"]] = fresh
            request = resp.get("UnprocessedKeys") or {}
            if not request:
                break
    return out
