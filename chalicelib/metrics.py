"""Every metric name replydesk emits; the dashboard refers to these names."""

from __future__ import annotations

from enum import StrEnum

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from chalicelib.observability import NAMESPACE, SERVICE, metrics


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
    AUTO_RESOLVED = "AutoResolved"
    RETENTION_OUTCOME = "RetentionOutcome"
    CSAT = "Csat"
    OUTCOME_UNKNOWN = "OutcomeUnknown"
    EFFECT_FAILED = "EffectFailed"
    MESSAGES_PARKED = "MessagesParked"


def count(name: Metric, value: float = 1, **dimensions: str) -> None:
    """Add a count; dimensions are low-cardinality only (channel, reason, queue), never ids."""
    if not dimensions:
        metrics.add_metric(name=name.value, unit=MetricUnit.Count, value=value)
        return
    # Dimensions in Powertools apply to a whole flush; a batch mixes channels and reasons, so each
    # dimensioned count is its own EMF blob.
    with single_metric(
        name=name.value,
        unit=MetricUnit.Count,
        value=value,
        namespace=NAMESPACE,
        default_dimensions={"service": SERVICE, **dimensions},
    ) as metric:
        del metric


def milliseconds(name: Metric, value: float) -> None:
    metrics.add_metric(name=name.value, unit=MetricUnit.Milliseconds, value=value)
