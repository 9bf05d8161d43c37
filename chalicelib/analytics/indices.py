"""The indices computed from the tables, so the analytics files and the domain agree on each figure."""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib.analytics.export import first_response_seconds
from chalicelib.models import ConversationModel
from chalicelib.ops.indices import percentile as _nearest_rank


def percentile(values: Iterable[float], p: float) -> float | None:
    """Nearest-rank percentile: the same function `replydesk stats` and the emitted metrics use."""
    return _nearest_rank(list(values), p)


def first_response_p50(conversations: Iterable[ConversationModel]) -> float | None:
    """Median first-response time in seconds over the conversations that have had one."""
    return percentile([s for c in conversations if (s := first_response_seconds(c)) is not None], 50)
