"""`replydesk stats`: campaign figures read back from CloudWatch, one subcommand per figure."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

LOCAL_ENDPOINT = "http://127.0.0.1:5000"
NAMESPACE = "replydesk"


def _cloudwatch(endpoint: str | None) -> Any:
    import boto3

    kwargs: dict[str, Any] = {"region_name": os.environ.get("AWS_REGION") or "us-east-1"}
    if endpoint:
        kwargs["endpoint_url"] = endpoint
        if endpoint.startswith(("http://127.0.0.1", "http://localhost")):
            # The local emulator takes any credentials; fake ones keep a real profile out of it.
            kwargs |= {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.session.Session().client("cloudwatch", **kwargs)


def retention_outcomes(
    cloudwatch: Any, offer_ids: list[str], *, days: int, now: datetime
) -> dict[str, dict[str, float]]:
    """offer -> outcome -> count, from the RetentionOutcome metric (dimensions service, offer, outcome)."""
    from chalicelib.library.offers import Outcome

    out: dict[str, dict[str, float]] = {}
    for offer in [*offer_ids, "none"]:
        for outcome in Outcome:
            resp = cloudwatch.get_metric_statistics(
                Namespace=NAMESPACE,
                MetricName="RetentionOutcome",
                Dimensions=[
                    {"Name": "service", "Value": "replydesk"},
                    {"Name": "offer", "Value": offer},
                    {"Name": "outcome", "Value": outcome.value},
                ],
                StartTime=now - timedelta(days=days),
                EndTime=now,
                Period=86400,
                Statistics=["Sum"],
            )
            total = sum(float(p.get("Sum", 0)) for p in resp.get("Datapoints", []))
            if total:
                out.setdefault(offer, {})[outcome.value] = total
    return out


def _retention(ns: argparse.Namespace) -> int:
    from chalicelib.config import load_campaign
    from chalicelib.library.offers import Outcome, kept_rate

    campaign = load_campaign(ns.campaign)
    try:
        outcomes = retention_outcomes(
            _cloudwatch(ns.endpoint or None), [o.id for o in campaign.offers], days=ns.days, now=datetime.now(UTC)
        )
    except Exception as exc:  # noqa: BLE001 - any failure means the same thing to the user
        print(f"cannot read CloudWatch at {ns.endpoint or 'AWS'} ({type(exc).__name__})", file=sys.stderr)
        return 1
    labels = {o.id: o.label for o in campaign.offers} | {"none": "(no offer)"}
    print(f"{'offer':<16} {'label':<32} " + " ".join(f"{o.value:>9}" for o in Outcome) + "  kept-rate")
    for offer, (rate, total) in sorted(kept_rate(outcomes).items()):
        counts = " ".join(f"{outcomes[offer].get(o.value, 0):>9g}" for o in Outcome)
        print(f"{offer:<16} {labels.get(offer, offer)[:32]:<32} {counts}  {rate:>8.0%} of {total:g}")
    if not outcomes:
        print(f"(no retention outcomes recorded in the last {ns.days} days)")
    return 0


def _add_retention(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("retention", help="kept-rate per retention offer (metric RetentionOutcome)")
    p.add_argument("--campaign", default="demo")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL", LOCAL_ENDPOINT))
    p.set_defaults(func=_retention)


# One function per subcommand; other figures add theirs to this tuple.
SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (_add_retention,)


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
