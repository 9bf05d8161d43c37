"""`replydesk sms`: SMS tools: segment counts, keyword detection, and a phone for the local stack."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from chalicelib.sms import (
    SmsEncoding,
    count_segments,
    detect_keyword,
    fit_to_budget,
    split_segments,
)
from local.endpoints import ENV_ENDPOINT, StackUnavailable, moto_endpoint


def _text(ns: argparse.Namespace) -> str:
    """The TEXT argument; '-' reads standard input (a rendered template piped in)."""
    text: str = sys.stdin.read() if ns.text == "-" else ns.text
    return text.rstrip("\n") if ns.text == "-" else text


def _add_segments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "segments",
        help="how a text goes over the air: encoding, units, segments",
        description="Count GSM-7 septets or UCS-2 code units and the segments a text costs.",
    )
    p.add_argument("text", metavar="TEXT", help="the message text, or '-' to read it from standard input")
    p.add_argument("--split", action="store_true", help="also print each segment")
    p.add_argument(
        "--budget",
        type=int,
        default=None,
        help="exit 1 when the text needs more segments (a campaign's sms.segment_budget)",
    )
    p.set_defaults(func=segments)


def _unit(encoding: SmsEncoding) -> str:
    return "septets" if encoding is SmsEncoding.GSM7 else "UTF-16 code units"


def segments(ns: argparse.Namespace) -> int:
    text = _text(ns)
    count = count_segments(text)
    print(f"encoding: {count.encoding.value}")
    print(f"units:    {count.units} ({_unit(count.encoding)})")
    print(f"segments: {count.segments}")
    if ns.split:
        for i, part in enumerate(split_segments(text), 1):
            print(f"--- segment {i} ({len(part)} characters)\n{part}")
    if ns.budget is not None:
        from chalicelib.errors import SegmentBudgetExceeded

        try:
            fitted = fit_to_budget(text, ns.budget)
        except SegmentBudgetExceeded as exc:
            print(f"over budget: {exc}", file=sys.stderr)
            return 1
        # What is sent can differ from TEXT (surrounding whitespace dropped, typographic punctuation
        # replaced): show its count too, so the budget line never contradicts the lines above.
        if fitted != text:
            sent = count_segments(fitted)
            changes = ["surrounding whitespace dropped"] if text.strip() != text else []
            if fitted != text.strip():
                changes.append("typographic punctuation replaced")
            print(
                f"as sent:  {sent.encoding.value}, {sent.units} {_unit(sent.encoding)}, "
                f"{sent.segments} segment{'s' if sent.segments != 1 else ''} ({', '.join(changes)})"
            )
        else:
            sent = count
        print(f"budget:   {sent.segments} of {ns.budget} segment{'s' if ns.budget != 1 else ''}: fits")
    return 0


def _add_keyword(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("keyword", help="which keyword (STOP, START, HELP) a whole message is, if any")
    p.add_argument("text", metavar="TEXT", help="the message text, or '-' to read it from standard input")
    p.add_argument("--campaign", default=None, help="also use this campaign's own keywords (e.g. demo)")
    p.set_defaults(func=keyword)


def keyword(ns: argparse.Namespace) -> int:
    campaign = None
    if ns.campaign:
        from chalicelib.config import load_campaign

        campaign = load_campaign(ns.campaign)
    found = detect_keyword(_text(ns), campaign)
    print(found.value if found else "none")
    return 0


ENDPOINT_HELP = f"the local stack's moto endpoint (default: ${ENV_ENDPOINT} or http://127.0.0.1:5000)"


def _add_send(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "send",
        help="send an SMS to the running local stack as a phone would; show replies",
        description="Publish the two-way SMS JSON to the local stack's inbound-sms topic, "
        "then print the SMS that phone receives.",
    )
    p.add_argument("text", metavar="TEXT", help="the message text, or '-' to read it from standard input")
    p.add_argument(
        "--from",
        dest="phone",
        required=True,
        metavar="PHONE",
        help="the sending phone, E.164 (e.g. +14255550123; numbers ending in 99 are opted out)",
    )
    p.add_argument("--endpoint", default=None, help=ENDPOINT_HELP)
    p.add_argument("--campaign", default="demo")
    p.add_argument("--stage", default="dev")
    p.add_argument(
        "--wait", type=float, default=10.0, metavar="SECONDS", help="how long to wait for replies (0: do not wait)"
    )
    p.set_defaults(func=send)


def _add_replies(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("replies", help="the SMS the local stack has sent to one phone")
    p.add_argument("--to", dest="phone", required=True, metavar="PHONE")
    p.add_argument("--endpoint", default=None, help=ENDPOINT_HELP)
    p.set_defaults(func=replies)


def _sns(endpoint: str) -> Any:
    import boto3

    # The local emulator takes any credentials; these fake ones keep a real profile out of it.
    return boto3.session.Session().client(
        "sns",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - fake, local only
    )


def find_topic(sns: Any, campaign: str, stage: str) -> str | None:
    """The ARN of `replydesk-<campaign>-<stage>-inbound-sms`, the topic a two-way SMS number publishes to."""
    name = f"replydesk-{campaign}-{stage}-inbound-sms"
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page.get("Topics", []):
            if topic["TopicArn"].rsplit(":", 1)[-1] == name:
                return str(topic["TopicArn"])
    return None


def _print_reply(reply: dict[str, Any]) -> None:
    print(f"<- {reply['text']}", flush=True)


def send(ns: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib.config import load_campaign
    from local.phone import PhoneLine, fetch_moto_data, replies_for, send_sms

    text = _text(ns)
    endpoint = moto_endpoint(ns.endpoint)
    sns = _sns(endpoint)
    try:
        topic = find_topic(sns, ns.campaign, ns.stage)
        if topic is None:
            print(
                f"replydesk sms send: no inbound-sms topic for campaign {ns.campaign!r} stage {ns.stage!r} "
                f"at {endpoint}: is that stack running with --campaign {ns.campaign} --stage {ns.stage}?",
                file=sys.stderr,
            )
            return 1
        line = PhoneLine(sns=sns, topic_arn=topic, campaign_number=load_campaign(ns.campaign).sms.number)
        before = replies_for(fetch_moto_data(endpoint), ns.phone)
        seen = {r["id"] for r in before}
        previous = str(before[-1]["id"] or "") if before else ""
        inbound_id = send_sms(line, ns.phone, text, previous_message_id=previous)
        print(f"-> sent to {line.campaign_number} (inboundMessageId {inbound_id})", flush=True)
        if ns.wait <= 0:
            return 0
        got = _wait_for_replies(endpoint, ns.phone, seen, ns.wait)
    except StackUnavailable as exc:
        print(f"replydesk sms send: {exc.hint()}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as exc:
        problem = type(exc).__name__ if isinstance(exc, BotoCoreError) else str(exc)
        print(f"replydesk sms send: {StackUnavailable(endpoint, problem).hint()}", file=sys.stderr)
        return 1
    if not got:
        print(
            f"(no reply within {ns.wait:g} s: a second message in a conversation, an opted-out number "
            "and an invalid number get none; the first message after a start can take longer, and "
            f"`replydesk sms replies --to {ns.phone}` shows replies that come later)",
            flush=True,
        )
    return 0


def _wait_for_replies(endpoint: str, phone: str, seen: set[Any], wait: float) -> int:
    """Print each new SMS to `phone` until `wait` seconds pass, or 2 s after the last one; returns how many."""
    from local.phone import fetch_moto_data, replies_for

    deadline = time.monotonic() + wait
    got = 0
    quiet_until: float | None = None
    while time.monotonic() < deadline and (quiet_until is None or time.monotonic() < quiet_until):
        time.sleep(0.5)
        for reply in replies_for(fetch_moto_data(endpoint), phone):
            if reply["id"] not in seen:
                seen.add(reply["id"])
                _print_reply(reply)
                got += 1
                # A keyword answer or an ack comes alone; wait a little for any other, not the full time.
                quiet_until = time.monotonic() + 2.0
    return got


def replies(ns: argparse.Namespace) -> int:
    from local.phone import fetch_moto_data, replies_for

    endpoint = moto_endpoint(ns.endpoint)
    try:
        data = fetch_moto_data(endpoint)
    except StackUnavailable as exc:
        print(f"replydesk sms replies: {exc.hint()}", file=sys.stderr)
        return 1
    found = replies_for(data, ns.phone)
    if not found:
        print(f"(no SMS sent to {ns.phone} yet)")
    for reply in found:
        _print_reply(reply)
    return 0


# One function per subcommand; add new ones to this tuple.
SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    _add_segments,
    _add_keyword,
    _add_send,
    _add_replies,
)


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
