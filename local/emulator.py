"""The local stack's moto, kept fast over a long session: a bounded debugging registry, indexed queries.

moto records every instance of every model it ever created (`BaseModel.instances_tracked`) so that
`/moto-api/data.json` can show them: every DynamoDB item version, every S3 object, every Step Functions
history event, never released. Over a long session that registry grows without bound, and data.json
(which serialises all of it, attribute by attribute) gets slow enough to time out. The tools read only
sent mail (ses), sent SMS (sns) and queued messages (sqs, for the escalation inbox) from it, so only
those are kept. What the emulated APIs do is unchanged: this touches the registry, not the backends.

moto's DynamoDB Query sorts the whole table (`Table.all_items`) for every call, even when the key names
one partition, so every query gets slower with every item any test ever wrote. `fast_queries` hands a
query only the partition it names (or, for an index, the items unsorted: the query sorts what it keeps).
Results, order and pagination are the same (tests/functional/test_emulator.py compares them).

moto's TransactWriteItems deep-copies every table a transaction touches (once per item) so it can
roll back, which costs as much as the tables hold: late in a session one transaction took longer than
a whole contact early on. `light_transactions` keeps a copy of the items the transaction names
instead and puts those back when it fails; what is stored after a transaction, failed or not, is the
same (the functional test compares both).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable
from typing import Any

from moto.core import common_models
from moto.core.model_instances import model_data
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

# What local/outbox.py and the phone simulator read from data.json.
READ_FROM_DATA_JSON = frozenset({"ses", "sns", "sqs"})

_original_new = common_models.BaseModel.__new__


def track_only(services: Iterable[str] = READ_FROM_DATA_JSON) -> None:
    """From now on, record model instances only for `services`; drop what others recorded so far.

    Idempotent; applies to the moto server running in this process (the local stack's).
    """
    keep = frozenset(services)

    def __new__(cls: type[Any], *args: Any, **kwargs: Any) -> Any:
        # What BaseModel.__new__ does, minus the append for services nobody reads back.
        instance = super(common_models.BaseModel, cls).__new__(cls)
        if _service_of(cls) in keep:
            cls.instances_tracked.append(instance)
        return instance

    common_models.BaseModel.__new__ = staticmethod(__new__)  # type: ignore[method-assign]
    for service, models in model_data.items():
        if service not in keep:
            for model in models.values():
                model.instances_tracked = []  # type: ignore[attr-defined]


def restore() -> None:
    """moto as it came: every instance recorded, every query over the whole table."""
    common_models.BaseModel.__new__ = staticmethod(_original_new)  # type: ignore[method-assign]
    Table.query = _original_query  # type: ignore[method-assign]
    Table.all_items = _original_all_items  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = _original_transact  # type: ignore[method-assign]
    dynamodb_models.copy = copy  # type: ignore[attr-defined]


def _service_of(cls: type[Any]) -> str:
    # The registry's own naming (moto.core.base_backend.InstanceTrackerMeta): moto.<service>.models…
    parts = cls.__module__.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


_original_query = Table.query
_original_all_items = Table.all_items
_scope = threading.local()  # the moto server answers each request on its own thread


def fast_queries() -> None:
    """Queries read only what they can match (idempotent; undone by `restore`)."""
    Table.query = _query  # type: ignore[method-assign]
    Table.all_items = _all_items  # type: ignore[method-assign]


def _query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    # Table.query(hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward,
    #             projection_expressions, index_name, ...)
    index_name = kwargs["index_name"] if "index_name" in kwargs else (args[6] if len(args) > 6 else None)
    _scope.query = (self, None if index_name else hash_key)
    try:
        return _original_query(self, hash_key, *args, **kwargs)
    finally:
        _scope.query = None


def _all_items(self: Table) -> list[Any]:
    scope = getattr(_scope, "query", None)
    if scope is None or scope[0] is not self:
        return _original_all_items(self)  # a scan, an export: the whole table, in key order
    hash_key = scope[1]
    if hash_key is None:
        return [item for bucket in self.items.values() for item in _bucket_items(self, bucket)]
    bucket = self.items.get(hash_key)
    return [] if bucket is None else _bucket_items(self, bucket)


def _bucket_items(table: Table, bucket: Any) -> list[Any]:
    # With a range key a partition is a dict of items by range key; without one it is the item itself.
    return list(bucket.values()) if table.range_key_attr else [bucket]


_original_transact = DynamoDBBackend.transact_write_items


class _TablesNotCopied:
    """The `copy` module as moto's DynamoDB backend sees it, except that a whole Table is not copied
    (its transaction's backup); items and everything else still are."""

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def light_transactions() -> None:
    """Transactions back up the items they name, not whole tables (idempotent; undone by `restore`)."""
    dynamodb_models.copy = _TablesNotCopied()  # type: ignore[assignment,attr-defined]
    DynamoDBBackend.transact_write_items = _transact  # type: ignore[method-assign]


def _transact(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    saved = [s for s in (_saved_item(self, entry) for entry in transact_items) if s is not None]
    try:
        _original_transact(self, transact_items)
    except Exception:
        # moto's own rollback now puts back the same Table objects: undo the applied items ourselves,
        # newest first, so an item named twice ends as it was before the first.
        for table, hash_key, range_key, item in reversed(saved):
            _put_back(table, hash_key, range_key, item)
        raise


def _saved_item(backend: DynamoDBBackend, entry: dict[str, Any]) -> tuple[Table, Any, Any, Any] | None:
    try:
        op_type, op = next(iter(entry.items()))
        table = backend.tables[op["TableName"]]
        attrs = op["Item"] if op_type == "Put" else op["Key"]
        hash_key = DynamoType(attrs[table.hash_key_attr])
        range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
        current = table.get_item(hash_key, range_key)
    except Exception:  # noqa: BLE001 - a malformed operation: moto refuses it before writing anything
        return None
    return table, hash_key, range_key, copy.deepcopy(current)


def _put_back(table: Table, hash_key: Any, range_key: Any, item: Any) -> None:
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        return
    partition = table.items.get(hash_key)
    if item is None:
        if partition is not None:
            partition.pop(range_key, None)
            if not partition:
                table.items.pop(hash_key, None)
    elif partition is None:
        table.items[hash_key] = {range_key: item}
    else:
        partition[range_key] = item


def receipt_rule_deletion() -> None:
    """Teach moto's SES DeleteReceiptRule, which it lacks: campaigns share one rule set, so retiring one
    deletes its rule, not the set (local/teardown.py). Deleting a rule that is not there succeeds, as on SES."""
    from moto.core.responses import EmptyResult
    from moto.ses.exceptions import RuleSetDoesNotExist
    from moto.ses.responses import EmailResponse

    def delete_receipt_rule(self: Any) -> Any:
        rule_set_name = self._get_param("RuleSetName")
        rule_name = self._get_param("RuleName")
        rule_set = self.backend.receipt_rule_set.get(rule_set_name)
        if rule_set is None:
            raise RuleSetDoesNotExist(f"Rule set does not exist: {rule_set_name}")
        rule_set.rules = [r for r in rule_set.rules if r["Name"] != rule_name]
        return EmptyResult()

    EmailResponse.delete_receipt_rule = delete_receipt_rule  # type: ignore[attr-defined]
