"""`replydesk mail`: would these raw emails be acknowledged, and if not, why not (nothing is sent)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from chalicelib.config import Campaign, load_campaign
from chalicelib.errors import ConfigError, InvalidInput
from chalicelib.guard import check_message
from chalicelib.inbound import InboundMessage
from chalicelib.intake.email import (
    normalise_subject,
    parse_email,
    reference_tokens,
    ses_verdicts_from_headers,
)


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser(
        "check",
        help="run raw emails through parsing and the guard chain; print ack or no-ack and the thread keys",
        description="Parse each raw email (as stored in the raw bucket) and run the stateless no-ack checks. "
        "Suppressions and the per-sender rate limit need the tables and are not checked here. "
        "SES verdicts are read from the X-SES-* and amazonses.com Authentication-Results headers "
        "when present. Exit status 1 when a file could not be read (the others are still checked); "
        "a file that is not an email is reported on its line.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="raw email files (.eml, as bytes)")
    p.add_argument("--campaign", default="demo", help="campaign whose policy and addresses apply (default: demo)")
    p.add_argument("--quiet", "-q", action="store_true", help="only the verdict line, no thread keys")
    p.set_defaults(func=check)


def _thread_keys(msg: InboundMessage, campaign: Campaign) -> list[str]:
    lines = []
    if msg.message_id:
        lines.append(f"  message-id:  {msg.message_id}")
    if msg.in_reply_to:
        lines.append(f"  in-reply-to: {' '.join(msg.in_reply_to)}")
    if msg.references:
        lines.append(f"  references:  {' '.join(msg.references)}")
    tokens = reference_tokens(msg.subject, campaign.reference_prefix)
    if tokens:
        lines.append(f"  token:       {' '.join(tokens)}")
    subject = normalise_subject(msg.subject)
    if subject:
        lines.append(f"  subject:     {subject}")
    return lines


def check(ns: argparse.Namespace) -> int:
    try:
        campaign = load_campaign(ns.campaign)
    except ConfigError as exc:
        print(f"replydesk mail check: {exc}", file=sys.stderr)
        return 2
    unreadable = 0
    for name in ns.files:
        try:
            raw = Path(name).read_bytes()
        except OSError as exc:
            print(f"{name}: error: cannot read: {exc.strerror or exc}")
            unreadable += 1
            continue
        try:
            parsed = parse_email(raw, source_id=Path(name).name, raw_key=name, received_at=datetime.now(UTC))
        except InvalidInput as exc:
            print(f"{name}: error: {exc.reason}")
            continue
        msg = parsed.message
        verdicts = ses_verdicts_from_headers(msg.headers)
        if verdicts:
            msg = replace(msg, verdicts=verdicts)
        reason = check_message(msg, campaign)
        print(f"{name}: ack" if reason is None else f"{name}: no-ack: {reason.value}")
        if not ns.quiet:
            for line in _thread_keys(msg, campaign):
                print(line)
    if unreadable:
        print(f"replydesk mail check: {unreadable} of {len(ns.files)} files could not be read", file=sys.stderr)
        return 1
    return 0
