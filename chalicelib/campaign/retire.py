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


def archive_bucket(names: StackNames) -> str:
    """Outside the stack on purpose: it must outlive the stack's deletion."""
    return f"{names.prefix}-archive-{names.account}"


def plan(campaign: Campaign, names: StackNames, template: Mapping[str, Any]) -> list[Step]:
    """Every step of retiring the campaign's stack, in order, with what each touches."""
    resources = {lid: r for lid, r in template.get("Resources", {}).items() if "Type" in r}
    kept = sorted(f"{lid} ({r['Type']})" for lid, r in resources.items() if r.get("DeletionPolicy") == "Retain")
    deleted = sorted(f"{lid} ({r['Type']})" for lid, r in resources.items() if r.get("DeletionPolicy") != "Retain")
    archive = archive_bucket(names)
    return [
        Step(
            "stop-intake",
            "stop taking new contacts: set closing.closed in the campaign file; once the stack restarts (local) "
            "or is redeployed, the contact page shows the closing message with where to go next (a post gets "
            f"410), mail to {', '.join(campaign.inbound_addresses)} gets it as a final auto-reply and SMS to "
            f"{campaign.sms.number} as the answer (ack templates that branch on campaign.closed, as scaffolded "
            "ones do); every message is still stored",
            built=True,
            details=(f"closing message: {campaign.closing.message or '(none set: closing.message is required)'}",),
        ),
        Step(
            "open-conversations",
            f"wait until the open conversations are answered, or reassign them (queues: {', '.join(campaign.queues)})",
            built=False,
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
            "(built for the local stack; on AWS it is not)",
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
