"""Every metric name replydesk emits; the dashboard refers to these names."""

from __future__ import annotations

from enum import StrEnum

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.observability import metrics


class Metric(StrEnum):
    MESSAGES_RECEIVED = "MessagesReceived"
    MESSAGES_REJECTED = "MessagesRejected"
    DUPLICATES_IGNORED = "DuplicatesIgnored"
    CONVERSATIONS_CREATED = "ConversationsCreated"
    ACK_SENT = "AckSent"
    ACK_SUPPRESSED = "AckSuppressed"
    ACK_LATENCY = "AckLatency"
    PROCESSING_FAILED = "ProcessingFailed"
    SUPPRESSIONS_ADDED = "SuppressionsAdded"
    SLA_BREACHED = "SlaBreached"
    FOLLOW_UP_SENT = "FollowUpSent"
    REPLY_SENT = "ReplySent"


def count(name: Metric, value: float = 1, **dimensions: str) -> None:
    """Add a count; dimensions are low-cardinality only (channel, reason, queue), never ids."""
    if dimensions:
        metrics.add_dimensions(**dimensions)  # type: ignore[no-untyped-call]
    metrics.add_metric(name=name.value, unit=MetricUnit.Count, value=value)


def milliseconds(name: Metric, value: float) -> None:
    metrics.add_metric(name=name.value, unit=MetricUnit.Milliseconds, value=value)
