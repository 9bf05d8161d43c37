"""The local stack's moto tweaks (local/emulator.py) change nothing an API caller can see."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local import emulator

pytestmark = pytest.mark.functional

REGION = "us-east-1"


@pytest.fixture
def patched_then_restored() -> Iterator[None]:
    """The session's local stack (if any) has the tweaks applied: leave them applied afterwards."""
    yield
    emulator.track_only()
    emulator.fast_queries()
    emulator.light_transactions()


def client(url: str, service: str) -> Any:
    return boto3.session.Session().client(service, region_name=REGION, endpoint_url=url)


def table_with_items(ddb: Any) -> str:
    name = f"emu-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "queue", "AttributeType": "S"},
            {"AttributeName": "due", "AttributeType": "N"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-queue",
                "KeySchema": [
                    {"AttributeName": "queue", "KeyType": "HASH"},
                    {"AttributeName": "due", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for p in range(12):
        for s in range(7):
            item = {"pk": {"S": f"conv-{p % 5}-{p}"}, "sk": {"S": f"msg#{s:02d}"}, "n": {"N": str(p * s)}}
            if s % 2 == 0:  # only some items are in the index, and due times repeat
                item |= {"queue": {"S": f"q{p % 3}"}, "due": {"N": str((p * s) % 9)}}
            ddb.put_item(TableName=name, Item=item)
    return name


QUERIES: list[dict[str, Any]] = [
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "conv-1-6"}}},
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "nobody"}}},
    {
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
        "ExpressionAttributeValues": {":p": {"S": "conv-2-2"}, ":s": {"S": "msg#0"}},
        "ScanIndexForward": False,
    },
    {
        "KeyConditionExpression": "pk = :p AND sk > :s",
        "FilterExpression": "n > :n",
        "ExpressionAttributeValues": {":p": {"S": "conv-3-8"}, ":s": {"S": "msg#02"}, ":n": {"N": "20"}},
    },
    {"IndexName": "by-queue", "KeyConditionExpression": "queue = :q", "ExpressionAttributeValues": {":q": {"S": "q1"}}},
    {
        "IndexName": "by-queue",
        "KeyConditionExpression": "queue = :q AND due <= :d",
        "ExpressionAttributeValues": {":q": {"S": "q2"}, ":d": {"N": "4"}},
        "ScanIndexForward": False,
    },
]


def every_page(ddb: Any, table: str, query: dict[str, Any], limit: int) -> list[list[dict[str, Any]]]:
    pages, start = [], None
    while True:
        resp = ddb.query(TableName=table, Limit=limit, **query, **({"ExclusiveStartKey": start} if start else {}))
        pages.append(resp["Items"])
        start = resp.get("LastEvaluatedKey")
        if not start:
            return pages


def test_queries_answer_the_same_with_and_without_the_shortcut(moto_url: str, patched_then_restored: None) -> None:
    # GIVEN a table with a range key and a sparse index with repeated sort values
    ddb = client(moto_url, "dynamodb")
    table = table_with_items(ddb)
    # WHEN each query is run page by page against moto as it came and against the tweaked one
    emulator.restore()
    plain = [every_page(ddb, table, q, limit) for q in QUERIES for limit in (2, 5, 100)]
    emulator.fast_queries()
    fast = [every_page(ddb, table, q, limit) for q in QUERIES for limit in (2, 5, 100)]
    # THEN every page holds the same items in the same order
    assert fast == plain
    assert any(len(pages) > 1 for pages in fast) and any(page for pages in fast for page in pages)
    # AND a scan still sees the whole table in key order
    scanned = ddb.scan(TableName=table)["Items"]
    assert len(scanned) == 12 * 7


def test_data_json_keeps_sent_mail_and_still_answers_after_a_multipart_upload(
    moto_url: str, patched_then_restored: None
) -> None:
    from boto3.s3.transfer import TransferConfig

    # GIVEN the registry kept to the services the local tools read
    emulator.track_only()
    s3, ses = client(moto_url, "s3"), client(moto_url, "ses")
    ses.verify_email_identity(EmailAddress="desk@emulator.test")
    bucket = f"emu-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    # WHEN a mail is sent and a big object is uploaded in parts
    sent = ses.send_raw_email(
        Source="desk@emulator.test",
        Destinations=["someone@emulator.test"],
        RawMessage={"Data": b"Subject: hi\r\nFrom: desk@emulator.test\r\n\r\nhello"},
    )["MessageId"]
    s3.upload_fileobj(
        _Bytes(6 * 1024 * 1024), bucket, "big", Config=TransferConfig(multipart_threshold=5 * 1024 * 1024)
    )
    # THEN data.json answers, with the sent mail and without S3's objects
    with urllib.request.urlopen(f"{moto_url}/moto-api/data.json", timeout=30) as resp:
        data = json.loads(resp.read())
    assert sent in {m["id"] for m in data["ses"]["RawMessage"]}
    assert all(not instances for instances in data.get("s3", {}).values())


class _Bytes:
    """A readable stream of n bytes (no big buffer in the test process)."""

    def __init__(self, n: int) -> None:
        self.left = n

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        self.left -= size
        return b"x" * size


def transactions(ddb: Any, table: str) -> list[list[dict[str, Any]]]:
    """Transactions that fail part way (a condition on a later item) or succeed, over items that exist and not."""
    put = {"Put": {"TableName": table, "Item": {"pk": {"S": "conv-0-0"}, "sk": {"S": "msg#new"}, "n": {"N": "1"}}}}
    update = {
        "Update": {
            "TableName": table,
            "Key": {"pk": {"S": "conv-1-1"}, "sk": {"S": "msg#01"}},
            "UpdateExpression": "SET n = n + :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }
    delete = {"Delete": {"TableName": table, "Key": {"pk": {"S": "conv-2-2"}, "sk": {"S": "msg#02"}}}}
    fresh_partition = {"Put": {"TableName": table, "Item": {"pk": {"S": "brand-new"}, "sk": {"S": "a"}}}}
    failing = {
        "ConditionCheck": {
            "TableName": table,
            "Key": {"pk": {"S": "conv-3-3"}, "sk": {"S": "msg#03"}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }
    return [
        [put, update, delete, fresh_partition, failing],  # everything applied, then cancelled
        [update, put],  # succeeds
        [delete, failing],  # cancelled
    ]


def table_state(ddb: Any, table: str) -> list[dict[str, Any]]:
    return sorted(ddb.scan(TableName=table)["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def test_transactions_leave_the_same_items_with_and_without_the_light_backup(
    moto_url: str, patched_then_restored: None
) -> None:
    from botocore.exceptions import ClientError

    ddb = client(moto_url, "dynamodb")
    outcomes: dict[str, tuple[list[str], list[dict[str, Any]]]] = {}
    for mode in ("moto as shipped", "light backup"):
        # GIVEN a fresh table with items
        (emulator.restore if mode == "moto as shipped" else emulator.light_transactions)()
        table = table_with_items(ddb)
        # WHEN each transaction runs (some cancelled by a condition after earlier items were applied)
        codes = []
        for items in transactions(ddb, table):
            try:
                ddb.transact_write_items(TransactItems=items)
                codes.append("ok")
            except ClientError as exc:
                codes.append(exc.response["Error"]["Code"])
        outcomes[mode] = (codes, table_state(ddb, table))
    # THEN both answer the same and leave the same items
    assert outcomes["moto as shipped"][0] == ["TransactionCanceledException", "ok", "TransactionCanceledException"]
    assert outcomes["light backup"] == outcomes["moto as shipped"]
