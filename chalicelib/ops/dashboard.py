"""The campaign's control-centre dashboard, defined once: the template's CloudWatch body and the local page.

Rows of the CloudWatch 24-column grid, each a short text widget saying what the row shows, then
its metric widgets. Every line of ours names exactly one dimension set that chalicelib.metrics
emits (a test holds the two together), and AWS/* service metrics are marked: moto cannot produce
them, so the local page and the has-data test list them as AWS-only instead of pretending.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.config import Campaign
from chalicelib.guard import SuppressReason
from chalicelib.metrics import Metric, dimension_sets
from chalicelib.observability import NAMESPACE

GRID = 24
# Percentile statistics are computed by CloudWatch; moto's get_metric_data answers Sum, Average,
# Minimum, Maximum and SampleCount only.
BASIC_STATS = frozenset({"Sum", "Average", "Minimum", "Maximum", "SampleCount"})

# Guard reasons plus the pipeline's own (SMS keywords, an over-long template), as the AckSuppressed widget lists them.
ACK_REASONS = (
    *(r.value for r in SuppressReason),
    "keyword_stop",
    "keyword_start",
    "keyword_help",
    "template_too_long",
)
CHANNELS = ("email", "sms", "web")
# The outbox's effect kinds (chalicelib/outbox.py), whose sends can end "outcome unknown".
EFFECT_KINDS = ("ack", "reply", "follow_up", "keyword", "escalation", "sla_clock")
# The contact form's fields a rejection names (chalicelib/intake/web.py), "website" being the honeypot.
WEB_FIELDS = ("body", "content-type", "name", "email", "phone", "message", "topic", "consent", "website")
RETENTION_OUTCOMES = ("kept", "exchanged", "refunded", "no_answer")


@dataclass(frozen=True, slots=True)
class Line:
    """One series: a metric under one exact dimension set, with one statistic."""

    metric: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str
    label: str
    namespace: str = NAMESPACE

    @property
    def aws_only(self) -> str | None:
        """Why the local stack cannot have data for this line, or None when it can."""
        if self.namespace.startswith("AWS/"):
            return f"{self.namespace} is published by the AWS service itself; moto has no such producer"
        if self.stat not in BASIC_STATS:
            return f"statistic {self.stat} is computed by CloudWatch; moto answers {', '.join(sorted(BASIC_STATS))}"
        return None


@dataclass(frozen=True, slots=True)
class Widget:
    title: str
    lines: tuple[Line, ...]
    width: int = 8
    height: int = 6
    period: int = 300
    stacked: bool = False


@dataclass(frozen=True, slots=True)
class Row:
    title: str
    explanation: str
    widgets: tuple[Widget, ...] = field(default_factory=tuple)


class _Lines:
    """Builds our lines with the campaign and stage filled in, and checks each against the emitted sets."""

    def __init__(self, campaign: str, stage: str) -> None:
        self.base = (("campaign", campaign), ("stage", stage))

    def __call__(self, metric: Metric, stat: str, label: str, **dims: str) -> Line:
        dimensions = self.base + tuple(dims.items())
        keys = tuple(k for k, _ in dimensions)
        if not any(sorted(keys) == sorted(s) for s in dimension_sets(metric)):
            raise ValueError(f"{metric.value} is not emitted with dimensions {keys}; see chalicelib.metrics")
        return Line(metric.value, dimensions, stat, label)


def rows(campaign: Campaign, stage: str, refs: Mapping[str, str]) -> tuple[Row, ...]:
    """The dashboard; `refs` names the stack's AWS resources (template placeholders or local names)."""
    m = _Lines(campaign.name, stage)
    queues = tuple(campaign.queues)
    topics = (*campaign.topic_ids(), "unknown")

    def aws(namespace: str, metric: str, stat: str, label: str, **dims: str) -> Line:
        return Line(metric, tuple(dims.items()), stat, label, namespace=namespace)

    functions = ("ProcessIntake", "ProcessEvents", "APIHandler", "EmitBacklog")
    return (
        Row(
            "Contacts",
            "What customers send: messages received per channel, and new conversations by the topic and "
            "language the classifier gave them. A sudden drop on one channel usually means its intake is broken.",
            (
                Widget(
                    "Messages received by channel",
                    tuple(m(Metric.MESSAGES_RECEIVED, "Sum", c, channel=c) for c in CHANNELS),
                ),
                Widget(
                    "New conversations by topic",
                    tuple(m(Metric.CONVERSATIONS_CLASSIFIED, "Sum", t, topic=t) for t in topics),
                    stacked=True,
                ),
                Widget(
                    "New conversations by language",
                    tuple(
                        m(Metric.CONVERSATIONS_CLASSIFIED, "Sum", lang, language=lang) for lang in campaign.languages
                    ),
                    stacked=True,
                ),
            ),
        ),
        Row(
            "Acknowledgement",
            "Stage 2: every real message gets one ack within seconds. Acks sent per channel, acks withheld by "
            "reason (auto-replies, lists, opt-outs, rate limit...), and the ack latency from receipt to send.",
            (
                Widget("Acks sent by channel", tuple(m(Metric.ACK_SENT, "Sum", c, channel=c) for c in CHANNELS)),
                Widget(
                    "Acks suppressed by reason",
                    tuple(m(Metric.ACK_SUPPRESSED, "Sum", r, reason=r) for r in ACK_REASONS),
                    stacked=True,
                ),
                Widget(
                    "Ack latency (ms)",
                    (
                        m(Metric.ACK_LATENCY, "p50", "p50"),
                        m(Metric.ACK_LATENCY, "p95", "p95"),
                        m(Metric.ACK_LATENCY, "Average", "average"),
                        m(Metric.ACK_LATENCY, "Maximum", "max"),
                    ),
                ),
            ),
        ),
        Row(
            "Response times",
            "The key metric: first staff response, on the calendar and in business hours (p50/p90 and average), "
            "time to resolution, and the share of SLA targets missed per queue (0 = every target met).",
            (
                Widget(
                    "First response time (s)",
                    (
                        m(Metric.FIRST_RESPONSE_TIME, "p50", "calendar p50"),
                        m(Metric.FIRST_RESPONSE_TIME, "p90", "calendar p90"),
                        m(Metric.FIRST_RESPONSE_TIME, "Average", "calendar average"),
                        m(Metric.FIRST_RESPONSE_BUSINESS_TIME, "p50", "business p50"),
                        m(Metric.FIRST_RESPONSE_BUSINESS_TIME, "p90", "business p90"),
                        m(Metric.FIRST_RESPONSE_BUSINESS_TIME, "Average", "business average"),
                    ),
                ),
                Widget(
                    "Time to resolution (s)",
                    (
                        m(Metric.RESOLUTION_TIME, "p50", "p50"),
                        m(Metric.RESOLUTION_TIME, "p90", "p90"),
                        m(Metric.RESOLUTION_TIME, "Average", "average"),
                    ),
                ),
                Widget(
                    "SLA missed share, first response, per queue",
                    (
                        *tuple(m(Metric.SLA_MISSED, "Average", q, queue=q, kind="first_response") for q in queues),
                        m(Metric.SLA_MISSED, "Average", "resolution (all queues)", kind="resolution"),
                    ),
                ),
            ),
        ),
        Row(
            "SLA breaches and backlog",
            "Breaches by kind and escalation level as the SLA machine reports them; the backlog gauge (every "
            "minute) counts conversations waiting for staff per queue and how long the oldest has waited.",
            (
                Widget(
                    "SLA breaches by level",
                    tuple(
                        m(Metric.SLA_BREACHED, "Sum", f"{kind} L{level}", kind=kind, level=str(level))
                        for kind in ("first_response", "resolution")
                        for level in (1, 2, 3)
                    ),
                    stacked=True,
                ),
                Widget(
                    "Open conversations per queue",
                    (
                        *tuple(m(Metric.BACKLOG_OPEN, "Maximum", q, queue=q) for q in queues),
                        m(Metric.BACKLOG_OVERDUE, "Maximum", "overdue (all queues)"),
                    ),
                    period=60,
                ),
                Widget(
                    "Oldest waiting per queue (s)",
                    tuple(m(Metric.BACKLOG_OLDEST_AGE, "Maximum", q, queue=q) for q in queues),
                    period=60,
                ),
            ),
        ),
        Row(
            "Staff work and outcomes",
            "Stage 4-5: staff replies and follow-ups sent per channel, conversations the follow-up resolved, "
            "retention offers by outcome and CSAT (the average 0-100 score of one-click ratings).",
            (
                Widget(
                    "Replies and follow-ups",
                    tuple(m(Metric.REPLY_SENT, "Sum", f"reply {c}", channel=c) for c in CHANNELS)
                    + tuple(m(Metric.FOLLOW_UP_SENT, "Sum", f"follow-up {c}", channel=c) for c in CHANNELS)
                    + (m(Metric.AUTO_RESOLVED, "Sum", "auto-resolved"),),
                ),
                Widget(
                    "Retention outcomes",
                    tuple(m(Metric.RETENTION_OUTCOME, "Sum", o, outcome=o) for o in RETENTION_OUTCOMES),
                    stacked=True,
                ),
                Widget(
                    "CSAT",
                    (m(Metric.CSAT, "Average", "average score (0-100)"), m(Metric.CSAT, "SampleCount", "answers")),
                ),
            ),
        ),
        Row(
            "Errors and AWS health",
            "Faults: messages our code could not process or rejected, Lambda errors and throttles, messages "
            "waiting in the dead-letter queues (replay them with `replydesk dlq`), failed workflows, API 5xx.",
            (
                Widget(
                    "Processing failures and rejections",
                    (
                        *tuple(m(Metric.PROCESSING_FAILED, "Sum", f"failed {c}", channel=c) for c in CHANNELS),
                        *tuple(
                            m(Metric.MESSAGES_REJECTED, "Sum", f"web rejected: {f}", channel="web", reason=f)
                            for f in WEB_FIELDS
                        ),
                        m(Metric.MESSAGES_REJECTED, "Sum", "invalid input", channel="unknown", reason="invalid_input"),
                        *tuple(m(Metric.OUTCOME_UNKNOWN, "Sum", f"outcome unknown: {k}", kind=k) for k in EFFECT_KINDS),
                    ),
                ),
                Widget(
                    "Lambda errors, throttles, duration",
                    (
                        *tuple(
                            aws("AWS/Lambda", metric, "Sum", f"{fn} {metric.lower()}", FunctionName=refs[fn])
                            for fn in functions
                            for metric in ("Errors", "Throttles")
                        ),
                        aws(
                            "AWS/Lambda",
                            "Duration",
                            "p95",
                            "ProcessIntake duration p95",
                            FunctionName=refs["ProcessIntake"],
                        ),
                    ),
                    width=6,
                ),
                Widget(
                    "Queues: DLQ depth, intake backlog",
                    (
                        *tuple(
                            aws("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", name, QueueName=refs[name])
                            for name in ("IntakeDeadLetterQueue", "EventsDeadLetterQueue", "IntakeQueue")
                        ),
                        aws(
                            "AWS/SQS",
                            "ApproximateAgeOfOldestMessage",
                            "Maximum",
                            "intake oldest (s)",
                            QueueName=refs["IntakeQueue"],
                        ),
                    ),
                    width=5,
                    period=60,
                ),
                Widget(
                    "Workflows and API",
                    (
                        *tuple(
                            aws("AWS/States", metric, "Sum", f"{sm} {metric}", StateMachineArn=refs[sm])
                            for sm in ("SlaStateMachine", "FollowUpStateMachine")
                            for metric in ("ExecutionsFailed", "ExecutionsTimedOut")
                        ),
                        aws("AWS/ApiGateway", "5XXError", "Sum", "API 5xx", ApiName=refs["RestAPI"]),
                    ),
                    width=5,
                ),
            ),
        ),
    )


# What the template's Fn::Sub fills in; locally the bootstrap resolves the same placeholders.
TEMPLATE_REFS = {
    "ProcessIntake": "${ProcessIntake}",
    "ProcessEvents": "${ProcessEvents}",
    "APIHandler": "${APIHandler}",
    "EmitBacklog": "${EmitBacklog}",
    "IntakeQueue": "${IntakeQueue.QueueName}",
    "IntakeDeadLetterQueue": "${IntakeDeadLetterQueue.QueueName}",
    "EventsDeadLetterQueue": "${EventsDeadLetterQueue.QueueName}",
    "SlaStateMachine": "${SlaStateMachine}",
    "FollowUpStateMachine": "${FollowUpStateMachine}",
    # The REST API's Name in infra/template.yaml.
    "RestAPI": "replydesk-${Campaign}-${Stage}",
}


def body(
    campaign: Campaign, stage: str, *, region: str = "${AWS::Region}", refs: Mapping[str, str] = TEMPLATE_REFS
) -> dict[str, Any]:
    """The CloudWatch dashboard body: rows laid out on the 24-column grid."""
    widgets: list[dict[str, Any]] = []
    y = 0
    for row in rows(campaign, stage, refs):
        widgets.append(
            {
                "type": "text",
                "x": 0,
                "y": y,
                "width": GRID,
                "height": 2,
                "properties": {"markdown": f"## {row.title}\n{row.explanation}"},
            }
        )
        y += 2
        x = 0
        for w in row.widgets:
            widgets.append(
                {
                    "type": "metric",
                    "x": x,
                    "y": y,
                    "width": w.width,
                    "height": w.height,
                    "properties": {
                        "title": w.title,
                        "region": region,
                        "view": "timeSeries",
                        "stacked": w.stacked,
                        "period": w.period,
                        "metrics": [
                            [
                                line.namespace,
                                line.metric,
                                *[v for kv in line.dimensions for v in kv],
                                {"stat": line.stat, "label": line.label},
                            ]
                            for line in w.lines
                        ],
                    },
                }
            )
            x += w.width
        if x > GRID:
            raise ValueError(f"row {row.title!r} is {x} columns wide; the grid has {GRID}")
        y += max(w.height for w in row.widgets)
    return {"widgets": widgets}


def body_text(campaign: Campaign, stage: str) -> str:
    """The body as the template's Fn::Sub string (placeholders for the stack's resource names)."""
    # Compact: the body counts toward the template size CloudFormation accepts.
    return json.dumps(body(campaign, stage), separators=(",", ":"))


def parse_line(entry: list[Any]) -> Line:
    """A CloudWatch `metrics` array entry back into a Line (the local page reads the stored dashboard)."""
    *parts, options = entry if isinstance(entry[-1], dict) else (*entry, {})
    namespace, metric, *flat = parts
    dims = tuple((str(flat[i]), str(flat[i + 1])) for i in range(0, len(flat), 2))
    return Line(str(metric), dims, str(options.get("stat", "Sum")), str(options.get("label", metric)), str(namespace))
