"""The hashed form of an erased identity: what keeps an opted-out number suppressed after erasure.

The hash is keyed (HMAC-SHA256) with a secret the stack owns (a Secrets Manager secret created by the
template, `ERASURE_KEY_SECRET`): without the key a tombstone or an erased suppression cannot be matched
to a phone number or address by trying candidates, and with it the stack still recognises an erased
identity. Hashes written before the key existed (unkeyed SHA-256) are still read, never written.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import threading
from collections.abc import Callable
from typing import Any

from pynamodb.exceptions import DeleteError

from chalicelib.errors import ConfigError, TransientError, error_code

ERASED_PREFIX = "erased#"
KEYED_PREFIX = ERASED_PREFIX + "k1#"  # k1: HMAC-SHA256 with the stack's erasure key
_LEGACY_SALT = "replydesk-erased-v1"  # the unkeyed hashes of earlier erasures
_MIN_KEY_BYTES = 32

_source: Callable[[], bytes] | None = None
_lock = threading.Lock()


def read_key(secretsmanager: Any, secret_id: str) -> bytes:
    """The erasure key from its Secrets Manager secret (the template generates it)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        value = secretsmanager.get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("ResourceNotFoundException", "AccessDeniedException"):
            raise ConfigError("erasure key", [f"secret {secret_id} cannot be read ({code})"]) from exc
        raise TransientError(f"reading the erasure key failed ({code})") from exc
    except BotoCoreError as exc:
        raise TransientError("reading the erasure key failed") from exc
    key = str(value.get("SecretString") or "").encode()
    if len(key) < _MIN_KEY_BYTES:
        raise ConfigError("erasure key", [f"secret {secret_id} holds fewer than {_MIN_KEY_BYTES} bytes"])
    return key


def _from_settings() -> bytes:
    from chalicelib import aws
    from chalicelib.config import ENV_ERASURE_KEY_SECRET, get_settings

    secret = get_settings().erasure_key_secret
    if not secret:
        raise ConfigError("settings", [f"{ENV_ERASURE_KEY_SECRET} is not set (the stack's erasure key secret)"])
    return read_key(aws.secretsmanager(), secret)


def bind_key_source(source: Callable[[], bytes] | None) -> None:
    """Where the key comes from: operator commands name their stack's secret; None: the function's settings."""
    global _source
    with _lock:
        _source = source
    erasure_key.cache_clear()


@functools.cache
def erasure_key() -> bytes:
    """Read once per container (one Secrets Manager call at the first erasure or suppression check)."""
    return (_source or _from_settings)()


def keyed_hash(identity: str, key: bytes) -> str:
    return KEYED_PREFIX + hmac.new(key, identity.encode(), hashlib.sha256).hexdigest()


def legacy_hashed_identity(identity: str) -> str:
    """The unkeyed hash erasures wrote before the key existed (read only)."""
    return ERASED_PREFIX + hashlib.sha256(f"{_LEGACY_SALT}\x1f{identity}".encode()).hexdigest()


def hashed_identity(identity: str) -> str:
    """`erased#k1#<hmac-sha256>` of a normalised identity (`phone#+4670…`, `email#a@b.com`)."""
    return keyed_hash(identity, erasure_key())


def identity_hashes(identity: str) -> tuple[str, str]:
    """The keyed hash (written now) and the legacy one (still honoured where earlier erasures wrote it)."""
    return hashed_identity(identity), legacy_hashed_identity(identity)


def suppression_reason(identity: str) -> str | None:
    """Why no message may go to `identity`, checking its plain and its erased (hashed) keys in one read.

    The one function the suppression check calls: erasure keeps suppressions under the hashed key
    only, so an opted-out number stays opted out after its customer is erased.
    """
    from chalicelib.models import SuppressionModel

    keys = [identity, *identity_hashes(identity)]
    found = {s.address: s.reason for s in SuppressionModel.batch_get(keys, consistent_read=True)}
    return next((found[k] for k in keys if k in found), None)


def erased_suppression_reason(identity: str) -> str | None:
    """The reason kept under the identity's hashed key only (an erased customer's suppression), or None."""
    from chalicelib.models import SuppressionModel

    keys = identity_hashes(identity)
    found = {s.address: s.reason for s in SuppressionModel.batch_get(keys, consistent_read=True)}
    return next((found[k] for k in keys if k in found), None)


def remove_erased_suppression(identity: str, *, only_reason: str | None = None) -> bool:
    """START after erasure: lift the hashed suppression too (under either hash)."""
    removed = [_delete_if(key, only_reason) for key in identity_hashes(identity)]
    return any(removed)


def _delete_if(address: str, only_reason: str | None) -> bool:
    from chalicelib.models import SuppressionModel

    try:
        cond = SuppressionModel.address.exists()
        if only_reason:
            cond &= SuppressionModel.reason == only_reason
        SuppressionModel(address=address).delete(condition=cond)
        return True
    except DeleteError as exc:
        # Absent or another reason: nothing removed. Any other failure raises (the START is retried).
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise TransientError(f"lifting a suppression failed: {type(exc).__name__}") from exc
