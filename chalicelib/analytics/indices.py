"""The indices computed from the tables, so the analytics files and the domain agree on each figure."""

from __future__ import annotations

import math
from collections.abc import Iterable

from chalicelib.analytics.export import first_response_seconds
from chalicelib.models import ConversationModel


def percentile(values: Iterable[float], p: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least p % of the values at or below it)."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def first_response_p50(conversations: Iterable[ConversationModel]) -> float | None:
    """Median first-response time in seconds over the conversations that have had one."""
    return percentile([s for c in conversations if (s := first_response_seconds(c)) is not None], 50)
