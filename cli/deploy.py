"""`replydesk deploy`'s steps: the stack through a change set, then what CloudFormation cannot do, each step idempotent.

Every function takes its clients (a `client(service)` callable) so the same code deploys to AWS and to
a moto endpoint. On moto, whose CloudFormation skips several of the template's types (alarms, SNS
subscriptions, SES receipt rules, Cognito, Glue, the SAM functions), the stack holds the types moto
creates and local/bootstrap.py creates the rest through their APIs, as it does for `replydesk local`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.config import Campaign, load_campaign
from chalicelib.ops.stack import StackNames
from cli.package_cmd import package
from cli.receipt_rules import activate, rules, shared_rule_set
from local.bootstrap import Bootstrap, Created, Resolver, stack_name

Client = Callable[[str], Any]
# Types moto's CloudFormation creates for the stack (tests/unit/test_deploy_units.py checks moto's model
# map has each); everything else of the template (SAM, alarms, Cognito, ...) the bootstrap creates.
EMULATOR_STACK_TYPES = frozenset(
    {
        "AWS::S3::Bucket",
        "AWS::SNS::Topic",
        "AWS::SQS::Queue",
        "AWS::DynamoDB::Table",
        "AWS::IAM::Role",
        "AWS::StepFunctions::StateMachine",
        "AWS::CloudWatch::Dashboard",
    }
)
TERMINAL_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


class DeployError(RuntimeError):
    """A deploy step that cannot go on; the message says what to do."""


@dataclass
class Plan:
    """A change set as shown before it is executed."""

    stack: str
    name: str
    kind: str  # CREATE or UPDATE
    changes: list[str] = field(default_factory=list)
    # The stack's id: after a refused change set the name may also name the stack left under review.
    stack_id: str = ""

    @property
    def empty(self) -> bool:
        return not self.changes

    def text(self) -> str:
        if self.empty:
            return f"stack {self.stack}: no changes"
        head = f"change set {self.name} ({'new stack' if self.kind == 'CREATE' else 'update'} {self.stack}):"
        return "\n".join([head, *(f"  {c}" for c in self.changes)])


# ---------------------------------------------------------------------------------------------- the template
def emulator_template(sam: Mapping[str, Any]) -> dict[str, Any]:
    """The part of the packaged template moto's CloudFormation creates: no SAM, no skipped types.

    A resource that refers to one left out goes too (moto would resolve the reference to nothing);
    the bootstrap creates what is left out, after the stack, through the APIs.
    """
    resources = {k: v for k, v in sam["Resources"].items() if v.get("Type") in EMULATOR_STACK_TYPES}
    probe = Resolver({}, "us-east-1")
    changed = True
    while changed:
        changed = False
        for lid, res in list(resources.items()):
            deps = probe.depends(res.get("Properties", {})) | set(res.get("DependsOn", []))
            missing = {d for d in deps if d in sam["Resources"] and d not in resources}
            if missing:
                del resources[lid]
                changed = True
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": sam.get("Description", "replydesk campaign stack (emulator part)"),
        "Parameters": sam["Parameters"],
        "Resources": resources,
    }


def adopt(logical_id: str, kind: str, physical: str, *, region: str, account: str) -> Created:
    """A stack's resource as the bootstrap's resolver sees it: its Ref and the attributes the template reads."""
    arn = f"arn:aws:{{}}:{region}:{account}:{{}}"
    if kind == "AWS::S3::Bucket":
        return Created(logical_id, kind, physical, {"Arn": f"arn:aws:s3:::{physical}"})
    if kind == "AWS::SNS::Topic":
        return Created(logical_id, kind, physical, {"TopicArn": physical, "TopicName": physical.rsplit(":", 1)[-1]})
    if kind == "AWS::SQS::Queue":
        name = physical.rstrip("/").rsplit("/", 1)[-1]
        return Created(
            logical_id, kind, physical, {"Arn": arn.format("sqs", name), "QueueName": name, "QueueUrl": physical}
        )
    if kind == "AWS::DynamoDB::Table":
        return Created(logical_id, kind, physical, {"Arn": arn.format("dynamodb", f"table/{physical}")})
    if kind == "AWS::IAM::Role":
        return Created(logical_id, kind, physical, {"Arn": f"arn:aws:iam::{account}:role/{physical}"})
    if kind == "AWS::StepFunctions::StateMachine":
        return Created(logical_id, kind, physical, {"Name": physical.rsplit(":", 1)[-1]})
    return Created(logical_id, kind, physical, {})


# ---------------------------------------------------------------------------------------------- the stack
def artifacts_bucket(client: Client, region: str, account: str) -> str:
    """The bucket for packaged code and templates (outside every stack, shared by campaigns), made if missing."""
    name = f"replydesk-deploy-{account}-{region}"
    s3 = client("s3")
    try:
        s3.head_bucket(Bucket=name)
    except ClientError:
        kwargs: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)
    return name


def upload(client: Client, bucket: str, key: str, body: bytes) -> str:
    """Put one artefact under its content digest; returns its key (the same bytes upload once)."""
    digest = hashlib.sha256(body).hexdigest()[:16]
    full = f"{key}/{digest}"
    s3 = client("s3")
    try:
        s3.head_object(Bucket=bucket, Key=full)
    except ClientError:
        s3.put_object(Bucket=bucket, Key=full, Body=body)
    return full


def with_code_in_s3(sam: Mapping[str, Any], bucket: str, code_key: str) -> dict[str, Any]:
    """The packaged template with the functions' CodeUri pointing at the uploaded zip (`cloudformation package`)."""
    out: dict[str, Any] = json.loads(json.dumps(sam))
    for res in out["Resources"].values():
        if res.get("Type") == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = f"s3://{bucket}/{code_key}"
    return out


def stack_status(cf: Any, stack: str) -> str | None:
    try:
        return str(cf.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"])
    except ClientError as exc:
        # A missing stack is a plain ValidationError: only its message tells it from a bad request.
        if exc.response["Error"]["Code"] == "ValidationError" and "does not exist" in str(exc):
            return None
        raise


def parameters(
    template: Mapping[str, Any], given: Mapping[str, str], *, updating: bool, keep: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Every parameter the template declares: given values, else on update the previous one for `keep`."""
    out: list[dict[str, Any]] = []
    for name in template.get("Parameters", {}):
        if name in given:
            out.append({"ParameterKey": name, "ParameterValue": given[name]})
        elif updating and name in keep:
            out.append({"ParameterKey": name, "UsePreviousValue": True})
    return out


def create_change_set(
    cf: Any,
    stack: str,
    template_url: str,
    params: list[dict[str, Any]],
    *,
    updating: bool,
    poll: float = 5.0,
    timeout: float = 600.0,
) -> Plan:
    """Create the change set and wait for CloudFormation to compute it; an empty one is deleted again."""
    name = f"replydesk-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"
    kind = "UPDATE" if updating else "CREATE"
    created = cf.create_change_set(
        StackName=stack,
        ChangeSetName=name,
        ChangeSetType=kind,
        TemplateURL=template_url,
        Parameters=params,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    deadline = time.monotonic() + timeout
    while True:
        desc = cf.describe_change_set(StackName=stack, ChangeSetName=name)
        if desc["Status"] in ("CREATE_COMPLETE", "FAILED"):
            break
        if time.monotonic() > deadline:
            raise DeployError(f"change set {name} not computed within {timeout:.0f} s")
        time.sleep(poll)
    plan = Plan(stack, name, kind, stack_id=str(created.get("StackId") or stack))
    if desc["Status"] == "FAILED":
        reason = str(desc.get("StatusReason", ""))
        cf.delete_change_set(StackName=stack, ChangeSetName=name)
        if any(s in reason for s in NO_CHANGES):
            return plan
        raise DeployError(f"change set {name} failed: {reason}")
    changes = list(desc.get("Changes", []))
    while desc.get("NextToken"):  # a large stack's change set comes in pages
        desc = cf.describe_change_set(StackName=stack, ChangeSetName=name, NextToken=desc["NextToken"])
        changes += desc.get("Changes", [])
    for change in changes:
        rc = change.get("ResourceChange", {})
        replace = " (replaced)" if rc.get("Replacement") == "True" else ""
        plan.changes.append(
            f"{rc.get('Action', '?'):<7} {rc.get('ResourceType', '?'):<36} {rc.get('LogicalResourceId')}{replace}"
        )
    if not plan.changes:  # computed, but no resource changes: parameters or outputs only
        plan.changes.append("parameters or outputs only (no resource changes)")
    return plan


def execute(cf: Any, plan: Plan, *, poll: float = 10.0, timeout: float = 3600.0) -> str:
    """Execute the change set and wait for the stack to settle; returns its final status or raises."""
    cf.execute_change_set(StackName=plan.stack, ChangeSetName=plan.name)
    deadline = time.monotonic() + timeout
    while True:
        status = stack_status(cf, plan.stack_id) or "DELETED"
        if not status.endswith("IN_PROGRESS"):
            break
        if time.monotonic() > deadline:
            raise DeployError(f"stack {plan.stack} still {status} after {timeout:.0f} s")
        time.sleep(poll)
    if status not in TERMINAL_OK:
        events = cf.describe_stack_events(StackName=plan.stack_id).get("StackEvents", [])
        failed = [
            f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"
            for e in events
            if "FAILED" in e.get("ResourceStatus", "")
        ]
        raise DeployError(f"stack {plan.stack} ended {status}" + "".join(f"\n  {f}" for f in failed[:10]))
    return status


def stack_resources(cf: Any, stack: str) -> list[tuple[str, str, str]]:
    """(logical id, type, physical id) of every resource of the stack."""
    out = []
    for page in cf.get_paginator("list_stack_resources").paginate(StackName=stack):
        for r in page["StackResourceSummaries"]:
            out.append((r["LogicalResourceId"], r["ResourceType"], r.get("PhysicalResourceId", "")))
    return out


# ---------------------------------------------------------------------------------------------- the emulator's rest
# What the bootstrap's creators put in place of an existing one (put_metric_alarm, the policies, the rule
# replaced by name): a changed resource of these types is updated by creating it again.
UPDATABLE_BY_API = frozenset(
    {
        "AWS::CloudWatch::Alarm",
        "AWS::S3::BucketPolicy",
        "AWS::SNS::TopicPolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::SES::ReceiptRule",
    }
)


def _digests(merge: Mapping[str, Any], lids: set[str]) -> dict[str, str]:
    """Per resource, a digest of its definition and of the parameter values it refers to."""
    params = merge.get("Parameters", {})
    probe = Resolver({}, "us-east-1")
    out = {}
    for lid in lids:
        res = merge["Resources"][lid]
        used = sorted(d for d in probe.depends(res) if d in params)
        body = {"resource": res, "parameters": {name: params[name].get("Default") for name in used}}
        out[lid] = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    return out


def create_rest_on_emulator(
    endpoint: str,
    region: str,
    merge: Mapping[str, Any],
    stack_created: Mapping[str, Created],
    *,
    client: Client,
    bucket: str,
    stack: str,
) -> tuple[dict[str, Created], list[str]]:
    """Create through the APIs what moto's CloudFormation skipped; (every resource, the ids created or updated).

    What was created is recorded beside the packaged template with a digest per resource, so a rerun
    refers to what is unchanged, creates what is new and re-creates what changed where the API
    replaces in place (alarms, policies, the receipt rule). Any other change, or a removal, is refused
    with the resources named: moto cannot update those, so deploy into a fresh emulator.
    """
    rest = {k for k, v in merge["Resources"].items() if "Type" in v and k not in stack_created}
    key = f"{stack}/emulated.json"
    s3 = client("s3")
    try:
        record = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError:
        record = {"digests": {}, "created": {}}
    now = _digests(merge, rest)
    changed = {lid for lid in rest if lid in record["digests"] and record["digests"][lid] != now[lid]}
    gone = set(record["created"]) - rest
    kinds = {lid: c["type"] for lid, c in record["created"].items()}
    kinds.update({lid: merge["Resources"][lid]["Type"] for lid in rest})
    stuck = sorted(lid for lid in changed | gone if kinds[lid] not in UPDATABLE_BY_API)
    if stuck:
        raise DeployError(
            f"the emulator holds resources of {stack} that moto's CloudFormation skips and the template changed "
            f"or dropped ({', '.join(f'{lid} {kinds[lid]}' for lid in stuck)}): updating those locally is not "
            "built. Deploy into a fresh emulator."
        )
    for lid in sorted(gone):  # only alarms and the like get here; an alarm the template dropped goes
        if kinds[lid] == "AWS::CloudWatch::Alarm":
            client("cloudwatch").delete_alarms(AlarmNames=[record["created"][lid]["ref"]])
    keep = {lid: Created(**record["created"][lid]) for lid in rest if lid in record["created"] and lid not in changed}
    harness = {lid: f"{stack}-{lid}" for lid, res in merge["Resources"].items() if "Type" not in res}
    everything = Bootstrap(endpoint, region).create_all(merge, extra_refs=harness, existing={**stack_created, **keep})
    mine = {
        lid: {"logical_id": c.logical_id, "type": c.type, "ref": c.ref, "attrs": c.attrs}
        for lid, c in everything.items()
        if lid in rest
    }
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps({"digests": now, "created": mine}).encode())
    return everything, sorted(rest - set(keep))


def function_environment(
    merge: Mapping[str, Any], created: Mapping[str, Any], params: Mapping[str, Any], region: str
) -> dict[str, str]:
    """The functions' environment (Globals) resolved against the stack: the tables, queues and pool the steps use."""
    defaults = {k: v.get("Default") for k, v in merge["Parameters"].items()}
    resolver = Resolver({**defaults, **params}, region)
    resolver.created.update(created)
    variables = merge["Globals"]["Function"]["Environment"]["Variables"]
    out = {}
    for name, value in variables.items():
        try:
            out[name] = str(resolver.resolve(value))
        except KeyError:
            continue  # a harness-only value (a function's name): the steps do not read it
    return out


# ---------------------------------------------------------------------------------------------- after the stack
def activate_rule_set(ses: Any, rule_set: str, rule_name: str) -> str:
    """Make the shared set active (if it is not) and confirm this campaign's rule is in it."""
    changed = activate(ses, rule_set)
    names = [r["Name"] for r in rules(ses, rule_set)]
    if rule_name not in names:
        raise DeployError(f"receipt rule {rule_name} is not in the rule set {rule_set} (rules: {', '.join(names)})")
    others = len(names) - 1
    state = "activated" if changed else "already active"
    return (
        f"receipt rule set {rule_set} {state}, with rule {rule_name} ({others} other campaigns' or account rules kept)"
    )


def sender_notifications(ses: Any, identity: str, topic_arn: str) -> str:
    """Bounce and complaint notifications of the sender identity go to the stack's feedback topic."""
    attrs = ses.get_identity_notification_attributes(Identities=[identity]).get("NotificationAttributes", {})
    current = attrs.get(identity, {})
    todo = [kind for kind in ("Bounce", "Complaint") if current.get(f"{kind}Topic") != topic_arn]
    for kind in todo:
        ses.set_identity_notification_topic(Identity=identity, NotificationType=kind, SnsTopic=topic_arn)
    line = f"bounce and complaint notifications of {identity} -> {topic_arn}" + ("" if todo else " (already set)")
    # An identity has one topic per kind: a second stack sending from the same domain takes them over.
    previous = {str(current[f"{k}Topic"]) for k in todo if current.get(f"{k}Topic")}
    if previous:
        line += f"\n  warning: they went to {', '.join(sorted(previous))}; stacks sending from one domain share them"
    return line


def admin_user(idp: Any, pool_id: str, *, email: str, username: str, temporary_password: str | None) -> str:
    """The first admin staff user: created once (Cognito mails the invitation on AWS), kept in the admin group."""
    try:
        idp.admin_get_user(UserPoolId=pool_id, Username=username)
        created = False
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "UserNotFoundException":
            raise
        kwargs: dict[str, Any] = {
            "UserPoolId": pool_id,
            "Username": username,
            "UserAttributes": [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
            "DesiredDeliveryMediums": ["EMAIL"],
        }
        if temporary_password:
            kwargs["TemporaryPassword"] = temporary_password
        idp.admin_create_user(**kwargs)
        created = True
    groups = [g["GroupName"] for g in idp.admin_list_groups_for_user(UserPoolId=pool_id, Username=username)["Groups"]]
    if "admin" not in groups:
        idp.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName="admin")
    if not created:
        return f"admin staff user {username} exists"
    how = f"temporary password {temporary_password}" if temporary_password else "Cognito mails the invitation"
    return f"admin staff user {username} created ({how}; a new password is set at first sign-in)"


def push_library(campaign: Campaign, root: Path) -> str:
    """The seed library into the stack's templates table (models bound by the caller); unchanged ones stay."""
    from chalicelib.library.seed import push_seed

    pushed = push_seed(campaign, root / "templates" / campaign.name, author="replydesk deploy")
    changed = sum(p.changed for p in pushed)
    return f"template library pushed: {changed} of {len(pushed)} templates new or changed"


# ---------------------------------------------------------------------------------------------- DNS
@dataclass(frozen=True)
class DnsRecord:
    name: str
    type: str  # MX, TXT, CNAME
    value: str
    why: str

    def line(self) -> str:
        return f"{self.name:<48} {self.type:<5} {self.value}   ; {self.why}"


def dns_records(campaign: Campaign, region: str, *, verification_token: str, dkim_tokens: list[str]) -> list[DnsRecord]:
    """What the domain owner adds: SES's proof of the sender domain, DKIM, SPF, DMARC, and the inbound MX."""
    sender = campaign.sender_email.split("@", 1)[1].lower()
    out = [DnsRecord(f"_amazonses.{sender}", "TXT", verification_token, "SES domain verification")]
    out += [
        DnsRecord(f"{t}._domainkey.{sender}", "CNAME", f"{t}.dkim.amazonses.com", "DKIM signing key")
        for t in dkim_tokens
    ]
    out += [
        DnsRecord(sender, "TXT", "v=spf1 include:amazonses.com ~all", "SPF: SES may send for the domain"),
        DnsRecord(f"_dmarc.{sender}", "TXT", "v=DMARC1; p=quarantine", "DMARC policy"),
        DnsRecord(
            campaign.inbound_domain, "MX", f"10 inbound-smtp.{region}.amazonaws.com", "mail to the campaign reaches SES"
        ),
    ]
    return out


def domain_tokens(ses: Any, domain: str) -> tuple[str, list[str]]:
    """The domain's verification and DKIM tokens. Asking again is how to read them: SES hands a pending or
    verified domain its same tokens (moto's read-back calls answer other ones than it issued)."""
    token = str(ses.verify_domain_identity(Domain=domain)["VerificationToken"])
    dkim = [str(t) for t in ses.verify_domain_dkim(Domain=domain)["DkimTokens"]]
    return token, dkim


Resolve = Callable[[str, str], list[str]]


def dnspython_resolver(nameserver: str | None = None) -> Resolve:
    """Look records up with dnspython (the system's resolver, or `host[:port]`); a missing name gives []."""
    import dns.exception
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=nameserver is None)
    if nameserver is not None:
        host, _, port = nameserver.partition(":")
        resolver.nameservers = [host]
        resolver.port = int(port or 53)
    resolver.lifetime = 5.0

    def resolve(name: str, rtype: str) -> list[str]:
        try:
            answer = resolver.resolve(name, rtype)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
            return []
        except dns.exception.Timeout:
            return []
        if rtype == "TXT":
            return [b"".join(r.strings).decode(errors="replace") for r in answer]
        if rtype == "MX":
            return [f"{r.preference} {str(r.exchange).rstrip('.')}" for r in answer]
        return [str(r).rstrip(".") for r in answer]

    return resolve


def present(record: DnsRecord, found: list[str]) -> bool:
    """Whether what DNS answers carries the record (SPF and DMARC: any policy of that kind with what we need)."""
    norm = [f.strip().strip('"').lower().rstrip(".") for f in found]
    want = record.value.lower()
    if record.type == "TXT" and want.startswith("v=spf1"):
        return any(f.startswith("v=spf1") and "include:amazonses.com" in f for f in norm)
    if record.type == "TXT" and want.startswith("v=dmarc1"):
        return any(f.startswith("v=dmarc1") for f in norm)
    if record.type == "MX":
        host = want.split()[-1]
        return any(f.split()[-1] == host for f in norm)
    if record.type == "TXT":  # SES's verification token: exact, case included
        return record.value in [f.strip().strip('"') for f in found]
    return want in norm


def check_dns(records: list[DnsRecord], resolve: Resolve) -> list[DnsRecord]:
    """The records DNS does not answer with yet."""
    return [r for r in records if not present(r, resolve(r.name, r.type))]


# ---------------------------------------------------------------------------------------------- the whole deploy
@dataclass
class Where:
    """One account and region: AWS (endpoint None) or a moto endpoint."""

    client: Client
    region: str
    account: str
    endpoint: str | None = None


@dataclass
class Request:
    campaign: str
    stage: str
    out: Path
    confirm: Callable[[Plan], bool]
    say: Callable[[str], None]
    admin_email: str | None = None
    admin_username: str | None = None
    public_url: str | None = None
    poll: float = 5.0


def deploy(req: Request, where: Where, *, root: Path) -> list[DnsRecord]:
    """Package, change set (shown, then executed if confirmed), then the post-deploy steps; returns the DNS records.

    Raises IncompleteCampaign (nothing packaged) or DeployError (what failed and what to do).
    """
    stack = stack_name(req.campaign, req.stage)
    client, region = where.client, where.region
    ses, cf = client("ses"), client("cloudformation")
    # What the stack is in decides create or update; a state no change set can take is refused first.
    status = stack_status(cf, stack)
    if status is not None and (status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS"):
        raise DeployError(f"stack {stack} is {status}: wait for that operation to end, then deploy again")
    if status == "ROLLBACK_COMPLETE":
        raise DeployError(
            f"stack {stack} failed its creation (ROLLBACK_COMPLETE) and cannot be updated: delete it "
            "(CloudFormation delete-stack; retained tables and buckets stay) and deploy again"
        )
    updating = status is not None and status != "REVIEW_IN_PROGRESS"
    if not updating:
        _refuse_leftovers(client, stack)

    sam_path = package(req.campaign, req.stage, req.out)
    sam = json.loads(sam_path.read_text(encoding="utf-8"))
    merge = json.loads((req.out / "merge.json").read_text(encoding="utf-8"))
    campaign = load_campaign(req.campaign)

    # The shared rule set must exist before the stack adds its rule to it.
    rule_set = shared_rule_set(ses)
    bucket = artifacts_bucket(client, region, where.account)
    if where.endpoint is not None:
        body = emulator_template(sam)
    else:
        code = upload(client, bucket, f"{stack}/deployment.zip", (sam_path.parent / "deployment.zip").read_bytes())
        body = with_code_in_s3(sam, bucket, code)
    key = upload(client, bucket, f"{stack}/template.json", json.dumps(body, sort_keys=True).encode())
    url = f"https://{bucket}.s3.{region}.amazonaws.com/{key}"
    given = {"ReceiptRuleSetName": rule_set}
    if req.public_url is not None:
        given["PublicUrl"] = req.public_url
    if not updating:
        given["CsatSecret"] = secrets.token_hex(32)  # kept across updates: it signs the rating links
        given.setdefault("PublicUrl", "")
    params = parameters(body, given, updating=updating, keep=("CsatSecret", "PublicUrl"))
    plan = create_change_set(cf, stack, url, params, updating=updating, poll=req.poll)
    req.say(plan.text())
    if not plan.empty:
        if not req.confirm(plan):
            cf.delete_change_set(StackName=stack, ChangeSetName=plan.name)
            raise DeployError(f"change set {plan.name} not executed (deleted); nothing changed")
        req.say(f"stack {stack}: {execute(cf, plan, poll=req.poll)}")
    stack_ref = plan.stack_id or stack

    created = {
        lid: adopt(lid, kind, physical, region=region, account=where.account)
        for lid, kind, physical in stack_resources(cf, stack_ref)
    }
    if where.endpoint is not None:
        created, made = create_rest_on_emulator(
            where.endpoint, region, merge, created, client=client, bucket=bucket, stack=stack
        )
        req.say(
            f"emulator: created or updated through the APIs {len(made)} resources moto's CloudFormation skips"
            if made
            else "emulator: what moto's CloudFormation skips exists already"
        )
    env = function_environment(merge, created, {}, region)

    # What CloudFormation cannot do, in order; each step says what it did or that it was done already.
    req.say(activate_rule_set(ses, rule_set, f"{stack}-store"))
    domain = campaign.sender_email.split("@", 1)[1].lower()
    token, dkim = domain_tokens(ses, domain)
    req.say(sender_notifications(ses, domain, env["SES_FEEDBACK_TOPIC_ARN"]))
    names = StackNames(req.campaign, req.stage, region, where.account)
    with _templates_table(names.table("templates"), endpoint=where.endpoint, region=region):
        req.say(push_library(campaign, root))
    if req.admin_email:
        username = req.admin_username or req.admin_email.split("@", 1)[0]
        # Locally nothing mails the invitation, so the temporary password is printed instead.
        temporary = f"Tmp-{secrets.token_hex(6)}-Aa1" if where.endpoint is not None else None
        req.say(
            admin_user(
                client("cognito-idp"),
                env["COGNITO_USER_POOL_ID"],
                email=req.admin_email,
                username=username,
                temporary_password=temporary,
            )
        )
    else:
        req.say("no --admin-email: no admin staff user created (pass it once to create the first one)")
    return dns_records(campaign, region, verification_token=token, dkim_tokens=dkim)


@contextlib.contextmanager
def _templates_table(table: str, *, endpoint: str | None, region: str) -> Iterator[None]:
    """The template model pointed at the stack's table for the push, then back where it was.

    Only this model: the push needs no other, and a process that also serves a stack (the tests'
    session stack) must find its models, and its erasure key source, as its runtime bound them.
    """
    from chalicelib.models import TemplateModel

    meta: Any = TemplateModel.Meta
    saved = (meta.table_name, getattr(meta, "host", None), getattr(meta, "region", None))
    connection = TemplateModel._connection
    meta.table_name, meta.host, meta.region = table, endpoint, region
    TemplateModel._connection = None  # PynamoDB caches its connection per model
    try:
        yield
    finally:
        meta.table_name, meta.host, meta.region = saved
        TemplateModel._connection = connection


def _refuse_leftovers(client: Client, stack: str) -> None:
    """A new stack cannot take names that are taken: tables a deleted stack retained, or a `replydesk local`
    of the same campaign and stage in this emulator. Said before any change set, with what to do."""
    pages = client("dynamodb").get_paginator("list_tables").paginate()
    taken = [n for page in pages for n in page.get("TableNames", []) if n.startswith(f"{stack}-")]
    if taken:
        raise DeployError(
            f"no stack {stack} exists, but its tables do ({', '.join(taken[:3])}{', ...' if len(taken) > 3 else ''}): "
            "kept from a deleted stack (DeletionPolicy: Retain), or made by `replydesk local` in this emulator. "
            "Delete or rename them, or deploy another stage (or into a moto server of its own)."
        )
