"""Every metric name replydesk emits, with its fixed dimension sets; the dashboard is built from these.

Every data point carries the campaign and the stage as dimensions (namespace `replydesk` for all
stacks): one namespace lets an operator of ten campaigns compare them side by side, while each
widget and alarm still names its campaign and stage exactly. A metric's extra dimensions are
declared once in DIMENSIONS, so the sets stay few and fixed whatever a caller passes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from enum import StrEnum

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.base import SingleMetric

from chalicelib.config import ENV_CAMPAIGN, ENV_STAGE
from chalicelib.observability import NAMESPACE, logger

BASE: tuple[str, ...] = ("campaign", "stage")
UNKNOWN = "unknown"


class Metric(StrEnum):
    MESSAGES_RECEIVED = "MessagesReceived"
    MESSAGES_REJECTED = "MessagesRejected"
    DUPLICATES_IGNORED = "DuplicatesIgnored"
    CONVERSATIONS_CREATED = "ConversationsCreated"
    CONVERSATIONS_CLASSIFIED = "ConversationsClassified"
    ACK_SENT = "AckSent"
    ACK_SUPPRESSED = "AckSuppressed"
    ACK_LATENCY = "AckLatency"
    PROCESSING_FAILED = "ProcessingFailed"
    SUPPRESSIONS_ADDED = "SuppressionsAdded"
    SLA_BREACHED = "SlaBreached"
    # 1 for a missed target, 0 for a met one: Average is the miss rate, SampleCount the outcomes.
    SLA_MISSED = "SlaMissed"
    FIRST_RESPONSE_TIME = "FirstResponseTime"
    FIRST_RESPONSE_BUSINESS_TIME = "FirstResponseBusinessTime"
    RESOLUTION_TIME = "ResolutionTime"
    BACKLOG_OPEN = "BacklogOpen"
    BACKLOG_OLDEST_AGE = "BacklogOldestAge"
    BACKLOG_OVERDUE = "BacklogOverdue"
    FOLLOW_UP_SENT = "FollowUpSent"
    REPLY_SENT = "ReplySent"
    AUTO_RESOLVED = "AutoResolved"
    RETENTION_OUTCOME = "RetentionOutcome"
    CSAT = "Csat"
    OUTCOME_UNKNOWN = "OutcomeUnknown"
    EFFECT_FAILED = "EffectFailed"
    MESSAGES_PARKED = "MessagesParked"


# Extra dimension sets per metric, each added to BASE; a metric not listed has BASE alone.
# More than one set writes the same data point under each (EMF's dimension sets), e.g. per queue
# and the campaign total, because CloudWatch cannot add series up for a percentile or an alarm.
DIMENSIONS: Mapping[Metric, tuple[tuple[str, ...], ...]] = {
    Metric.MESSAGES_RECEIVED: (("channel",),),
    Metric.MESSAGES_REJECTED: (("channel", "reason"),),
    Metric.DUPLICATES_IGNORED: (("channel",),),
    Metric.CONVERSATIONS_CREATED: (("channel",),),
    Metric.CONVERSATIONS_CLASSIFIED: (("topic",), ("language",)),
    Metric.ACK_SENT: (("channel",),),
    Metric.ACK_SUPPRESSED: (("reason",), ("channel",)),
    Metric.PROCESSING_FAILED: (("channel",),),
    Metric.SUPPRESSIONS_ADDED: (("reason",),),
    Metric.SLA_BREACHED: (("queue", "kind"), ("kind", "level")),
    Metric.SLA_MISSED: (("queue", "kind"), ("kind",)),
    Metric.FIRST_RESPONSE_TIME: ((), ("queue",)),
    Metric.FIRST_RESPONSE_BUSINESS_TIME: ((), ("queue",)),
    Metric.RESOLUTION_TIME: ((), ("queue",)),
    Metric.BACKLOG_OPEN: (("queue",),),
    Metric.BACKLOG_OLDEST_AGE: (("queue",),),
    Metric.FOLLOW_UP_SENT: (("channel",),),
    Metric.REPLY_SENT: (("channel",),),
    Metric.RETENTION_OUTCOME: (("offer", "outcome"), ("outcome",)),
    Metric.OUTCOME_UNKNOWN: (("kind",),),
    Metric.EFFECT_FAILED: (("kind", "reason"),),
    Metric.MESSAGES_PARKED: (("reason",),),
}


def dimension_sets(name: Metric) -> tuple[tuple[str, ...], ...]:
    """The full dimension sets (BASE first) a metric is emitted under; widgets must use one of these."""
    return tuple(BASE + extra for extra in DIMENSIONS.get(name, ((),)))


def blob(name: Metric, unit: MetricUnit, value: float, dimensions: Mapping[str, str]) -> dict[str, object]:
    """One EMF blob for one data point, under every declared dimension set of the metric."""
    sets = dimension_sets(name)
    declared = {d for s in sets for d in s}
    stray = sorted(set(dimensions) - declared)
    if stray:
        # A caller's programming error must not crash the message it is counting: drop, and say so.
        logger.warning("undeclared metric dimensions dropped", extra={"metric": name.value, "dimensions": stray})
    values = {
        "campaign": os.environ.get(ENV_CAMPAIGN) or UNKNOWN,
        "stage": os.environ.get(ENV_STAGE) or UNKNOWN,
        **{d: str(dimensions.get(d) or UNKNOWN) for d in declared - set(BASE)},
    }
    # Powertools validates the unit, value and schema; it writes one dimension set, so the sets are ours.
    metric = SingleMetric(namespace=NAMESPACE)
    metric.add_metric(name=name.value, unit=unit, value=value)
    for key, val in values.items():
        metric.add_dimension(name=key, value=val)
    out: dict[str, object] = metric.serialize_metric_set()
    aws = out["_aws"]
    assert isinstance(aws, dict)
    aws["CloudWatchMetrics"][0]["Dimensions"] = [list(s) for s in sets]
    out.pop("service", None)  # Powertools adds the service name; it is in no dimension set of ours
    return out


def _emit(name: Metric, unit: MetricUnit, value: float, dimensions: Mapping[str, str]) -> None:
    # EMF is a stdout line: Lambda's log pipeline turns it into CloudWatch metrics.
    print(json.dumps(blob(name, unit, value, dimensions), separators=(",", ":")), flush=True)


def count(name: Metric, value: float = 1, **dimensions: str) -> None:
    """Add a count; dimensions are low-cardinality only (channel, reason, queue), never ids."""
    _emit(name, MetricUnit.Count, value, dimensions)


def milliseconds(name: Metric, value: float, **dimensions: str) -> None:
    _emit(name, MetricUnit.Milliseconds, value, dimensions)


def seconds(name: Metric, value: float, **dimensions: str) -> None:
    _emit(name, MetricUnit.Seconds, value, dimensions)


def value(name: Metric, value: float, **dimensions: str) -> None:
    """A unitless value, e.g. a CSAT score (Average is the score)."""
    _emit(name, MetricUnit.NoUnit, value, dimensions)
