"""`replydesk deploy`: package a campaign, create or update its stack by a change set, then the post-deploy steps."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cli.deploy import DeployError, DnsRecord, Plan, Request, Where, check_dns, dns_records, dnspython_resolver
from cli.template import ROOT


def _where(ns: argparse.Namespace) -> Where:
    from cli.ops_target import target_from

    if ns.endpoint and not ns.aws:
        # PynamoDB (the library push) reads credentials from the environment: fake ones for the emulator.
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    target = target_from(ns)
    return Where(target.client, target.region, target.names.account, target.endpoint)


def _confirm(yes: bool) -> object:
    def confirm(plan: Plan) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            print(
                "replydesk deploy: not a terminal, so nobody can confirm the change set; rerun with --yes to run it.",
                file=sys.stderr,
            )
            return False
        return input(f"Execute change set {plan.name}? [y/N] ").strip().lower() in ("y", "yes")

    return confirm


def _print_records(records: list[DnsRecord]) -> None:
    print("DNS records the domain owner must add (then `replydesk deploy --check-dns`):")
    for record in records:
        print(f"  {record.line()}")


def _run(ns: argparse.Namespace) -> int:
    from chalicelib.campaign.checks import IncompleteCampaign

    if not ns.aws and not ns.endpoint:
        print("replydesk deploy: say where: --endpoint URL (a moto server) or --aws", file=sys.stderr)
        return 2
    if ns.check_dns:
        return _check_dns(ns)
    where = _where(ns)
    req = Request(
        campaign=ns.campaign,
        stage=ns.stage,
        out=Path(ns.out or f"build/{ns.campaign}-{ns.stage}"),
        confirm=_confirm(ns.yes),  # type: ignore[arg-type]
        say=lambda line: print(line, flush=True),
        admin_email=ns.admin_email,
        admin_username=ns.admin_username,
        public_url=ns.public_url,
        poll=1.0 if where.endpoint else 5.0,
    )
    from cli.deploy import deploy

    try:
        records = deploy(req, where, root=ROOT)
    except IncompleteCampaign as exc:
        print(f"replydesk deploy: nothing deployed.\n{exc.report.text()}", file=sys.stderr)
        return 1
    except DeployError as exc:
        print(f"replydesk deploy: {exc}", file=sys.stderr)
        return 1
    _print_records(records)
    return 0


def _check_dns(ns: argparse.Namespace) -> int:
    from chalicelib.config import load_campaign
    from cli.deploy import domain_tokens

    where = _where(ns)
    campaign = load_campaign(ns.campaign)
    domain = campaign.sender_email.split("@", 1)[1].lower()
    token, dkim = domain_tokens(where.client("ses"), domain)
    records = dns_records(campaign, where.region, verification_token=token, dkim_tokens=dkim)
    missing = check_dns(records, dnspython_resolver(ns.nameserver))
    for record in records:
        print(f"  {'missing' if record in missing else 'ok':<8} {record.line()}")
    print(f"{len(missing)} of {len(records)} records missing" if missing else "every record is in place")
    return 1 if missing else 0


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--campaign", required=True)
    parser.add_argument("--stage", required=True)
    parser.add_argument("--endpoint", default=None, help="deploy into this moto server (e.g. http://127.0.0.1:5000)")
    parser.add_argument("--aws", action="store_true", help="deploy to AWS with your usual credentials")
    parser.add_argument("--region", default=None, help="AWS region (default: AWS_REGION, else us-east-1)")
    parser.add_argument("--yes", action="store_true", help="execute the change set without asking")
    parser.add_argument("--admin-email", help="create the first admin staff user with this email (once)")
    parser.add_argument("--admin-username", help="the admin's username (default: the email's local part)")
    parser.add_argument("--public-url", help="the stack's public base URL for rating links (kept across updates)")
    parser.add_argument("--out", help="package directory (default build/<campaign>-<stage>)")
    parser.add_argument(
        "--check-dns", action="store_true", help="only report which DNS records the domain still lacks (exit 1 if any)"
    )
    parser.add_argument("--nameserver", help="ask this DNS server (host[:port]) instead of the system's resolver")
    parser.set_defaults(func=_run)
