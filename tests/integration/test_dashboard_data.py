"""The dashboard's every widget has data after a flow through the local stack (AWS-only lines listed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.ops.dashboard import parse_line
from local.dashboard import widget_series
from tests.integration.opsflow import run_flow

pytestmark = pytest.mark.integration

# Widgets whose metrics come from features outside this flow, with why (none: the flow drives them all).
NOT_IN_FLOW: dict[str, str] = {}


def test_every_dashboard_widget_has_data_after_a_flow(stack: Any) -> None:
    # GIVEN the dashboard the bootstrap created from the template's generated body
    cw = stack.client("cloudwatch")
    body = json.loads(cw.get_dashboard(DashboardName=stack.dashboard_name)["DashboardBody"])
    widgets = [w for w in body["widgets"] if w["type"] == "metric"]
    assert len(widgets) >= 15
    # WHEN a flow runs: web form, email, SMS, a staff reply, an auto-reply, a bad form, a poisoned message
    flow = run_flow(stack)
    assert flow["rejected_status"] == 400
    assert flow["forwarded"] > 0
    # THEN every widget with lines the emulator can produce has data in at least one of them
    end = datetime.now(UTC) + timedelta(minutes=1)
    start = end - timedelta(minutes=30)
    empty, report = [], []
    for widget in widgets:
        title = widget["properties"]["title"]
        lines = [parse_line(e) for e in widget["properties"]["metrics"]]
        series = widget_series(cw, lines, start=start, end=end, period=60)
        for s in series:
            if s.line.aws_only:
                report.append(f"  AWS-only  {title} / {s.line.label}: {s.line.aws_only}")
                continue
            # what get_metric_data answers is a metric list_metrics knows under exactly that dimension set
            if s.has_data:
                listed = cw.list_metrics(
                    Namespace=s.line.namespace,
                    MetricName=s.line.metric,
                    Dimensions=[{"Name": k, "Value": v} for k, v in s.line.dimensions],
                )["Metrics"]
                exact = [
                    m
                    for m in listed
                    if sorted((d["Name"], d["Value"]) for d in m["Dimensions"]) == sorted(s.line.dimensions)
                ]
                assert exact, f"{title} / {s.line.label}: data but no metric with exactly {s.line.dimensions}"
            report.append(f"  {'data' if s.has_data else 'no data':<9} {title} / {s.line.label}")
        local = [s for s in series if s.line.aws_only is None]
        if title in NOT_IN_FLOW:
            print(f"excluded: {title}: {NOT_IN_FLOW[title]}")
            continue
        if local and not any(s.has_data for s in local):
            empty.append(title)
    print("\n".join(report))
    assert not empty, f"widgets without data after the flow: {empty}"
