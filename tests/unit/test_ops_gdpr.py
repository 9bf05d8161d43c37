"""Pure parts of the DLQ, GDPR and analytics tooling: entry shapes, hashing, percentiles, the Glue schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.analytics.indices import percentile
from chalicelib.analytics.schema import TABLES
from chalicelib.gdpr.hashing import hashed_identity
from chalicelib.ops.dlq import REDRIVE_REASON, DlqName, Held, Shape, describe, naming

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def sqs_message(body: str, reason: str | None = None, sent_ms: int = 1_000_000) -> dict[str, Any]:
    attrs = {"reason": {"DataType": "String", "StringValue": reason}} if reason else {}
    return {
        "MessageId": "m-1",
        "ReceiptHandle": "rh",
        "Body": body,
        "MessageAttributes": attrs,
        "Attributes": {"SentTimestamp": str(sent_ms), "ApproximateReceiveCount": "2"},
    }


def test_a_slim_entry_is_read_without_any_body() -> None:
    # GIVEN the slim DLQ shape the intake parks: reason, channel, source id, raw key
    body = json.dumps({"reason": "no sender", "channel": "sms", "source_id": "in-1", "raw_key": "raw/sms/x.json"})
    # WHEN it is described
    entry = describe(DlqName.INTAKE, sqs_message(body), now=1_060)
    # THEN its facts come from the message and its age from SQS's SentTimestamp
    assert (entry.shape, entry.reason, entry.channel, entry.source_id, entry.raw_key) == (
        Shape.SLIM,
        "no sender",
        "sms",
        "in-1",
        "raw/sms/x.json",
    )
    assert entry.age_seconds == 60 and entry.receive_count == 2


def test_a_redriven_sms_notification_shows_ids_never_the_number_or_text() -> None:
    # GIVEN the original SNS body SQS's redrive moved, with no reason attribute
    payload = {"originationNumber": "+14255550123", "messageBody": "my secret", "inboundMessageId": "abc"}
    body = json.dumps(
        {
            "Type": "Notification",
            "TopicArn": "arn:aws:sns:us-east-1:1:replydesk-demo-dev-inbound-sms",
            "Message": json.dumps(payload),
        }
    )
    entry = describe(DlqName.INTAKE, sqs_message(body))
    # THEN it reads as an SMS redriven after max receives, and nothing it shows holds the body or the number
    assert (entry.shape, entry.channel, entry.source_id, entry.reason) == (Shape.SNS, "sms", "abc", REDRIVE_REASON)
    shown = json.dumps(entry.summary())
    assert "+14255550123" not in shown and "secret" not in shown


def test_an_ses_receipt_and_garbage_are_both_listed() -> None:
    # GIVEN an SES receipt notification and a body that is not JSON
    note = {
        "notificationType": "Received",
        "mail": {"messageId": "ses-1", "source": "a@b.test"},
        "receipt": {"action": {"type": "S3", "objectKey": "raw/email/ses-1"}},
    }
    body = json.dumps(
        {"Type": "Notification", "TopicArn": "arn:x:replydesk-demo-dev-inbound-email", "Message": json.dumps(note)}
    )
    email = describe(DlqName.INTAKE, sqs_message(body, reason="raw object is missing"))
    garbage = describe(DlqName.EVENTS, sqs_message("not json"))
    # THEN the mail shows its SES id and raw key, the garbage is listed as unreadable rather than dropped
    assert (email.channel, email.source_id, email.raw_key, email.reason) == (
        "email",
        "ses-1",
        "raw/email/ses-1",
        "raw object is missing",
    )
    assert garbage.shape is Shape.UNREADABLE and garbage.reason == REDRIVE_REASON


def test_erasure_matches_dlq_entries_by_address_case_insensitively() -> None:
    entry = describe(DlqName.INTAKE, sqs_message('{"x": "Ada@Example.test"}'))
    match = naming(["ada@example.test"])
    assert match(Held(entry, '{"x": "Ada@Example.test"}'))
    assert not naming(["bob@example.test"])(Held(entry, '{"x": "Ada@Example.test"}'))


@pytest.fixture
def erasure_key() -> Any:
    """A stack's erasure key, as the operator commands bind it (the function reads its secret instead)."""
    from chalicelib.gdpr.hashing import bind_key_source

    key = b"k" * 64
    bind_key_source(lambda: key)
    yield key
    bind_key_source(None)


def test_hashed_identity_is_stable_and_hides_the_identity(erasure_key: bytes) -> None:
    h = hashed_identity("phone#+14255550123")
    assert h == hashed_identity("phone#+14255550123") and h.startswith("erased#k1#")
    assert "4255550123" not in h and h != hashed_identity("phone#+14255550124")


def test_an_erased_identity_cannot_be_matched_without_the_stacks_key(erasure_key: bytes) -> None:
    import hashlib
    import hmac

    from chalicelib.gdpr.hashing import bind_key_source, keyed_hash, legacy_hashed_identity

    # GIVEN the hash a tombstone holds for an erased phone number
    identity = "phone#+14255550123"
    stored = hashed_identity(identity)
    # WHEN someone tries candidates without the key: the plain hash, the old salted hash, another key
    tries = {
        "erased#" + hashlib.sha256(identity.encode()).hexdigest(),
        legacy_hashed_identity(identity),
        keyed_hash(identity, b"x" * 64),
        "erased#k1#" + hmac.new(b"", identity.encode(), hashlib.sha256).hexdigest(),
    }
    # THEN none matches, while the stack's key recognises it again (the same identity, the same hash)
    assert stored not in tries
    assert stored == "erased#k1#" + hmac.new(erasure_key, identity.encode(), hashlib.sha256).hexdigest()
    # AND another stack (another key) hashes the same identity differently
    bind_key_source(lambda: b"o" * 64)
    assert hashed_identity(identity) != stored


def test_a_stack_without_its_erasure_key_refuses_to_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.errors import ConfigError
    from chalicelib.gdpr.hashing import bind_key_source

    # GIVEN no key source and settings without the secret WHEN an identity is hashed THEN it is refused
    bind_key_source(None)
    monkeypatch.setattr("chalicelib.config.get_settings", lambda: type("S", (), {"erasure_key_secret": None})())
    with pytest.raises(ConfigError, match="ERASURE_KEY_SECRET is not set"):
        hashed_identity("phone#+14255550123")


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([], 50, None),
        ([7.0], 50, 7.0),
        ([4.0, 1.0, 3.0, 2.0], 50, 2.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 50, 3.0),
        ([*range(1, 11)], 90, 9),
    ],
)
def test_percentile_is_nearest_rank(values: list[float], p: float, expected: float | None) -> None:
    assert percentile(values, p) == expected


def test_glue_tables_in_the_template_have_the_exported_columns() -> None:
    # GIVEN the template's Glue tables (what Athena queries)
    class Loader(yaml.SafeLoader):
        pass

    template = yaml.load((ROOT / "infra" / "template.yaml").read_text(), Loader=Loader)  # noqa: S506 - SafeLoader subclass
    for table, columns in TABLES.items():
        res = template["Resources"][f"Analytics{table.capitalize()}Table"]["Properties"]["TableInput"]
        # THEN they list exactly the columns the export writes, with the same types
        got = [(c["Name"], c["Type"]) for c in res["StorageDescriptor"]["Columns"]]
        assert got == list(columns)
