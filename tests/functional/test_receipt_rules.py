"""The region's shared receipt rule set against moto: each campaign adds, replaces or deletes only its own rule."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from cli.receipt_rules import DEFAULT_RULE_SET, activate, put_rule, rules, shared_rule_set
from local.emulator import receipt_rule_deletion

pytestmark = pytest.mark.functional

# A region of its own: the session's local stack shares this process's moto backends, and SES has one
# active rule set per region.
REGION = "eu-north-1"


@pytest.fixture
def ses(moto_url: str) -> Any:
    session: Any = boto3.session.Session()
    client = session.client(
        "ses", region_name=REGION, endpoint_url=moto_url, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    yield client
    client.set_active_receipt_rule_set()  # none active: the next test starts from an empty region
    for meta in client.list_receipt_rule_sets().get("RuleSets", []):
        client.delete_receipt_rule_set(RuleSetName=meta["Name"])


def rule(name: str, *recipients: str) -> dict[str, Any]:
    return {"Name": name, "Enabled": True, "Recipients": list(recipients)}


def test_the_first_campaign_creates_the_default_set_and_a_second_joins_it(ses: Any) -> None:
    # GIVEN a region with no rule set, WHEN two campaigns put their rules
    first = shared_rule_set(ses)
    put_rule(ses, first, rule("replydesk-a-dev-store", "a@a.test"))
    assert activate(ses, first) is True
    second = shared_rule_set(ses)
    put_rule(ses, second, rule("replydesk-b-dev-store", "b@b.test"))
    # THEN both are in the one active default set, and activating it again changes nothing
    assert first == second == DEFAULT_RULE_SET
    assert activate(ses, second) is False
    active = ses.describe_active_receipt_rule_set()
    assert active["Metadata"]["Name"] == DEFAULT_RULE_SET
    assert [r["Name"] for r in active["Rules"]] == ["replydesk-a-dev-store", "replydesk-b-dev-store"]


def test_an_active_set_of_the_accounts_own_is_used_and_its_rules_stay_first(ses: Any) -> None:
    ses.create_receipt_rule_set(RuleSetName="mine")
    ses.create_receipt_rule(RuleSetName="mine", Rule=rule("own", "x@x.test"))
    ses.set_active_receipt_rule_set(RuleSetName="mine")
    chosen = shared_rule_set(ses)
    put_rule(ses, chosen, rule("replydesk-a-dev-store", "a@a.test"))
    assert chosen == "mine"
    assert [r["Name"] for r in rules(ses, "mine")] == ["own", "replydesk-a-dev-store"]
    assert DEFAULT_RULE_SET not in [m["Name"] for m in ses.list_receipt_rule_sets()["RuleSets"]]


def test_a_redeploy_replaces_its_rule_in_place_and_leaves_the_others(ses: Any) -> None:
    name = shared_rule_set(ses)
    put_rule(ses, name, rule("replydesk-a-dev-store", "a@a.test"))
    put_rule(ses, name, rule("replydesk-b-dev-store", "b@b.test"))
    assert put_rule(ses, name, rule("replydesk-a-dev-store", "a@a.test", "a2@a.test")) == "updated"
    by_name = {r["Name"]: r["Recipients"] for r in rules(ses, name)}
    assert by_name == {"replydesk-a-dev-store": ["a@a.test", "a2@a.test"], "replydesk-b-dev-store": ["b@b.test"]}


def test_deleting_one_campaigns_rule_keeps_the_others(ses: Any) -> None:
    # moto lacks DeleteReceiptRule; the local stack teaches it (local/emulator.py), as retire needs it.
    receipt_rule_deletion()
    name = shared_rule_set(ses)
    put_rule(ses, name, rule("replydesk-a-dev-store", "a@a.test"))
    put_rule(ses, name, rule("replydesk-b-dev-store", "b@b.test"))
    ses.delete_receipt_rule(RuleSetName=name, RuleName="replydesk-a-dev-store")
    ses.delete_receipt_rule(RuleSetName=name, RuleName="replydesk-a-dev-store")  # gone already: no error
    assert [r["Name"] for r in rules(ses, name)] == ["replydesk-b-dev-store"]
