"""`replydesk workflow`: a conversation's SLA timeline (deadlines, breaches, follow-ups) from the local stack."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from datetime import UTC, datetime
from typing import Any

from local.endpoints import ENV_API, StackUnavailable, api_url, get_json

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
        description="Reads GET /conversations/{id} of the running local stack (on AWS that route needs IAM).",
    )
    show.add_argument("reference", metavar="RD-XXXXXX", help="the conversation's reference")
    show.add_argument("--api", default=None, help=f"the stack's API (default: ${ENV_API} or http://127.0.0.1:8000)")
    show.add_argument("--json", action="store_true", help="print the API's JSON as it is")
    show.set_defaults(func=show_timeline)


def _clock(at: Any) -> str:
    text = str(at or "")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return text


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
        kind = str(entry.get("kind"))
        detail = str(entry.get("detail") or "")
        text = KIND_TEXT.get(kind, kind.replace("_", " "))
        lines.append(f"  {_clock(entry.get('at'))}  {text}" + (f"  ({detail})" if detail else ""))
    messages = view.get("messages") or []
    if messages:
        inbound = sum(1 for m in messages if m.get("direction") == "in")
        lines.append(f"  messages: {inbound} from the customer, {len(messages) - inbound} sent")
    return "\n".join(lines)


def show_timeline(ns: argparse.Namespace) -> int:
    base = api_url(ns.api)
    url = f"{base}/conversations/{urllib.parse.quote(ns.reference.strip(), safe='')}"
    try:
        view = get_json(url, timeout=15)
    except StackUnavailable as exc:
        if exc.problem.startswith("HTTP 404"):
            print(f"replydesk workflow: no conversation {ns.reference} at {base}", file=sys.stderr)
        elif exc.problem.startswith("HTTP 403"):
            print(f"replydesk workflow: {base} requires IAM (SigV4); this command reads a local stack", file=sys.stderr)
        else:
            print(f"replydesk workflow: {exc.hint()}", file=sys.stderr)
        return 1
    if ns.json:
        print(json.dumps(view, ensure_ascii=False, indent=2))
    else:
        print(render(view))
    return 0
