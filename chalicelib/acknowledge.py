"""The acknowledgement: the one automatic first reply per conversation, on the customer's channel."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.config import Campaign
from chalicelib.errors import DeliveryError, TransientError
from chalicelib.render import TemplateStore

if TYPE_CHECKING:
    from datetime import datetime

    from mypy_boto3_ses import SESClient

_RE_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|réf|ref|rif|vs|odp)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class OutboundEmail:
    """A composed email, ready for SES, with the ids threading needs."""

    message_id: str  # without angle brackets
    subject: str
    to: str
    raw: bytes
    template: str
    language: str
    text: str
    template_id: str = ""
    template_version: int = 0


def new_message_id(campaign: Campaign) -> str:
    return f"{uuid.uuid4().hex}@{campaign.message_id_domain}"


def reply_subject(original: str, reference: str) -> str:
    """`Re: <original> [RD-…]` with one `Re:` and the reference token once, however long the thread."""
    token = f"[{reference}]"
    base = _RE_PREFIX.sub("", original or "").replace(token, "").strip()
    base = re.sub(r"\s{2,}", " ", base)
    return f"Re: {base} {token}".strip() if base else f"Re: {token}"


def template_context(
    *,
    campaign: Campaign,
    customer_name: str,
    reference: str,
    language: str,
    topic: str | None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Plain values only: templates are untrusted and rendered in a sandbox."""
    topic_label = campaign.topic_label(topic, language)
    return {
        "customer": {"name": customer_name, "language": language},
        "conversation": {"reference": reference, "topic": topic or "unknown", "topic_label": topic_label},
        "campaign": {
            "brand": campaign.brand,
            "sender_name": campaign.sender_name,
            "sender_email": campaign.sender_email,
            "sms_number": campaign.sms.number,
            # A retired campaign's acks carry the closing message instead (templates branch on it).
            "closed": campaign.closing.closed,
            "closing_message": campaign.closing.message_for(language),
            "closing_url": campaign.closing.next_url or "",
        },
        "faq": campaign.faq.get(topic or "", ""),
        **(extra or {}),
    }


def compose_email(
    *,
    purpose: str,
    campaign: Campaign,
    templates: TemplateStore,
    to: str,
    to_name: str,
    language: str,
    context: Mapping[str, Any],
    now: datetime,
    subject: str | None = None,
    in_reply_to: str | None = None,
    references: tuple[str, ...] = (),
    auto_submitted: bool = True,
    message_id: str | None = None,
) -> OutboundEmail:
    """Render text + HTML parts and build the MIME message (RFC 3834 headers for automatic mail).

    `message_id` (without brackets) is given by the outbox: derived from the effect id, so a repeated
    send carries the same Message-ID and the customer's mail client sees one message.
    """
    text = templates.render(purpose, "email", "txt", language, context)
    html = templates.render(purpose, "email", "html", text.language, context)
    if subject is None:
        subject = templates.render(f"{purpose}-subject", "email", "txt", text.language, context).text.strip()
    message_id = message_id or new_message_id(campaign)
    msg = EmailMessage()
    msg["From"] = Address(display_name=campaign.sender_name, addr_spec=campaign.sender_email)
    msg["To"] = Address(display_name=to_name, addr_spec=to) if to_name else to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
        refs = [*[r for r in references if r != in_reply_to][-20:], in_reply_to]
        msg["References"] = " ".join(f"<{r}>" for r in refs)
    if auto_submitted:
        # RFC 3834: mark automatic replies so well-behaved autoresponders stay silent (no mail loops).
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Loop"] = campaign.sender_email
    msg.set_content(text.text)
    msg.add_alternative(html.text, subtype="html")
    msg["Content-Language"] = text.language  # after the body: set_content drops Content-* headers
    return OutboundEmail(
        message_id=message_id,
        subject=subject,
        to=to,
        raw=msg.as_bytes(),
        template=text.template,
        language=text.language,
        text=text.text,
        template_id=text.template_id,
        template_version=text.version,
    )


def send_email(email: OutboundEmail, *, ses: SESClient, campaign: Campaign) -> str:
    """Send through SES; returns the SES message id. Throttling is retryable, a rejection is not."""
    try:
        resp = ses.send_raw_email(Source=campaign.sender_email, Destinations=[email.to], RawMessage={"Data": email.raw})
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("Throttling", "ThrottlingException", "ServiceUnavailable", "InternalFailure"):
            raise TransientError("SES is throttling or unavailable") from exc
        raise DeliveryError(f"SES refused the message: {code}") from exc
    return resp["MessageId"]
