"""Opaque page cursors: the DynamoDB keys each merged Query stream stopped at, base64url JSON."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from chalicelib.errors import ValidationError

MAX_CURSOR = 4096


def encode(state: Mapping[str, Any]) -> str | None:
    if not state:
        return None
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None) -> dict[str, Any]:
    """The cursor's state; a cursor we did not make is a 400, not a crash."""
    if not cursor:
        return {}
    if len(cursor) > MAX_CURSOR:
        raise ValidationError("'cursor' is too long", field="cursor")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise ValidationError("'cursor' is not one this API returned", field="cursor") from exc
    if not isinstance(data, dict) or not all(isinstance(v, (dict, str)) for v in data.values()):
        raise ValidationError("'cursor' is not one this API returned", field="cursor")
    return data
