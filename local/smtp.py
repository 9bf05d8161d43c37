"""A real SMTP server (aiosmtpd) doing SES inbound's job locally: store raw MIME in S3, notify SNS.

Verdicts are GRAY, as SES reports when it cannot decide, unless the message carries the test
harness header `X-Replydesk-Test-Verdicts: spf=FAIL; dkim=PASS; ...` (never trusted on AWS: SES sets
the verdicts there, and this header means nothing to our code).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger("replydesk.local.smtp")

SES_MAX_BYTES = 40 * 1024 * 1024  # SES receiving limit, headers included
VERDICT_HEADER = "X-Replydesk-Test-Verdicts"
VERDICTS = ("spf", "dkim", "dmarc", "spam", "virus")


def ses_message_id() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex[:8]


def receipt_notification(
    raw: bytes,
    *,
    mail_from: str,
    recipients: list[str],
    message_id: str,
    bucket: str,
    key: str,
    topic_arn: str,
    now: datetime,
) -> dict[str, Any]:
    """The SES receipt notification for an S3 action (SES docs, 'notification contents')."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    verdicts = dict.fromkeys(VERDICTS, "GRAY")
    for part in str(headers.get(VERDICT_HEADER, "")).split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() in verdicts and value.strip():
            verdicts[name.strip().lower()] = value.strip().upper()

    def addresses(name: str) -> list[str]:
        value = headers.get(name)
        return [str(value)] if value else []

    ts = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "notificationType": "Received",
        "mail": {
            "timestamp": ts,
            "source": mail_from,
            "messageId": message_id,
            "destination": recipients,
            **_capped_headers([{"name": k, "value": str(v)} for k, v in headers.items()]),
            "commonHeaders": {
                "returnPath": mail_from,
                "from": addresses("From"),
                "date": str(headers.get("Date", "")),
                "to": addresses("To"),
                "messageId": str(headers.get("Message-ID", "")),
                "subject": str(headers.get("Subject", "")),
            },
        },
        "receipt": {
            "timestamp": ts,
            "processingTimeMillis": 1,
            "recipients": recipients,
            **{f"{v}Verdict": {"status": verdicts[v]} for v in VERDICTS},
            "action": {
                "type": "S3",
                "topicArn": topic_arn,
                "bucketName": bucket,
                "objectKeyPrefix": "raw/email/",
                "objectKey": key,
            },
        },
    }


SES_HEADERS_CAP = 10 * 1024


def _capped_headers(headers: list[dict[str, str]]) -> dict[str, Any]:
    """SES cuts `mail.headers` past 10 KB and says so; it also keeps the notification within SNS's 256 KB."""
    kept: list[dict[str, str]] = []
    size = 2
    for h in headers:
        size += len(json.dumps(h)) + 2
        if size > SES_HEADERS_CAP:
            return {"headersTruncated": True, "headers": kept}
        kept.append(h)
    return {"headersTruncated": False, "headers": kept}


class SesInbound:
    """aiosmtpd handler: accept the campaign's recipients, then do what the receipt rule does.

    With `ses`, mail to another campaign in the same emulator is accepted too and handled by that
    campaign's rule in the region's active rule set (its bucket, its topic), as SES inbound does.
    """

    def __init__(
        self,
        *,
        s3: Any,
        sns: Any,
        bucket: str,
        topic_arn: str,
        recipients: list[str],
        domain: str,
        ses: Any = None,
    ) -> None:
        self.s3 = s3
        self.sns = sns
        self.bucket = bucket
        self.topic_arn = topic_arn
        self.recipients = {r.lower() for r in recipients}
        self.domain = domain.lower()
        self.ses = ses
        self.received = 0

    def _other_rule(self, address: str) -> tuple[str, str] | None:
        """(bucket, topic) of the active rule set's enabled S3 rule for an address not this campaign's."""
        if self.ses is None:
            return None
        address = address.lower()
        for rule in self.ses.describe_active_receipt_rule_set().get("Rules", []):
            wanted = {r.lower() for r in rule.get("Recipients", [])}
            if not rule.get("Enabled") or not (address in wanted or address.rpartition("@")[2] in wanted):
                continue
            for action in rule.get("Actions", []):
                s3 = action.get("S3Action")
                if s3 and s3.get("TopicArn"):
                    return str(s3["BucketName"]), str(s3["TopicArn"])
        return None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() not in self.recipients and self._other_rule(address) is None:
            return "550 5.1.1 Recipient address rejected: not a mailbox of this campaign"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if len(raw) > SES_MAX_BYTES:
            return "552 5.3.4 Message size exceeds fixed maximum message size"
        loop = asyncio.get_running_loop()
        message_id = await loop.run_in_executor(
            None, self.deliver, raw, envelope.mail_from or "", list(envelope.rcpt_tos)
        )
        return f"250 Ok: queued as {message_id}"

    def deliver(self, raw: bytes, mail_from: str, recipients: list[str]) -> str:
        ours = [r for r in recipients if r.lower() in self.recipients]
        theirs: dict[tuple[str, str], list[str]] = {}
        for r in recipients:
            if r.lower() not in self.recipients:
                route = self._other_rule(r)
                if route is not None:
                    theirs.setdefault(route, []).append(r)
        # One stored copy and one notification per rule that matched, as SES runs each matching rule.
        ids = [self._deliver(raw, mail_from, rcpts, *route) for route, rcpts in theirs.items()]
        if ours or not ids:
            ids.insert(0, self._deliver(raw, mail_from, ours or recipients, self.bucket, self.topic_arn))
        return ids[0]

    def _deliver(self, raw: bytes, mail_from: str, recipients: list[str], bucket: str, topic_arn: str) -> str:
        message_id = ses_message_id()
        key = f"raw/email/{message_id}"
        # Raw first, exactly as SES's S3 action: the notification only points at the object.
        self.s3.put_object(Bucket=bucket, Key=key, Body=raw)
        note = receipt_notification(
            raw,
            mail_from=mail_from,
            recipients=recipients,
            message_id=message_id,
            bucket=bucket,
            key=key,
            topic_arn=topic_arn,
            now=datetime.now(UTC),
        )
        self.sns.publish(TopicArn=topic_arn, Message=json.dumps(note), Subject="Amazon SES Email Receipt")
        self.received += 1
        return message_id


def start_smtp(handler: SesInbound, port: int = 0) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=port, data_size_limit=SES_MAX_BYTES)
    if port == 0:
        # aiosmtpd needs a concrete port; take a free one from the OS.
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            controller.port = s.getsockname()[1]
    controller.start()
    return controller
