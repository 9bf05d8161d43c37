"""`replydesk workflow`: a conversation's SLA timeline (deadlines, breaches, follow-ups) from the staff API."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.parse
from datetime import UTC, datetime
from typing import Any

from local.endpoints import ENV_API, StackUnavailable, api_url, get_json

ENV_USER = "REPLYDESK_STAFF_USER"
ENV_PASSWORD = "REPLYDESK_STAFF_PASSWORD"  # noqa: S105 - the name of the variable, not a password

# What each timeline kind means to a person reading the terminal (chalicelib.workflow.TimelineKind).
KIND_TEXT = {
    "created": "conversation opened",
    "first_response_due": "first response due",
    "resolution_due": "resolution due",
    "first_response": "first staff response",
    "sla_breached": "SLA breached",
    "clock_paused": "clock paused (waiting for the customer)",
    "clock_resumed": "clock resumed (the customer wrote)",
    "follow_up_scheduled": "follow-up scheduled",
    "follow_up_sent": "follow-up sent",
    "auto_resolved": "auto-resolved (no answer after the follow-up)",
    "resolved": "resolved",
    "reopened": "reopened",
    "reprioritised": "reprioritised",
}


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    show = sub.add_parser(
        "show",
        help="the timeline of one conversation: deadlines and their state, breaches, pauses, follow-ups",
        description="Signs in as a staff member (POST /api/auth/login) and reads GET /api/conversations/{id} "
        "of the running local stack. Without --user the local stack's demo agent is used.",
    )
    show.add_argument("reference", metavar="RD-XXXXXX", help="the conversation's reference")
    show.add_argument("--api", default=None, help=f"the stack's API (default: ${ENV_API} or http://127.0.0.1:8000)")
    show.add_argument("--user", default=None, help=f"staff username (default: ${ENV_USER} or the local 'agent')")
    show.add_argument("--password", default=None, help=f"staff password (default: ${ENV_PASSWORD}, or the demo one)")
    show.add_argument("--json", action="store_true", help="print the API's JSON as it is")
    show.set_defaults(func=show_timeline)


def _clock(at: Any) -> str:
    text = str(at or "")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return text


def _first_words(text: Any, width: int = 60) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= width else flat[: width - 1].rsplit(" ", 1)[0] + "…"


def _entry_text(entry: dict[str, Any]) -> str:
    """One timeline entry: a clock entry (deadline, breach, pause…) or a message, ack or note."""
    kind = str(entry.get("kind"))
    if kind in ("message", "ack", "note"):
        channel = entry.get("channel") or ""
        if kind == "ack":
            return f"acknowledgement sent ({channel})"
        if kind == "note":
            return f"note by {entry.get('sent_by') or 'staff'}: {_first_words(entry.get('text'))}"
        if entry.get("direction") == "in":
            return f"customer wrote ({channel}): {_first_words(entry.get('text'))}"
        return f"sent by {entry.get('sent_by') or 'staff'} ({channel}): {_first_words(entry.get('text'))}"
    detail = str(entry.get("detail") or "")
    text = KIND_TEXT.get(kind, kind.replace("_", " "))
    return text + (f"  ({detail})" if detail else "")


def render(view: dict[str, Any]) -> str:
    """The conversation's header line, then one line per timeline entry, oldest first (times in UTC)."""
    facts = [
        f"status {view.get('status')}",
        f"queue {view.get('queue')}",
        f"urgency {view.get('urgency')}",
        f"channel {view.get('channel')}",
    ]
    if view.get("topic"):
        facts.append(f"topic {view['topic']}")
    lines = [f"{view.get('reference') or view.get('conversation_id')}  " + ", ".join(facts)]
    if view.get("reasons"):
        lines.append("  why: " + "; ".join(str(r) for r in view["reasons"]))
    for entry in view.get("timeline") or []:
        lines.append(f"  {_clock(entry.get('at'))}  {_entry_text(entry)}")
    messages = view.get("messages") or []
    if messages:
        inbound = sum(1 for m in messages if m.get("direction") == "in")
        lines.append(f"  messages: {inbound} from the customer, {len(messages) - inbound} sent")
    return "\n".join(lines)


def _credentials(ns: argparse.Namespace) -> tuple[str, str]:
    user = ns.user or os.environ.get(ENV_USER)
    password = ns.password or os.environ.get(ENV_PASSWORD)
    if user and password:
        return user, password
    from local.stack import DEMO_STAFF  # the local stack's demo users; imported only when needed

    demo = {u.username: u.password for u in DEMO_STAFF}
    user = user or "agent"
    return user, password or demo.get(user, "")


def show_timeline(ns: argparse.Namespace) -> int:
    base = api_url(ns.api)
    user, password = _credentials(ns)
    url = f"{base}/api/conversations/{urllib.parse.quote(ns.reference.strip(), safe='')}"
    try:
        tokens = get_json(f"{base}/api/auth/login", body={"username": user, "password": password}, timeout=15)
        if not isinstance(tokens, dict) or "id_token" not in tokens:
            print(f"replydesk workflow: signing in as {user!r} needs a new password first", file=sys.stderr)
            return 1
        view = get_json(url, headers={"Authorization": f"Bearer {tokens['id_token']}"}, timeout=15)
    except StackUnavailable as exc:
        if exc.problem.startswith("HTTP 404") and exc.url == url:
            print(f"replydesk workflow: no conversation {ns.reference} at {base}", file=sys.stderr)
        elif exc.problem.startswith(("HTTP 401", "HTTP 403")):
            print(f"replydesk workflow: staff sign-in as {user!r} refused ({exc.problem})", file=sys.stderr)
        else:
            print(f"replydesk workflow: {exc.hint()}", file=sys.stderr)
        return 1
    if ns.json:
        print(json.dumps(view, ensure_ascii=False, indent=2))
    else:
        print(render(view))
    return 0
