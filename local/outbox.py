"""Read what the local stack sent (moto's /moto-api/data.json), for tests, the CLI and the simulator."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from typing import Any


def parse_sent(raw: str) -> EmailMessage:
    msg = email.message_from_string(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _body(msg: EmailMessage, kind: str) -> str:
    part = msg.get_body(preferencelist=(kind,))
    return str(part.get_content()) if part is not None else ""


def sent_emails(data: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in data.get("ses", {}).get("RawMessage", []):
        msg = parse_sent(item["raw_data"])
        out.append(
            {
                "kind": "email",
                "id": item["id"],
                "source": item.get("source"),
                "to": sorted(set(item.get("destinations", []))),
                "subject": str(msg.get("Subject", "")),
                "message_id": str(msg.get("Message-ID", "")).strip("<> "),
                "in_reply_to": str(msg.get("In-Reply-To", "")).strip("<> ") or None,
                "references": str(msg.get("References", "")),
                "auto_submitted": msg.get("Auto-Submitted"),
                "language": msg.get("Content-Language"),
                "text": _body(msg, "plain"),
                "html": _body(msg, "html"),
            }
        )
    return out


def sent_sms(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"kind": "sms", "id": m.get("message_id"), "to": m.get("phone_number"), "text": m.get("message")}
        for m in data.get("sns", {}).get("SMS", [])
    ]
