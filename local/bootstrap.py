"""Create the campaign template's resources in the moto server, from the same infra/ definitions as the deploy.

moto's CloudFormation silently skips several types we use (subscriptions, receipt rules, alarms), so
this walks the template itself: resources in dependency order, intrinsics resolved, each type created
through its ordinary API. A resource type this module does not know is an error, never a silent skip.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3

from cli.receipt_rules import activate, put_rule, shared_rule_set

ACCOUNT_ID = "123456789012"  # moto's default account
PARTITION = "aws"

# Types that the local harness runs itself instead of creating them in moto (DESIGN §5).
RUN_BY_HARNESS = {
    "AWS::Serverless::Function": "run in-process by local/pump.py (SQS events) and local/api.py (HTTP)",
    "AWS::Serverless::Api": "served over HTTP by local/api.py",
    "AWS::Lambda::Permission": "no Lambda service locally: the harness invokes handlers directly",
}


def stack_name(campaign: str, stage: str) -> str:
    """The campaign stack's name: `replydesk deploy` names the CloudFormation stack so, the bootstrap its roles."""
    return f"replydesk-{campaign}-{stage}"


def role_name(logical_id: str, props: Mapping[str, Any], stack: str) -> str:
    """A role's name: its RoleName, else stack-scoped as CloudFormation would make it (IAM names are global).

    Within IAM's 64 characters; a longer one is cut and ends in a digest of the whole, so it stays unique.
    """
    if props.get("RoleName"):
        return str(props["RoleName"])
    name = f"{stack}-{logical_id}"
    if len(name) <= 64:
        return name
    return f"{name[:55]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


class BootstrapError(RuntimeError):
    """Raised when a template resource cannot be created locally."""


@dataclass
class Created:
    logical_id: str
    type: str
    ref: str
    attrs: dict[str, str] = field(default_factory=dict)


class Resolver:
    """Resolves Ref, Fn::GetAtt, Fn::Sub, Fn::Join and Fn::Select against created resources."""

    def __init__(self, parameters: Mapping[str, Any], region: str) -> None:
        campaign, stage = parameters.get("Campaign"), parameters.get("Stage")
        self.values: dict[str, str] = {
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Region": region,
            "AWS::Partition": PARTITION,
            "AWS::StackName": stack_name(campaign, stage) if campaign and stage else "replydesk-local",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.params = dict(parameters)
        self.created: dict[str, Created] = {}

    def ref(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        if name in self.params:
            return self.params[name]
        if name in self.created:
            return self.created[name].ref
        raise KeyError(name)

    def getatt(self, logical: str, attr: str) -> str:
        return self.created[logical].attrs[attr]

    def resolve(self, node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1:
                ((key, value),) = node.items()
                if key == "Ref":
                    return self.ref(value)
                if key == "Fn::GetAtt":
                    logical, attr = value if isinstance(value, list) else value.split(".", 1)
                    return self.getatt(logical, attr)
                if key == "Fn::Sub":
                    text, extra = (value, {}) if isinstance(value, str) else (value[0], value[1])
                    extra = {k: self.resolve(v) for k, v in extra.items()}
                    return re.sub(r"\$\{([^}!]+)\}", lambda m: self._sub(m.group(1), extra), text)
                if key == "Fn::Join":
                    sep, items = value
                    return sep.join(str(self.resolve(i)) for i in items)
                if key == "Fn::Select":
                    index, items = value
                    return self.resolve(items)[int(index)]
            return {k: self.resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self.resolve(v) for v in node]
        return node

    def _sub(self, name: str, extra: Mapping[str, Any]) -> str:
        if name in extra:
            return str(extra[name])
        if "." in name and not name.startswith("AWS::"):
            logical, attr = name.split(".", 1)
            return self.getatt(logical, attr)
        value = self.ref(name)
        return ",".join(value) if isinstance(value, list) else str(value)

    def depends(self, node: Any) -> set[str]:
        out: set[str] = set()
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "Ref" and isinstance(v, str):
                    out.add(v)
                elif k == "Fn::GetAtt":
                    out.add((v if isinstance(v, list) else v.split(".", 1))[0])
                elif k == "Fn::Sub":
                    text = v if isinstance(v, str) else v[0]
                    out |= {n.split(".", 1)[0] for n in re.findall(r"\$\{([^}!]+)\}", text)}
                    if not isinstance(v, str):
                        out |= self.depends(v[1])
                else:
                    out |= self.depends(v)
        elif isinstance(node, list):
            for v in node:
                out |= self.depends(v)
        return out


def _arn(service: str, region: str, resource: str) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{ACCOUNT_ID}:{resource}"


class Bootstrap:
    def __init__(self, endpoint_url: str, region: str) -> None:
        self.region = region
        self.stack_name = "replydesk-local"  # set from the template's Campaign and Stage by create_all
        self.session: Any = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
        )
        self.endpoint_url = endpoint_url
        self.creators: dict[str, Callable[[str, dict[str, Any]], Created]] = {
            "AWS::S3::Bucket": self.bucket,
            "AWS::S3::BucketPolicy": self.bucket_policy,
            "AWS::SNS::Topic": self.topic,
            "AWS::SNS::TopicPolicy": self.topic_policy,
            "AWS::SNS::Subscription": self.subscription,
            "AWS::SQS::Queue": self.queue,
            "AWS::SQS::QueuePolicy": self.queue_policy,
            "AWS::DynamoDB::Table": self.table,
            "AWS::IAM::Role": self.role,
            "AWS::StepFunctions::StateMachine": self.state_machine,
            "AWS::SES::ReceiptRuleSet": self.rule_set,
            "AWS::SES::ReceiptRule": self.receipt_rule,
            "AWS::CloudWatch::Alarm": self.alarm,
            "AWS::CloudWatch::Dashboard": self.dashboard,
            "AWS::Glue::Database": self.glue_database,
            "AWS::Glue::Table": self.glue_table,
            "AWS::Athena::WorkGroup": self.athena_workgroup,
            "AWS::Cognito::UserPool": self.user_pool,
            "AWS::Cognito::UserPoolClient": self.user_pool_client,
            "AWS::Cognito::UserPoolGroup": self.user_pool_group,
            "AWS::SecretsManager::Secret": self.secret,
        }

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url)

    # ---------------------------------------------------------------- one creator per type
    def bucket(self, lid: str, p: dict[str, Any]) -> Created:
        name = p["BucketName"]
        s3 = self.client("s3")
        kwargs: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        s3.create_bucket(**kwargs)
        if p.get("VersioningConfiguration"):
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=p["VersioningConfiguration"])
        return Created(lid, "AWS::S3::Bucket", name, {"Arn": f"arn:aws:s3:::{name}"})

    def bucket_policy(self, lid: str, p: dict[str, Any]) -> Created:
        self.client("s3").put_bucket_policy(Bucket=p["Bucket"], Policy=json.dumps(p["PolicyDocument"]))
        return Created(lid, "AWS::S3::BucketPolicy", p["Bucket"])

    def topic(self, lid: str, p: dict[str, Any]) -> Created:
        arn = self.client("sns").create_topic(Name=p["TopicName"])["TopicArn"]
        return Created(lid, "AWS::SNS::Topic", arn, {"TopicName": p["TopicName"], "TopicArn": arn})

    def topic_policy(self, lid: str, p: dict[str, Any]) -> Created:
        for arn in p["Topics"]:
            self.client("sns").set_topic_attributes(
                TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps(p["PolicyDocument"])
            )
        return Created(lid, "AWS::SNS::TopicPolicy", lid)

    def subscription(self, lid: str, p: dict[str, Any]) -> Created:
        attrs = {"RawMessageDelivery": "true"} if p.get("RawMessageDelivery") else {}
        arn = self.client("sns").subscribe(
            TopicArn=p["TopicArn"],
            Protocol=p["Protocol"],
            Endpoint=p["Endpoint"],
            Attributes=attrs,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        return Created(lid, "AWS::SNS::Subscription", arn)

    def queue(self, lid: str, p: dict[str, Any]) -> Created:
        attrs = {
            k: (json.dumps(v) if isinstance(v, dict) else str(v))
            for k, v in p.items()
            if k
            in (
                "VisibilityTimeout",
                "MessageRetentionPeriod",
                "RedrivePolicy",
                "DelaySeconds",
                "FifoQueue",
                "ReceiveMessageWaitTimeSeconds",
            )
        }
        name = p["QueueName"]
        url = self.client("sqs").create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        return Created(
            lid, "AWS::SQS::Queue", url, {"Arn": _arn("sqs", self.region, name), "QueueName": name, "QueueUrl": url}
        )

    def queue_policy(self, lid: str, p: dict[str, Any]) -> Created:
        for url in p["Queues"]:
            self.client("sqs").set_queue_attributes(
                QueueUrl=url, Attributes={"Policy": json.dumps(p["PolicyDocument"])}
            )
        return Created(lid, "AWS::SQS::QueuePolicy", lid)

    def table(self, lid: str, p: dict[str, Any]) -> Created:
        ddb = self.client("dynamodb")
        kwargs: dict[str, Any] = {
            "TableName": p["TableName"],
            "AttributeDefinitions": p["AttributeDefinitions"],
            "KeySchema": p["KeySchema"],
            "BillingMode": p.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if p.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = p["GlobalSecondaryIndexes"]
        if p.get("StreamSpecification"):
            kwargs["StreamSpecification"] = {"StreamEnabled": True, **p["StreamSpecification"]}
        desc = ddb.create_table(**kwargs)["TableDescription"]
        if p.get("TimeToLiveSpecification"):
            ddb.update_time_to_live(TableName=p["TableName"], TimeToLiveSpecification=p["TimeToLiveSpecification"])
        return Created(lid, "AWS::DynamoDB::Table", p["TableName"], {"Arn": desc["TableArn"]})

    def role(self, lid: str, p: dict[str, Any]) -> Created:
        name = role_name(lid, p, self.stack_name)
        arn = self.client("iam").create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(p["AssumeRolePolicyDocument"])
        )["Role"]["Arn"]
        return Created(lid, "AWS::IAM::Role", name, {"Arn": arn})

    def state_machine(self, lid: str, p: dict[str, Any]) -> Created:
        definition = p.get("Definition")
        text = json.dumps(definition) if definition is not None else p["DefinitionString"]
        for key, value in (p.get("DefinitionSubstitutions") or {}).items():
            text = text.replace("${" + key + "}", str(value))
        arn = self.client("stepfunctions").create_state_machine(
            name=p["StateMachineName"],
            definition=text,
            roleArn=p["RoleArn"],
            type=p.get("StateMachineType", "STANDARD"),
        )["stateMachineArn"]
        return Created(lid, "AWS::StepFunctions::StateMachine", arn, {"Name": p["StateMachineName"]})

    def rule_set(self, lid: str, p: dict[str, Any]) -> Created:
        ses = self.client("ses")
        ses.create_receipt_rule_set(RuleSetName=p["RuleSetName"])
        ses.set_active_receipt_rule_set(RuleSetName=p["RuleSetName"])
        return Created(lid, "AWS::SES::ReceiptRuleSet", p["RuleSetName"])

    def receipt_rule(self, lid: str, p: dict[str, Any]) -> Created:
        # Into the region's shared set (cli/receipt_rules.py), as `replydesk deploy` does on AWS: a second
        # campaign in the same emulator adds its rule beside the first one's instead of replacing the set.
        ses = self.client("ses")
        rule_set = shared_rule_set(ses, default=p["RuleSetName"])
        put_rule(ses, rule_set, p["Rule"])
        activate(ses, rule_set)
        return Created(lid, "AWS::SES::ReceiptRule", p["Rule"]["Name"])

    def secret(self, lid: str, p: dict[str, Any]) -> Created:
        """A generated secret, as CloudFormation's GenerateSecretString makes it; one retained from an
        earlier run is kept as it is (its hashes stay matchable)."""
        import secrets

        sm = self.client("secretsmanager")
        try:
            arn = sm.describe_secret(SecretId=p["Name"])["ARN"]
        except sm.exceptions.ResourceNotFoundException:
            length = int(p.get("GenerateSecretString", {}).get("PasswordLength", 32))
            value = secrets.token_hex(length)[:length]
            arn = sm.create_secret(Name=p["Name"], Description=p.get("Description", ""), SecretString=value)["ARN"]
        return Created(lid, "AWS::SecretsManager::Secret", arn, {"Id": arn})

    def alarm(self, lid: str, p: dict[str, Any]) -> Created:
        kwargs = {
            k: p[k]
            for k in (
                "AlarmName",
                "AlarmDescription",
                "Namespace",
                "MetricName",
                "Dimensions",
                "Statistic",
                "ExtendedStatistic",
                "Period",
                "DatapointsToAlarm",
                "EvaluationPeriods",
                "Threshold",
                "ComparisonOperator",
                "TreatMissingData",
                "AlarmActions",
                "OKActions",
            )
            if k in p
        }
        kwargs["Threshold"] = float(kwargs["Threshold"])
        self.client("cloudwatch").put_metric_alarm(**kwargs)
        return Created(lid, "AWS::CloudWatch::Alarm", p["AlarmName"])

    def dashboard(self, lid: str, p: dict[str, Any]) -> Created:
        self.client("cloudwatch").put_dashboard(DashboardName=p["DashboardName"], DashboardBody=p["DashboardBody"])
        return Created(lid, "AWS::CloudWatch::Dashboard", p["DashboardName"])

    def glue_database(self, lid: str, p: dict[str, Any]) -> Created:
        self.client("glue").create_database(DatabaseInput=p["DatabaseInput"])
        return Created(lid, "AWS::Glue::Database", p["DatabaseInput"]["Name"])

    def glue_table(self, lid: str, p: dict[str, Any]) -> Created:
        # `${!dt}` is Fn::Sub's escape for a literal `${dt}` (Athena's partition projection placeholder).
        table = json.loads(json.dumps(p["TableInput"]).replace("${!", "${"))
        self.client("glue").create_table(DatabaseName=p["DatabaseName"], TableInput=table)
        return Created(lid, "AWS::Glue::Table", f"{p['DatabaseName']}|{table['Name']}")

    def athena_workgroup(self, lid: str, p: dict[str, Any]) -> Created:
        config = p.get("WorkGroupConfiguration", {})
        self.client("athena").create_work_group(
            Name=p["Name"], Description=p.get("Description", ""), Configuration=config
        )
        return Created(lid, "AWS::Athena::WorkGroup", p["Name"])

    def user_pool(self, lid: str, p: dict[str, Any]) -> Created:
        # The template's property names are the API's for everything the staff pool uses.
        keys = ("Policies", "Schema", "AutoVerifiedAttributes", "UsernameConfiguration", "AdminCreateUserConfig")
        pool = self.client("cognito-idp").create_user_pool(
            PoolName=p["UserPoolName"], **{k: p[k] for k in keys if k in p}
        )["UserPool"]
        pool_id = pool["Id"]
        provider = f"cognito-idp.{self.region}.amazonaws.com/{pool_id}"
        return Created(
            lid,
            "AWS::Cognito::UserPool",
            pool_id,
            {
                "Arn": pool["Arn"],
                "UserPoolId": pool_id,
                "ProviderName": provider,
                "ProviderURL": f"https://{provider}",
            },
        )

    def user_pool_client(self, lid: str, p: dict[str, Any]) -> Created:
        keys = (
            "GenerateSecret",
            "ExplicitAuthFlows",
            "PreventUserExistenceErrors",
            "EnableTokenRevocation",
            "IdTokenValidity",
            "AccessTokenValidity",
            "RefreshTokenValidity",
            "TokenValidityUnits",
            "ReadAttributes",
        )
        client = self.client("cognito-idp").create_user_pool_client(
            UserPoolId=p["UserPoolId"], ClientName=p["ClientName"], **{k: p[k] for k in keys if k in p}
        )["UserPoolClient"]
        return Created(lid, "AWS::Cognito::UserPoolClient", client["ClientId"], {"ClientId": client["ClientId"]})

    def user_pool_group(self, lid: str, p: dict[str, Any]) -> Created:
        keys = ("Description", "Precedence", "RoleArn")
        self.client("cognito-idp").create_group(
            UserPoolId=p["UserPoolId"], GroupName=p["GroupName"], **{k: p[k] for k in keys if k in p}
        )
        return Created(lid, "AWS::Cognito::UserPoolGroup", p["GroupName"])

    # ---------------------------------------------------------------- the walk
    def create_all(
        self,
        template: Mapping[str, Any],
        extra_refs: Mapping[str, str] | None = None,
        existing: Mapping[str, Created] | None = None,
    ) -> dict[str, Created]:
        """Create every resource of the template but those in `existing` (made already, e.g. by moto's
        CloudFormation for `replydesk deploy`), which are only referred to; returns all of them."""
        params = {k: v.get("Default") for k, v in template.get("Parameters", {}).items()}
        for k, v in list(params.items()):
            if template["Parameters"][k].get("Type") == "CommaDelimitedList" and isinstance(v, str):
                params[k] = [s for s in v.split(",") if s]
        resolver = Resolver(params, self.region)
        self.stack_name = resolver.values["AWS::StackName"]
        resources = {k: v for k, v in template["Resources"].items() if "Type" in v}
        unknown = {v["Type"] for v in resources.values()} - set(self.creators) - set(RUN_BY_HARNESS)
        if unknown:
            raise BootstrapError(f"no local creator for resource types: {', '.join(sorted(unknown))}")
        pending = {k: v for k, v in resources.items() if v["Type"] in self.creators and k not in (existing or {})}
        resolver.created.update(existing or {})
        for name, ref in (extra_refs or {}).items():
            resolver.created[name] = Created(name, "harness", ref, {"Arn": ref})
        harness_ids = {k for k, v in resources.items() if v["Type"] in RUN_BY_HARNESS}
        while pending:
            ready = [
                k
                for k, v in pending.items()
                if (resolver.depends(v.get("Properties", {})) | set(v.get("DependsOn", [])))
                - set(resolver.created)
                - set(resolver.values)
                - set(resolver.params)
                - harness_ids
                == set()
            ]
            if not ready:
                raise BootstrapError(f"unresolvable dependencies among: {', '.join(sorted(pending))}")
            for lid in ready:
                res = pending.pop(lid)
                props = resolver.resolve(res.get("Properties", {}))
                resolver.created[lid] = self.creators[res["Type"]](lid, props)
        return resolver.created
