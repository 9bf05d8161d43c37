"""The audit table (DESIGN §3): erasure tombstones, keyed (subject, at#event); no personal data in clear."""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.models import Model


class AuditModel(Model):
    class Meta:
        # Bound to `<stack>-audit` by bind_models_to() / bind_audit(); the placeholder fails loudly if not.
        table_name = "unbound"
        region = "us-east-1"
        host: str | None = None

    subject = UnicodeAttribute(hash_key=True)  # erasure#<customer_id>
    at_event = UnicodeAttribute(range_key=True)  # <iso started>#erasure
    event = UnicodeAttribute()
    actor = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    identity_hashes = UnicodeSetAttribute(default=set)
    status = UnicodeAttribute(default="running")  # running | complete
    started_at = UnicodeAttribute()
    completed_at = UnicodeAttribute(null=True)
    # step name -> items or objects it removed; a step present here is done (the checkpoint).
    steps = JSONAttribute(default=dict)
    planned = UnicodeSetAttribute(default=set)


def bind_audit(table: str, *, endpoint: str | None, region: str) -> None:
    meta = AuditModel.Meta
    if (meta.table_name, meta.host, meta.region) == (table, endpoint, region):
        return
    meta.table_name, meta.host, meta.region = table, endpoint, region
    AuditModel._connection = None  # PynamoDB caches its connection per model
