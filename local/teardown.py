"""Delete a campaign's stack from the moto server, keeping what the template retains (the inverse of bootstrap).

On AWS this is `cloudformation delete-stack`, which honours `DeletionPolicy: Retain`. Locally the
bootstrap created each resource through its own API, so this deletes them the same way: every
resource of the template whose deletion policy is not Retain, found by the names the template gives it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from local.bootstrap import RUN_BY_HARNESS, Resolver, role_name
from local.outbox import ESCALATION_INBOX_SUFFIX

_NAME_PROPERTY = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::SES::ReceiptRuleSet": "RuleSetName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::Athena::WorkGroup": "Name",
    "AWS::Cognito::UserPool": "UserPoolName",
    "AWS::SecretsManager::Secret": "Name",
}
# Deleted with their parent (a subscription with its topic, ...). The receipt rule is not: it lives in
# the region's rule set that every campaign shares (cli/receipt_rules.py), so it is deleted on its own.
_WITH_PARENT = {
    "AWS::SNS::Subscription",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::S3::BucketPolicy",
    "AWS::Glue::Table",
    "AWS::Cognito::UserPoolClient",
    "AWS::Cognito::UserPoolGroup",
}


@dataclass
class Teardown:
    deleted: list[str] = field(default_factory=list)  # "<type> <name>"
    kept: list[str] = field(default_factory=list)


def _names(template: Mapping[str, Any], region: str) -> list[tuple[str, str, str, bool]]:
    """(logical id, type, physical name, retained) of every resource the bootstrap creates by name."""
    params = {k: v.get("Default") for k, v in template.get("Parameters", {}).items()}
    resolver = Resolver(params, region)
    out = []
    for lid, res in template.get("Resources", {}).items():
        kind = res.get("Type")
        if kind is None or kind in _WITH_PARENT:
            continue
        props = res.get("Properties", {})
        if kind == "AWS::IAM::Role":
            name = role_name(lid, props, resolver.values["AWS::StackName"])  # as local/bootstrap.py names it
        elif kind == "AWS::SES::ReceiptRule":
            name = resolver.resolve(props["Rule"]["Name"])
        elif kind == "AWS::Glue::Database":
            name = resolver.resolve(props["DatabaseInput"]["Name"])
        elif kind in _NAME_PROPERTY:
            name = resolver.resolve(props[_NAME_PROPERTY[kind]])
        elif kind in RUN_BY_HARNESS:
            continue  # run by the harness (functions, the API): nothing in moto
        else:
            # A type the bootstrap learned to create must be learned here too, never silently left behind.
            raise ValueError(f"no local teardown for resource type {kind} ({lid})")
        out.append((lid, kind, str(name), res.get("DeletionPolicy") == "Retain"))
    return out


def teardown(template: Mapping[str, Any], *, client: Callable[[str], Any], region: str) -> Teardown:
    """Delete every resource of the template the stack deletion would delete; return what went and what stays."""
    result = Teardown()
    client = functools.cache(client)  # building a boto3 client costs far more than the call it makes
    for _lid, kind, name, retained in _names(template, region):
        if retained:
            result.kept.append(f"{kind} {name}")
            continue
        if _delete(kind, name, client, region):
            result.deleted.append(f"{kind} {name}")
    # The harness's own queue on the escalation topic (local/stack.py), named after the stack.
    params = template.get("Parameters", {})
    prefix = f"replydesk-{params['Campaign']['Default']}-{params['Stage']['Default']}"
    inbox = f"{prefix}-{ESCALATION_INBOX_SUFFIX}"
    if _delete("AWS::SQS::Queue", inbox, client, region):
        result.deleted.append(f"harness queue {inbox}")
    return result


def leftovers(template: Mapping[str, Any], *, client: Callable[[str], Any], region: str) -> list[str]:
    """The template's non-retained resources that still exist: empty once the stack is deleted."""
    client = functools.cache(client)
    return [
        f"{kind} {name}"
        for _l, kind, name, kept in _names(template, region)
        if not kept and _exists(kind, name, client, region)
    ]


def _topic_arn(name: str, client: Callable[[str], Any]) -> str | None:
    for page in client("sns").get_paginator("list_topics").paginate():
        for t in page.get("Topics", []):
            if t["TopicArn"].rsplit(":", 1)[-1] == name:
                return str(t["TopicArn"])
    return None


def _pool_id(name: str, client: Callable[[str], Any]) -> str | None:
    pools = client("cognito-idp").list_user_pools(MaxResults=60).get("UserPools", [])
    return next((str(p["Id"]) for p in pools if p["Name"] == name), None)


def _state_machine_arn(name: str, client: Callable[[str], Any]) -> str | None:
    machines = client("stepfunctions").list_state_machines().get("stateMachines", [])
    return next((str(m["stateMachineArn"]) for m in machines if m["name"] == name), None)


def _rule_set_of(rule: str, client: Callable[[str], Any]) -> str | None:
    """The rule set holding this campaign's receipt rule (the shared one), or None."""
    ses = client("ses")
    for meta in ses.list_receipt_rule_sets().get("RuleSets", []):
        if any(r["Name"] == rule for r in ses.describe_receipt_rule_set(RuleSetName=meta["Name"]).get("Rules", [])):
            return str(meta["Name"])
    return None


def _exists(kind: str, name: str, client: Callable[[str], Any], region: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        if kind == "AWS::S3::Bucket":
            return any(b["Name"] == name for b in client("s3").list_buckets().get("Buckets", []))
        if kind == "AWS::SNS::Topic":
            return _topic_arn(name, client) is not None
        if kind == "AWS::SQS::Queue":
            return name in [
                u.rsplit("/", 1)[-1] for u in client("sqs").list_queues(QueueNamePrefix=name).get("QueueUrls", [])
            ]
        if kind == "AWS::DynamoDB::Table":
            return name in client("dynamodb").list_tables().get("TableNames", [])
        if kind == "AWS::StepFunctions::StateMachine":
            return _state_machine_arn(name, client) is not None
        if kind == "AWS::SES::ReceiptRule":
            return _rule_set_of(name, client) is not None
        if kind == "AWS::SES::ReceiptRuleSet":
            return any(r["Name"] == name for r in client("ses").list_receipt_rule_sets().get("RuleSets", []))
        if kind == "AWS::CloudWatch::Alarm":
            return bool(client("cloudwatch").describe_alarms(AlarmNames=[name]).get("MetricAlarms"))
        if kind == "AWS::CloudWatch::Dashboard":
            entries = client("cloudwatch").list_dashboards(DashboardNamePrefix=name).get("DashboardEntries", [])
            return any(d["DashboardName"] == name for d in entries)
        if kind == "AWS::Athena::WorkGroup":
            return any(w["Name"] == name for w in client("athena").list_work_groups().get("WorkGroups", []))
        if kind == "AWS::Cognito::UserPool":
            return _pool_id(name, client) is not None
        if kind == "AWS::IAM::Role":
            client("iam").get_role(RoleName=name)
            return True
        if kind == "AWS::Glue::Database":
            client("glue").get_database(Name=name)
            return True
    except ClientError:
        return False
    raise ValueError(f"no local check for {kind}")


def _delete(kind: str, name: str, client: Callable[[str], Any], region: str) -> bool:
    """Delete one resource; False when it was already gone (a rerun converges)."""
    if not _exists(kind, name, client, region):
        return False
    if kind == "AWS::S3::Bucket":
        s3 = client("s3")
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
            items = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            if items:
                s3.delete_objects(
                    Bucket=name, Delete={"Objects": [{"Key": o["Key"], "VersionId": o["VersionId"]} for o in items]}
                )
        s3.delete_bucket(Bucket=name)
    elif kind == "AWS::SNS::Topic":
        sns = client("sns")
        arn = _topic_arn(name, client)
        for sub in sns.list_subscriptions_by_topic(TopicArn=arn).get("Subscriptions", []):
            if sub["SubscriptionArn"].startswith("arn:"):
                sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
        sns.delete_topic(TopicArn=arn)
    elif kind == "AWS::SQS::Queue":
        sqs = client("sqs")
        sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"])
    elif kind == "AWS::DynamoDB::Table":
        client("dynamodb").delete_table(TableName=name)
    elif kind == "AWS::StepFunctions::StateMachine":
        client("stepfunctions").delete_state_machine(stateMachineArn=_state_machine_arn(name, client))
    elif kind == "AWS::SES::ReceiptRule":
        client("ses").delete_receipt_rule(RuleSetName=_rule_set_of(name, client), RuleName=name)
    elif kind == "AWS::SES::ReceiptRuleSet":
        ses = client("ses")
        active = ses.describe_active_receipt_rule_set().get("Metadata", {}).get("Name")
        if active == name:
            ses.set_active_receipt_rule_set()  # no name: none active (SES refuses to delete the active set)
        ses.delete_receipt_rule_set(RuleSetName=name)
    elif kind == "AWS::CloudWatch::Alarm":
        client("cloudwatch").delete_alarms(AlarmNames=[name])
    elif kind == "AWS::CloudWatch::Dashboard":
        client("cloudwatch").delete_dashboards(DashboardNames=[name])
    elif kind == "AWS::Athena::WorkGroup":
        client("athena").delete_work_group(WorkGroup=name, RecursiveDeleteOption=True)
    elif kind == "AWS::Cognito::UserPool":
        client("cognito-idp").delete_user_pool(UserPoolId=_pool_id(name, client))
    elif kind == "AWS::IAM::Role":
        iam = client("iam")
        for policy in iam.list_role_policies(RoleName=name).get("PolicyNames", []):
            iam.delete_role_policy(RoleName=name, PolicyName=policy)
        for attached in iam.list_attached_role_policies(RoleName=name).get("AttachedPolicies", []):
            iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
        iam.delete_role(RoleName=name)
    elif kind == "AWS::Glue::Database":
        glue = client("glue")
        for table in glue.get_tables(DatabaseName=name).get("TableList", []):
            glue.delete_table(DatabaseName=name, Name=table["Name"])
        glue.delete_database(Name=name)
    return True
