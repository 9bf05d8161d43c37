"""The campaign's alarms as template resources, generated with the dashboard's names and dimension sets.

All go to the operators topic and treat missing data as not breaching: a quiet campaign is healthy.
"""

from __future__ import annotations

from typing import Any

from chalicelib.config import Campaign
from chalicelib.metrics import BASE, Metric, dimension_sets
from chalicelib.observability import NAMESPACE

FUNCTIONS = ("ProcessIntake", "ProcessEvents", "APIHandler", "EmitBacklog")


def _alarm(
    name: str,
    description: str,
    namespace: str,
    metric: str,
    dimensions: list[dict[str, Any]],
    *,
    stat: str = "Sum",
    period: int = 300,
    threshold: Any = 0,
    evaluation_periods: int = 1,
    datapoints: int | None = None,
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "AlarmName": {"Fn::Sub": f"replydesk-${{Campaign}}-${{Stage}}-{name}"},
        "AlarmDescription": description,
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": dimensions,
        "Period": period,
        "EvaluationPeriods": evaluation_periods,
        "Threshold": threshold,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": "OperatorsTopic"}],
        "OKActions": [{"Ref": "OperatorsTopic"}],
    }
    if stat.startswith("p"):
        props["ExtendedStatistic"] = stat
    else:
        props["Statistic"] = stat
    if datapoints is not None:
        props["DatapointsToAlarm"] = datapoints
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": props}


def _ours(metric: Metric, campaign: Campaign, stage: str, **extra: str) -> list[dict[str, Any]]:
    dims = {"campaign": campaign.name, "stage": stage, **extra}
    if not any(sorted(dims) == sorted(s) for s in dimension_sets(metric)):
        raise ValueError(f"{metric.value} is not emitted with {sorted(dims)}")
    return [{"Name": k, "Value": v} for k, v in dims.items()]


def alarm_resources(campaign: Campaign, stage: str) -> dict[str, dict[str, Any]]:
    """Logical id -> AWS::CloudWatch::Alarm, thresholds from the campaign file (`alarms:`)."""
    assert BASE == ("campaign", "stage")
    out: dict[str, dict[str, Any]] = {}
    for lid, queue in (
        ("IntakeDeadLetterAlarm", "IntakeDeadLetterQueue"),
        ("EventsDeadLetterAlarm", "EventsDeadLetterQueue"),
    ):
        kind = "intake" if queue.startswith("Intake") else "events"
        out[lid] = _alarm(
            f"{kind}-dlq-not-empty",
            f"{kind.capitalize()} messages could not be processed; they wait in the DLQ (`replydesk dlq list`).",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}],
            stat="Maximum",
            period=60,
        )
    out["IntakeQueueAgeAlarm"] = _alarm(
        "intake-queue-stuck",
        "Inbound messages wait more than 5 minutes in the intake queue: processing is stalled or throttled.",
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["IntakeQueue", "QueueName"]}}],
        stat="Maximum",
        period=60,
        threshold=300,
        evaluation_periods=3,
        datapoints=3,
    )
    for fn in FUNCTIONS:
        for metric in ("Errors", "Throttles"):
            out[f"{fn}{metric}Alarm"] = _alarm(
                f"{fn.lower()}-{metric.lower()}",
                f"Lambda {fn}: {metric.lower()} in the last 5 minutes.",
                "AWS/Lambda",
                metric,
                [{"Name": "FunctionName", "Value": {"Ref": fn}}],
            )
    for sm in ("SlaStateMachine", "FollowUpStateMachine"):
        for metric in ("ExecutionsFailed", "ExecutionsTimedOut"):
            out[f"{sm}{metric}Alarm"] = _alarm(
                f"{sm.removesuffix('StateMachine').lower()}-{metric.removeprefix('Executions').lower()}",
                f"Step Functions {sm}: executions {metric.removeprefix('Executions').lower()}.",
                "AWS/States",
                metric,
                [{"Name": "StateMachineArn", "Value": {"Ref": sm}}],
            )
    out["Api5xxAlarm"] = _alarm(
        "api-5xx",
        "The API answered 5xx (contact form or staff API).",
        "AWS/ApiGateway",
        "5XXError",
        [{"Name": "ApiName", "Value": {"Fn::Sub": "replydesk-${Campaign}-${Stage}"}}],  # RestAPI's Name
    )
    out["AckLatencyAlarm"] = _alarm(
        "ack-latency-p95",
        "Acks are slow: p95 latency from receipt to send over the campaign's threshold (alarms.ack_latency_p95).",
        NAMESPACE,
        Metric.ACK_LATENCY.value,
        _ours(Metric.ACK_LATENCY, campaign, stage),
        stat="p95",
        threshold={"Ref": "AckLatencyP95ThresholdMs"},
        evaluation_periods=3,
        datapoints=2,
    )
    out["SlaMissRateAlarm"] = _alarm(
        "sla-miss-rate",
        "Too many first responses miss their SLA: hourly share over the campaign's alarms.sla_miss_rate.",
        NAMESPACE,
        Metric.SLA_MISSED.value,
        _ours(Metric.SLA_MISSED, campaign, stage, kind="first_response"),
        stat="Average",
        period=3600,
        threshold={"Ref": "SlaMissRateThreshold"},
    )
    out["BacklogOverdueAlarm"] = _alarm(
        "backlog-overdue",
        "An open conversation is older than its SLA deadline (backlog gauge, every minute).",
        NAMESPACE,
        Metric.BACKLOG_OVERDUE.value,
        _ours(Metric.BACKLOG_OVERDUE, campaign, stage),
        stat="Maximum",
        period=60,
        evaluation_periods=2,
        datapoints=2,
    )
    return out
