"""The hashed form of an erased identity: what keeps an opted-out number suppressed after erasure."""

from __future__ import annotations

import hashlib

ERASED_PREFIX = "erased#"
# A fixed salt, so the same identity always hashes to the same key and a STOP is still found.
_SALT = "replydesk-erased-v1"


def hashed_identity(identity: str) -> str:
    """`erased#<sha256>` of a normalised identity (`phone#+4670…`, `email#a@b.com`)."""
    return ERASED_PREFIX + hashlib.sha256(f"{_SALT}\x1f{identity}".encode()).hexdigest()


def suppression_reason(identity: str) -> str | None:
    """Why no message may go to `identity`, checking its plain and its erased (hashed) key in one read.

    The one function the suppression check calls: erasure keeps suppressions under the hashed key
    only, so an opted-out number stays opted out after its customer is erased.
    """
    from chalicelib.models import SuppressionModel

    hashed = hashed_identity(identity)
    found = {s.address: s.reason for s in SuppressionModel.batch_get([identity, hashed], consistent_read=True)}
    return found.get(identity) or found.get(hashed)


def erased_suppression_reason(identity: str) -> str | None:
    """The reason kept under the identity's hashed key only (an erased customer's suppression), or None."""
    from pynamodb.exceptions import DoesNotExist

    from chalicelib.models import SuppressionModel

    try:
        return SuppressionModel.get(hashed_identity(identity), consistent_read=True).reason
    except DoesNotExist:
        return None


def remove_erased_suppression(identity: str, *, only_reason: str | None = None) -> bool:
    """START after erasure: lift the hashed suppression too."""
    from chalicelib.models import SuppressionModel

    try:
        cond = SuppressionModel.address.exists()
        if only_reason:
            cond &= SuppressionModel.reason == only_reason
        SuppressionModel(address=hashed_identity(identity)).delete(condition=cond)
        return True
    except Exception:  # noqa: BLE001 - a missing item or a reason mismatch both mean "nothing removed"
        return False
