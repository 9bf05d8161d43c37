"""The region's one active SES receipt rule set, shared by every campaign: one rule each, never another's touched.

SES receives mail through the single active rule set of a region. A campaign that activated a set of
its own would silently stop every other campaign's mail, so all campaigns' rules live in one set:
the one already active if there is one (an account may have rules of its own), else the default set,
created here. Each campaign adds or replaces only its own rule, found by name.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

DEFAULT_RULE_SET = "replydesk-inbound"


def shared_rule_set(ses: Any, *, default: str = DEFAULT_RULE_SET) -> str:
    """The set every campaign's rule goes into: the active one, else `default` (created if missing)."""
    active = ses.describe_active_receipt_rule_set().get("Metadata", {}).get("Name")
    if active:
        return str(active)
    names = {r["Name"] for r in ses.list_receipt_rule_sets().get("RuleSets", [])}
    if default not in names:
        try:
            ses.create_receipt_rule_set(RuleSetName=default)
        except ClientError as exc:  # another deploy created it between the two calls
            if exc.response["Error"]["Code"] != "AlreadyExists":
                raise
    return default


def activate(ses: Any, rule_set: str) -> bool:
    """Make `rule_set` the active one unless it already is; True when this call changed it.

    Only ever called with the set `shared_rule_set` chose, so it never switches another set off
    unless none was active.
    """
    active = ses.describe_active_receipt_rule_set().get("Metadata", {}).get("Name")
    if active == rule_set:
        return False
    ses.set_active_receipt_rule_set(RuleSetName=rule_set)
    return True


def put_rule(ses: Any, rule_set: str, rule: dict[str, Any]) -> str:
    """Add this campaign's rule to the set, or replace it (same name); other rules stay. Returns created/updated."""
    names = [r["Name"] for r in ses.describe_receipt_rule_set(RuleSetName=rule_set).get("Rules", [])]
    if rule["Name"] in names:
        ses.update_receipt_rule(RuleSetName=rule_set, Rule=rule)
        return "updated"
    # After the last rule, so an account's own rules keep running first, as they did before.
    kwargs = {"After": names[-1]} if names else {}
    ses.create_receipt_rule(RuleSetName=rule_set, Rule=rule, **kwargs)
    return "created"


def rules(ses: Any, rule_set: str) -> list[dict[str, Any]]:
    return list(ses.describe_receipt_rule_set(RuleSetName=rule_set).get("Rules", []))
