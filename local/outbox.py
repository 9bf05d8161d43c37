"""Read what the local stack sent (moto's /moto-api/data.json), for tests, the CLI and the simulator."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

# The local stack subscribes an SQS queue of this name (plus campaign and stage) to the escalation
# topic, as supervisors' email/SMS subscriptions would be on AWS; nothing consumes it.
ESCALATION_INBOX_SUFFIX = "local-escalation-inbox"


def parse_sent(raw: str) -> EmailMessage:
    # moto hands the raw message back decoded as text; parsed as a string, an 8bit UTF-8 part's bytes
    # would be read as ASCII ("ä" -> "\ufffd"), so it is parsed as the bytes SES was given.
    msg = email.message_from_bytes(raw.encode("utf-8", "surrogateescape"), policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _body(msg: EmailMessage, kind: str) -> str:
    part = msg.get_body(preferencelist=(kind,))
    return str(part.get_content()) if part is not None else ""


def _recipients(destinations: list[str]) -> tuple[list[str], list[str]]:
    """Bare addresses and display forms, each recipient once (SES lists both `a@b` and `Name <a@b>`)."""
    names: dict[str, str] = {}
    # policy.default's header parsing decodes RFC 2047 encoded words in display names.
    for raw in destinations:
        header = email.message_from_string(f"To: {raw}\n\n", policy=policy.default)["To"]
        for name, address in getaddresses([str(header)]):
            if address and (address.lower() not in names or name):
                names[address.lower()] = f"{name} <{address}>" if name else address
    return sorted(names), [names[a] for a in sorted(names)]


def _date(msg: EmailMessage) -> str | None:
    try:
        return parsedate_to_datetime(str(msg["Date"])).astimezone(UTC).isoformat() if msg["Date"] else None
    except (TypeError, ValueError):
        return None


# Parsed sent mail by SES message id: a sent message never changes, and readers (the tests above all)
# ask for the whole outbox again and again while it only grows.
_PARSED: dict[str, tuple[str, dict[str, Any]]] = {}


def sent_emails(data: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in data.get("ses", {}).get("RawMessage", []):
        raw = item["raw_data"]
        cached = _PARSED.get(item["id"])
        if cached is None or cached[0] != raw:
            cached = _PARSED[item["id"]] = (raw, _sent_email(item))
        out.append(dict(cached[1]))
    return out


def _sent_email(item: dict[str, Any]) -> dict[str, Any]:
    msg = parse_sent(item["raw_data"])
    to, recipients = _recipients(list(item.get("destinations", [])))
    return {
        "kind": "email",
        "id": item["id"],
        "at": _date(msg),
        "source": item.get("source"),
        "to": to,
        "recipients": recipients,
        "subject": str(msg.get("Subject", "")),
        "message_id": str(msg.get("Message-ID", "")).strip("<> "),
        "in_reply_to": str(msg.get("In-Reply-To", "")).strip("<> ") or None,
        "references": str(msg.get("References", "")),
        "auto_submitted": msg.get("Auto-Submitted"),
        "language": msg.get("Content-Language"),
        "text": _body(msg, "plain"),
        "html": _body(msg, "html"),
    }


def sent_sms(data: dict[str, Any]) -> list[dict[str, Any]]:
    # moto keeps no send time for SMS: "at" is None, and the list is in sending order.
    return [
        {"kind": "sms", "id": m.get("message_id"), "at": None, "to": m.get("phone_number"), "text": m.get("message")}
        for m in data.get("sns", {}).get("SMS", [])
    ]


def escalations(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Notifications published to the escalation topic, as the local escalation inbox received them."""
    out: dict[str, dict[str, Any]] = {}
    for m in data.get("sqs", {}).get("Message", []):
        try:
            envelope = json.loads(m.get("body") or "")
        except ValueError:
            continue
        topic = str(envelope.get("TopicArn", "")) if isinstance(envelope, dict) else ""
        if not topic.endswith("-escalation"):
            continue
        message = envelope.get("Message")
        # moto may hand the SNS Message over as an object rather than a string.
        if isinstance(message, dict):
            detail, message = message, json.dumps(message)
        else:
            try:
                detail = json.loads(message or "")
            except ValueError:
                detail = {}
        sent = m.get("sent_timestamp")
        out.setdefault(
            str(envelope.get("MessageId")),
            {
                "kind": "escalation",
                "id": envelope.get("MessageId"),
                "at": envelope.get("Timestamp")
                or (datetime.fromtimestamp(sent / 1000, UTC).isoformat() if isinstance(sent, int | float) else None),
                "to": topic.rsplit(":", 1)[-1],
                "subject": envelope.get("Subject") or "",
                "text": message or "",
                "detail": detail if isinstance(detail, dict) else {},
            },
        )
    return sorted(out.values(), key=lambda e: str(e["at"] or ""))


def outbox(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Everything the stack sent: mail (by date), then SMS (moto's order; it keeps no time), escalations."""
    mails = sorted(sent_emails(data), key=lambda m: str(m["at"] or ""))
    return [*mails, *sent_sms(data), *escalations(data)]


def _short_time(at: str | None) -> str:
    if not at:
        return "--:--:--"
    try:
        return datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(UTC).strftime("%H:%M:%S")
    except ValueError:
        return at[:8]


def _first_words(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def summary_line(item: dict[str, Any], width: int = 72) -> str:
    """One line for a person: time (UTC), channel, recipient(s), then the subject or the first words."""
    kind = str(item.get("kind"))
    if kind == "email":
        to = ", ".join(item.get("recipients") or item.get("to") or [])
        what = str(item.get("subject") or "") or _first_words(str(item.get("text") or ""), width)
    elif kind == "escalation":
        d = item.get("detail") or {}
        to = str(item.get("to"))
        what = str(item.get("subject") or "") or f"{d.get('type', '')} {d.get('conversation_id', '')}".strip()
    else:
        to = str(item.get("to"))
        what = _first_words(str(item.get("text") or ""), width)
    return f"{_short_time(item.get('at'))}  {kind:<10}  {to}  {what}"


def full_text(item: dict[str, Any]) -> str:
    """The summary line, then every field and the whole text, indented (for `outbox --full`)."""
    lines = [summary_line(item)]
    for key in ("id", "source", "message_id", "in_reply_to", "references", "auto_submitted", "language"):
        if item.get(key):
            lines.append(f"    {key}: {item[key]}")
    body = str(item.get("text") or "")
    lines.extend("    | " + line for line in body.splitlines())
    return "\n".join(lines)
