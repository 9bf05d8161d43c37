"""`replydesk campaign retire`: the plan for ending a campaign, and its archive step (GDPR + analytics export)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.campaign.layout import CampaignLayout
from chalicelib.config import Campaign
from chalicelib.ops.stack import StackNames

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

# The template's resources a stack deletion leaves in place (DeletionPolicy Retain), by type.
_KEPT_NOTE = "kept by the template's DeletionPolicy (retention_days: {days})"


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    what: str
    built: bool  # False: `retire` cannot do this step yet (the README says so)
    details: tuple[str, ...] = ()


def close_intake(layout: CampaignLayout) -> bool:
    """Set `closing.closed: true` in the campaign file, keeping its comments; False if it already was.

    A file without a `closing:` section gets one, with a closing message naming the brand.
    """
    from chalicelib.config import load_campaign

    path = layout.campaign_file
    text = path.read_text(encoding="utf-8")
    campaign = load_campaign(layout.name, layout.campaigns_dir)
    if campaign.closing.closed:
        return False
    if re.search(r"^closing:", text, flags=re.M):
        if re.search(r"^  closed: *(false|no)\b", text, flags=re.M):
            text = re.sub(r"^  closed: *(false|no)\b", "  closed: true", text, count=1, flags=re.M)
        else:
            text = re.sub(r"^closing:.*$", "closing:\n  closed: true", text, count=1, flags=re.M)
    else:
        from chalicelib.campaign.scaffold import closing_messages

        messages = closing_messages(campaign.brand, campaign.languages, indent="    ")
        text = (
            text.rstrip("\n")
            + f"\n\n# Set by `replydesk campaign retire`.\nclosing:\n  closed: true\n  message:\n{messages}\n"
        )
    path.write_text(text, encoding="utf-8")
    load_campaign(layout.name, layout.campaigns_dir)  # still a valid campaign, or ConfigError
    return True


@dataclass(frozen=True, slots=True)
class OpenConversation:
    """One conversation still waiting for staff or the customer, as the open-conversations step lists it."""

    conversation_id: str
    queue: str
    status: str
    due: str | None  # the next deadline: first response if not yet answered, else resolution
    assignee: str | None
    channel: str
    language: str


def open_conversations(campaign: Campaign) -> list[OpenConversation]:
    """Every open conversation (new, open, pending customer), per queue, the earliest due first.

    Queries on the queue index, one per queue and status (models bound to the stack).
    """
    from chalicelib.campaign.winddown import OPEN_STATUSES
    from chalicelib.models import ConversationModel

    out: list[OpenConversation] = []
    for queue in campaign.queues:
        found = []
        for status in OPEN_STATUSES:
            for c in ConversationModel.by_queue.query(queue, ConversationModel.status_due.startswith(f"{status}#")):
                due = c.resolution_due if c.first_response_at else (c.first_response_due or c.resolution_due)
                found.append(
                    OpenConversation(
                        c.conversation_id,
                        queue,
                        c.status,
                        due,
                        c.assignee,
                        c.channel,
                        c.language or campaign.default_language,
                    )
                )
        out += sorted(found, key=lambda o: (o.due or "~", o.conversation_id))
    return out


def fate(
    conv: OpenConversation,
    campaign: Campaign,
    *,
    close: bool,
    queue: str | None,
    assignee: str | None,
    wait: bool = False,
) -> str:
    """What the open-conversations step does to one conversation with these options."""
    moves = [f"queue {queue}"] if queue and queue != conv.queue else []
    moves += [assignee] if assignee and assignee != conv.assignee else []
    said = ["moved to " + " and ".join(moves)] if moves else []
    if close:
        lang = conv.language if conv.language in campaign.closing.messages else campaign.default_language
        by = "SMS" if conv.channel == "sms" else "email"  # a web form is answered by email
        told = f"told the closing message ({lang}) by {by}, then closed"
        said.append(f"if still open after the wait, {told}" if wait else told)
    elif moves:
        said.append("open until staff answer it")
    else:
        said.append("stays open: retire stops here until staff answer it")
    return ", then ".join(said)


def describe(conv: OpenConversation) -> str:
    due = f"due {conv.due[:16].replace('T', ' ')}" if conv.due else "no deadline"
    return f"{conv.conversation_id} ({conv.status.replace('_', ' ')}, {due}, {conv.assignee or 'unassigned'})"


def request(sqs: SQSClient, queue_url: str, action: str, conversation_ids: list[str], **fields: str | None) -> int:
    """Hand each conversation to the stack's events handler (ids and options only); returns how many."""
    from chalicelib.campaign.winddown import CLOSE_ACTION, REASSIGN_ACTION

    if action not in (CLOSE_ACTION, REASSIGN_ACTION):
        raise ValueError(f"unknown retire action {action!r}")
    extra = {k: v for k, v in fields.items() if v}
    for start in range(0, len(conversation_ids), 10):
        chunk = conversation_ids[start : start + 10]
        entries = [
            {"Id": str(i), "MessageBody": json.dumps({"action": action, "conversation_id": cid, **extra})}
            for i, cid in enumerate(chunk)
        ]
        resp = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)  # type: ignore[arg-type]
        if resp.get("Failed"):
            raise RuntimeError(f"the events queue refused {len(resp['Failed'])} requests")
    return len(conversation_ids)


def archive_bucket(names: StackNames) -> str:
    """Outside the stack on purpose: it must outlive the stack's deletion."""
    return f"{names.prefix}-archive-{names.account}"


@dataclass(frozen=True, slots=True)
class OpenOptions:
    """What the open-conversations step does with the work still open."""

    wait: bool = False  # --wait-until-empty: give staff until the timeout to answer
    timeout: str = "1h"
    queue: str | None = None  # --reassign-to
    assignee: str | None = None  # --assign-to
    close: bool = False  # --close: the closing message, then closed

    def summary(self) -> str:
        said = []
        if self.queue or self.assignee:
            said.append(
                "move each to " + " and ".join(x for x in (self.queue and f"queue {self.queue}", self.assignee) if x)
            )
        if self.wait:
            said.append(f"wait up to {self.timeout} for staff to answer them")
        if self.close:
            said.append("tell each one still open the closing message in its language on its channel, then close it")
        if not said:
            return (
                "list them; if any is open, stop here (answer them, or pass --wait-until-empty, --reassign-to, --close)"
            )
        return ", then ".join(said)


def plan(
    campaign: Campaign,
    names: StackNames,
    template: Mapping[str, Any],
    *,
    options: OpenOptions | None = None,
    conversations: list[OpenConversation] | None = None,
    aws: bool = False,
) -> list[Step]:
    """Every step of retiring the campaign's stack, in order, with what each touches.

    `conversations` are the open ones when the stack was asked (None: not asked, e.g. no stack given).
    """
    options = options or OpenOptions()
    resources = {lid: r for lid, r in template.get("Resources", {}).items() if "Type" in r}
    kept = sorted(f"{lid} ({r['Type']})" for lid, r in resources.items() if r.get("DeletionPolicy") == "Retain")
    deleted = sorted(f"{lid} ({r['Type']})" for lid, r in resources.items() if r.get("DeletionPolicy") != "Retain")
    archive = archive_bucket(names)
    messages = campaign.closing.messages
    closing = (
        ", ".join(f"{lang}: {text}" for lang, text in messages.items())
        if messages
        else "(none set: closing.message is required)"
    )
    mail = (
        "mail is bounced by SES (closing.mail: bounce; nothing is acknowledged)"
        if campaign.closing.mail.value == "bounce"
        else f"mail to {', '.join(campaign.inbound_addresses)} gets it as a final auto-reply"
    )
    if conversations is None:
        listed: tuple[str, ...] = (
            "no stack answered, so the open conversations are listed when the step runs "
            "(--endpoint for another local stack, --aws for the deployed one)",
        )
    elif not conversations:
        listed = ("no open conversation",)
    else:
        listed = tuple(
            f"{c.queue}: {describe(c)}: "
            + fate(c, campaign, close=options.close, queue=options.queue, assignee=options.assignee, wait=options.wait)
            for c in conversations
        )
    return [
        Step(
            "stop-intake",
            "stop taking new contacts: set closing.closed in the campaign file; once the stack restarts (local) "
            "or is redeployed, the contact page shows the closing message with where to go next (a post gets "
            f"410), {mail} and SMS to {campaign.sms.number} gets it as the answer (ack templates that branch "
            "on campaign.closed, as scaffolded ones do); every message is still stored",
            built=True,
            details=(f"closing message: {closing}",),
        ),
        Step(
            "open-conversations",
            f"the conversations still open (queues: {', '.join(campaign.queues)}): {options.summary()}",
            built=True,
            details=listed,
        ),
        Step(
            "archive",
            f"export every customer's data (the GDPR export) and the analytics export of every day with "
            f"conversations into s3://{archive}/ (created if missing; not part of the stack)",
            built=True,
            details=(
                f"s3://{archive}/gdpr/<customer_id>.json: one Art. 15 document per customer",
                f"s3://{archive}/analytics/...: conversations and messages per day (bodies only if "
                f"analytics.include_bodies, here {str(campaign.analytics_include_bodies).lower()})",
                f"s3://{archive}/manifest.json: counts, days, when",
            ),
        ),
        Step(
            "delete-stack",
            f"delete the stack {names.prefix}: {len(deleted)} resources go, {len(kept)} stay "
            + ("(CloudFormation delete-stack, waited for)" if aws else "(from the local emulator)"),
            built=True,
            details=(
                *(f"delete {d}" for d in deleted),
                *(f"keep {k}: " + _KEPT_NOTE.format(days=campaign.retention_days) for k in kept),
            ),
        ),
    ]


def plan_text(steps: list[Step]) -> str:
    lines = []
    for i, step in enumerate(steps, 1):
        mark = "" if step.built else "  [not built yet: `retire` stops before this step]"
        lines.append(f"{i}. {step.name}: {step.what}{mark}")
        lines += [f"     - {d}" for d in step.details]
    return "\n".join(lines)


@dataclass
class ArchiveResult:
    bucket: str
    customers: int = 0
    skipped: int = 0  # merged into another customer (exported with it) or with nothing stored
    days: list[date] = field(default_factory=list)
    conversations: int = 0
    messages: int = 0


def _ensure_bucket(s3: S3Client, bucket: str, region: str) -> None:
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError:
        pass
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})  # type: ignore[typeddict-item]


def archive(
    campaign: Campaign,
    names: StackNames,
    *,
    s3: S3Client,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ArchiveResult:
    """Export every customer and every day's analytics into the archive bucket (models bound to the stack).

    An operator's job over whole tables (Scans), run once at the end of a campaign; rerunning it
    rewrites the same keys.
    """
    from chalicelib.analytics.export import export_day
    from chalicelib.errors import NotFound
    from chalicelib.gdpr.export import export_customer
    from chalicelib.gdpr.subject import find_subject
    from chalicelib.models import ConversationModel, CustomerModel

    bucket = archive_bucket(names)
    _ensure_bucket(s3, bucket, names.region)
    result = ArchiveResult(bucket=bucket)
    for customer in CustomerModel.scan():
        if getattr(customer, "merged_into", None):
            result.skipped += 1
            continue
        try:
            document = export_customer(
                find_subject(customer_id=customer.customer_id), campaign=campaign.name, now=now()
            )
        except NotFound:
            result.skipped += 1
            continue
        s3.put_object(
            Bucket=bucket,
            Key=f"gdpr/{customer.customer_id}.json",
            Body=json.dumps(document, ensure_ascii=False, indent=1).encode(),
            ContentType="application/json",
        )
        result.customers += 1
    days = sorted({date.fromisoformat(str(c.updated_at)[:10]) for c in ConversationModel.scan() if c.updated_at})
    for day in days:
        done = export_day(day, s3=s3, bucket=bucket, include_bodies=campaign.analytics_include_bodies, now=now())
        result.conversations += done.conversations
        result.messages += done.messages
    result.days = days
    manifest = {
        "campaign": campaign.name,
        "stage": names.stage,
        "archived_at": now().isoformat(timespec="seconds"),
        "customers": result.customers,
        "skipped_customers": result.skipped,
        "days": [d.isoformat() for d in days],
        "conversations": result.conversations,
        "messages": result.messages,
    }
    s3.put_object(Bucket=bucket, Key="manifest.json", Body=json.dumps(manifest, indent=2).encode())
    return result


@dataclass(frozen=True, slots=True)
class StackDeletion:
    """What deleting a CloudFormation stack did: whether it existed, and the resources its policy kept."""

    existed: bool
    deleted: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()  # "LogicalId (Type): physical id"
    status: str = ""


def delete_cloudformation_stack(
    cfn: Any,  # a boto3 CloudFormation client (its stubs are not a dependency)
    stack_name: str,
    template: Mapping[str, Any],
    *,
    delay: int = 10,
    max_attempts: int = 360,
) -> StackDeletion:
    """`delete_stack`, then wait until it is gone; the template's `DeletionPolicy: Retain` resources stay.

    A stack that does not exist (already deleted) is not an error: rerunning the step does nothing.
    """
    from botocore.exceptions import ClientError, WaiterError

    try:
        resources = [
            r
            for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name)
            for r in page["StackResourceSummaries"]
        ]
    except ClientError as exc:
        if "does not exist" in str(exc.response.get("Error", {}).get("Message", "")):
            return StackDeletion(existed=False)
        raise
    declared = template.get("Resources", {})
    kept: list[str] = []
    deleted: list[str] = []
    for r in resources:
        lid = r["LogicalResourceId"]
        label = f"{lid} ({r['ResourceType']}): {r.get('PhysicalResourceId', '')}"
        (kept if declared.get(lid, {}).get("DeletionPolicy") == "Retain" else deleted).append(label)
    cfn.delete_stack(StackName=stack_name)
    try:
        cfn.get_waiter("stack_delete_complete").wait(
            StackName=stack_name, WaiterConfig={"Delay": delay, "MaxAttempts": max_attempts}
        )
    except WaiterError as exc:
        raise RuntimeError(f"stack {stack_name} was not deleted: {_delete_failures(cfn, stack_name) or exc}") from exc
    return StackDeletion(
        existed=True, deleted=tuple(sorted(deleted)), kept=tuple(sorted(kept)), status="DELETE_COMPLETE"
    )


# SMTP's "mailbox unavailable, delivery not authorised" (RFC 5321 550, RFC 3463 5.7.1): permanent, so
# senders' servers do not retry and their users read the message.
BOUNCE_SMTP_CODE = "550"
BOUNCE_STATUS_CODE = "5.7.1"


def bounce_action(campaign: Campaign) -> dict[str, Any] | None:
    """The receipt rule's SES `BounceAction` of a closed campaign with `closing.mail: bounce`, or None.

    It follows the S3 action, so the mail is still stored raw (and by our processing, without an ack);
    the bounce's text is the default language's closing message (SES sends one text to every sender).
    """
    closing = campaign.closing
    if not closing.closed or closing.mail.value != "bounce":
        return None
    text = closing.message + (f" {closing.next_url}" if closing.next_url else "")
    return {
        "BounceAction": {
            "SmtpReplyCode": BOUNCE_SMTP_CODE,
            "StatusCode": BOUNCE_STATUS_CODE,
            "Message": text,
            "Sender": campaign.sender_email,  # SES sends the bounce from this verified address
        }
    }


def _delete_failures(cfn: Any, stack_name: str) -> str:
    """Why CloudFormation could not delete the stack: each resource that failed, with its reason."""
    try:
        events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
    except Exception:  # noqa: BLE001 - the reason is a courtesy; the failure itself is already known
        return ""
    failed = [
        f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"
        for e in events
        if e.get("ResourceStatus") == "DELETE_FAILED" and e["LogicalResourceId"] != stack_name
    ]
    return "; ".join(dict.fromkeys(failed[:10]))
