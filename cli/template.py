"""The campaign template: infra/template.yaml with its includes expanded and parameters filled in."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from chalicelib.config import Campaign

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
INCLUDE = "replydesk:include"
GENERATE = "replydesk:generate"


def _expand(node: Any) -> Any:
    if isinstance(node, dict):
        if set(node) == {INCLUDE}:
            path = INFRA / node[INCLUDE]
            text = path.read_text(encoding="utf-8")
            if path.name.endswith(".asl.json"):
                return json.loads(text)  # Definition takes the ASL as an object; substitutions still apply
            return {"Fn::Sub": text}  # e.g. the dashboard body: a string with ${AWS::Region} in it
        return {k: _expand(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v) for v in node]
    return node


def parameters(campaign: Campaign, stage: str) -> dict[str, Any]:
    return {
        "Campaign": campaign.name,
        "Stage": stage,
        "InboundDomain": campaign.inbound_domain,
        "InboundRecipients": ",".join(campaign.inbound_addresses),
        "RetentionDays": campaign.retention_days,
        "AckLatencyP95ThresholdMs": int(campaign.alarms.ack_latency_p95.total_seconds() * 1000),
        "SlaMissRateThreshold": campaign.alarms.sla_miss_rate,
    }


def merge_template(campaign: Campaign, stage: str) -> dict[str, Any]:
    """The merge template for one campaign and stage: includes expanded, parameter defaults set."""
    raw = yaml.safe_load((INFRA / "template.yaml").read_text(encoding="utf-8"))
    template: dict[str, Any] = _expand(copy.deepcopy(raw))
    for name, value in parameters(campaign, stage).items():
        template["Parameters"][name]["Default"] = value
    _generate(template, campaign, stage)
    return template


def _generate(template: dict[str, Any], campaign: Campaign, stage: str) -> None:
    """Fill in what chalicelib.ops builds from the metric definitions: the dashboard body and the alarms."""
    from chalicelib.campaign.retire import bounce_action
    from chalicelib.ops import alarms, dashboard

    for res in template["Resources"].values():
        props = res.get("Properties", {})
        if props.get("DashboardBody") == {GENERATE: "dashboard"}:
            props["DashboardBody"] = {"Fn::Sub": dashboard.body_text(campaign, stage)}
    rule = template["Resources"].get("ReceiptRule", {}).get("Properties", {}).get("Rule")
    if rule is not None and (bounce := bounce_action(campaign)) is not None:
        rule["Actions"].append(bounce)  # a closed campaign that bounces its mail (closing.mail: bounce)
    for lid, res in alarms.alarm_resources(campaign, stage).items():
        if lid in template["Resources"]:
            raise ValueError(f"generated alarm {lid} clashes with a resource of infra/template.yaml")
        template["Resources"][lid] = res


def stack_resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The resources with a Type of their own (the merge template also patches Chalice's functions)."""
    return {k: v for k, v in template["Resources"].items() if "Type" in v}
