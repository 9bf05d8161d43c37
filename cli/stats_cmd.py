"""`replydesk stats`: a campaign's indices for a period, computed from its tables.

A subcommand group: `stats summary` (response times, SLA, backlog, contacts, suppressed acks) lives
here; other parts (e.g. `stats retention`) add a subparser in `register()` and use `add_common()`
and `connect()` so every part takes the same options and reads the same stack.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

_RELATIVE = re.compile(r"^(\d+)([mhd])$")


def parse_when(value: str, *, now: datetime | None = None) -> datetime:
    """An ISO date/time (UTC when no offset is given) or a look-back like '7d', '12h', '30m'."""
    now = now or datetime.now(UTC)
    m = _RELATIVE.match(value.strip())
    if m:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return now - timedelta(**{unit: int(m.group(1))})
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO time or a look-back like '7d': {value!r}") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class StatsContext:
    """What every `stats` part reads: the campaign, its stack's table names and a DynamoDB client."""

    campaign: Any
    stage: str
    ddb: Any
    since: datetime
    until: datetime
    now: datetime

    def table(self, kind: str) -> str:
        # The template's naming (infra/template.yaml): replydesk-<campaign>-<stage>-<kind>.
        return f"replydesk-{self.campaign.name}-{self.stage}-{kind}"


def add_common(p: argparse.ArgumentParser) -> None:
    """The stack options every operator command takes (cli/ops_target.py), then the period."""
    from cli.ops_target import add_target_arguments

    add_target_arguments(p)
    p.add_argument("--since", default="7d", help="ISO time or look-back like 7d, 12h (default 7d)")
    p.add_argument("--until", default=None, help="ISO time (default now)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def connect(ns: argparse.Namespace) -> StatsContext:
    from chalicelib.config import load_campaign
    from cli.ops_target import target_from

    now = datetime.now(UTC)
    return StatsContext(
        campaign=load_campaign(ns.campaign),
        stage=ns.stage,
        ddb=target_from(ns).client("dynamodb"),
        since=parse_when(ns.since, now=now),
        until=parse_when(ns.until, now=now) if ns.until else now,
        now=now,
    )


def _fmt_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.1f}s"
    if value < 7200:
        return f"{value / 60:.1f}m"
    return f"{value / 3600:.1f}h"


def render_summary(data: dict[str, Any]) -> str:
    fr = data["first_response_seconds"]
    lines = [
        f"period            {data['since']} .. {data['until']}",
        f"conversations     {data['conversations']}",
        "first response    calendar p50 {} p90 {}  |  business hours p50 {} p90 {}  (n={:.0f})".format(
            _fmt_seconds(fr["calendar"]["p50"]),
            _fmt_seconds(fr["calendar"]["p90"]),
            _fmt_seconds(fr["business_hours"]["p50"]),
            _fmt_seconds(fr["business_hours"]["p90"]),
            fr["calendar"]["count"],
        ),
        "resolution        p50 {} p90 {}  (n={:.0f})".format(
            _fmt_seconds(data["resolution_seconds"]["p50"]),
            _fmt_seconds(data["resolution_seconds"]["p90"]),
            data["resolution_seconds"]["count"],
        ),
        "queues            sla met %  met  missed  waiting  overdue  oldest waiting",
    ]
    for name, q in data["queues"].items():
        met = "-" if q["sla_met_percent"] is None else f"{q['sla_met_percent']:.1f}"
        lines.append(
            f"  {name:<16}{met:>9}  {q['first_response_met']:>3}  {q['first_response_missed']:>6}  "
            f"{q['waiting']:>7}  {q['overdue']:>7}  {_fmt_seconds(q['oldest_waiting_seconds']):>14}"
        )
    for title, key in (
        ("breaches", "breaches"),
        ("by channel", "by_channel"),
        ("by topic", "by_topic"),
        ("by language", "by_language"),
        ("acks suppressed", "acks_suppressed"),
    ):
        values = data[key]
        lines.append(f"{title:<18}" + ("  ".join(f"{k}={v}" for k, v in values.items()) or "-"))
    return "\n".join(lines)


def _summary(ns: argparse.Namespace) -> int:
    from chalicelib.ops.stats import collect

    ctx = connect(ns)
    summary = collect(
        ctx.ddb,
        ctx.campaign,
        conversations_table=ctx.table("conversations"),
        messages_table=ctx.table("messages"),
        since=ctx.since,
        until=ctx.until,
        now=ctx.now,
    )
    data = summary.to_dict()
    print(json.dumps(data, indent=2) if ns.json else render_summary(data))
    return 0


def retention_outcomes(ctx: StatsContext) -> dict[str, dict[str, float]]:
    """offer -> outcome -> count over the period, from the outcomes recorded on the conversations.

    Read from the tables like `summary` (one Query per queue on `by_queue`), so the figure does
    not depend on CloudWatch's retention or on metric dimensions.
    """
    from chalicelib.ops.stats import queue_conversations

    out: dict[str, dict[str, float]] = {}
    table = ctx.table("conversations")
    for queue in ctx.campaign.queues:
        for item in queue_conversations(ctx.ddb, table, queue):
            recorded = (item.get("retention") or {}).get("M")
            if not recorded:
                continue
            at = parse_when(recorded.get("at", {}).get("S", "1970-01-01T00:00:00+00:00"))
            if not ctx.since <= at <= ctx.until:
                continue
            offer = recorded.get("offer_id", {}).get("S") or "none"
            outcome = recorded.get("outcome", {}).get("S") or "no_answer"
            by_outcome = out.setdefault(offer, {})
            by_outcome[outcome] = by_outcome.get(outcome, 0) + 1
    return out


def _retention(ns: argparse.Namespace) -> int:
    from chalicelib.library.offers import Outcome, kept_rate

    ctx = connect(ns)
    outcomes = retention_outcomes(ctx)
    if ns.json:
        print(json.dumps({"outcomes": outcomes, "kept_rate": {k: v[0] for k, v in kept_rate(outcomes).items()}}))
        return 0
    labels = {o.id: o.label for o in ctx.campaign.offers} | {"none": "(no offer)"}
    print(f"{'offer':<16} {'label':<32} " + " ".join(f"{o.value:>9}" for o in Outcome) + "  kept-rate")
    for offer, (rate, total) in sorted(kept_rate(outcomes).items()):
        counts = " ".join(f"{outcomes[offer].get(o.value, 0):>9g}" for o in Outcome)
        print(f"{offer:<16} {labels.get(offer, offer)[:32]:<32} {counts}  {rate:>8.0%} of {total:g}")
    if not outcomes:
        print("(no retention outcomes recorded in the period)")
    return 0


# Parts of the group: name -> (help, handler). Another part registers itself by adding an entry
# here (or its own subparser in register()).
PARTS: dict[str, tuple[str, Callable[[argparse.Namespace], int]]] = {
    "summary": ("response times, SLA met %% per queue, breaches, backlog, contacts, suppressed acks", _summary),
    "retention": ("kept-rate per retention offer, from the outcomes recorded on the conversations", _retention),
}


def _reported(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A stack that cannot be reached or read is one clear line and exit 1, not a traceback."""

    def run(ns: argparse.Namespace) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return handler(ns)
        except (BotoCoreError, ClientError) as exc:
            where = "the deployed stage" if getattr(ns, "aws", False) else ns.endpoint
            problem = str(exc) if isinstance(exc, ClientError) else type(exc).__name__
            print(f"replydesk stats: cannot read the stack at {where} ({problem})", file=sys.stderr)
            return 1

    return run


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="part", metavar="PART")
    for name, (help_text, handler) in PARTS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_common(p)
        p.set_defaults(func=_reported(handler))
