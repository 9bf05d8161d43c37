"""`replydesk sms`: SMS tools: segment counts and keyword detection (send to the local stack: see below)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from chalicelib.sms import SmsEncoding, count_segments, detect_keyword, fit_to_budget, split_segments


def _text(ns: argparse.Namespace) -> str:
    """The TEXT argument; '-' reads standard input (a rendered template piped in)."""
    text: str = sys.stdin.read() if ns.text == "-" else ns.text
    return text.rstrip("\n") if ns.text == "-" else text


def _add_segments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("segments", help="how a text goes over the air: encoding, units, segments",
                       description="Count GSM-7 septets or UCS-2 code units and the segments a text costs.")
    p.add_argument("text", metavar="TEXT", help="the message text, or '-' to read it from standard input")
    p.add_argument("--split", action="store_true", help="also print each segment")
    p.add_argument("--budget", type=int, default=None,
                   help="exit 1 when the text needs more segments (a campaign's sms.segment_budget)")
    p.set_defaults(func=segments)


def segments(ns: argparse.Namespace) -> int:
    text = _text(ns)
    count = count_segments(text)
    print(f"encoding: {count.encoding.value}")
    unit = "septets" if count.encoding is SmsEncoding.GSM7 else "UTF-16 code units"
    print(f"units:    {count.units} ({unit})")
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
        note = " after replacing typographic punctuation" if fitted != text.strip() else ""
        print(f"budget:   fits in {ns.budget}{note}")
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


# One function per subcommand; add new ones (e.g. `send` for the phone simulator) to this tuple.
SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    _add_segments,
    _add_keyword,
)


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
