"""`replydesk` entry point: each subcommand group lives in its own module with a `register()`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Imported lazily so `replydesk mail check` does not pay for the topic trainer's imports.
GROUPS = {
    "local": ("cli.local_cmd", "run the whole system locally on the embedded AWS emulator"),
    "package": ("cli.package_cmd", "package one campaign's CloudFormation template"),
    "deploy": ("cli.deploy_cmd", "deploy a campaign: change set, rule set, notifications, library, admin, DNS records"),
    "mail": ("cli.mail_cmd", "diagnose raw emails: would they be acknowledged, and why not"),
    "sms": ("cli.sms_cmd", "SMS tools: segments, keywords, send a test SMS to the local stack, read its replies"),
    "topics": ("cli.topics_cmd", "train and evaluate topic classifiers"),
    "lang": ("cli.lang_cmd", "evaluate language detection"),
    "workflow": ("cli.workflow_cmd", "a conversation's SLA timeline: deadlines, breaches, pauses, follow-ups"),
    "templates": ("cli.templates_cmd", "the campaign's template library: list, show, render, push, history"),
    "stats": (
        "cli.stats_cmd",
        "a campaign's indices for a period (stats summary) and retention kept-rates (stats retention)",
    ),
    "dlq": ("cli.dlq_cmd", "list, show, replay and purge the intake and events DLQs"),
    "customer": ("cli.customer_cmd", "GDPR: export or erase one customer's personal data"),
    "analytics": ("cli.analytics_cmd", "export contact metadata for analysis; query it with DuckDB"),
    "search": ("cli.search_cmd", "the console's search index: reindex from the stored messages"),
    "campaign": ("cli.campaign_cmd", "a campaign's lifecycle: new (scaffold), check (complete?), retire"),
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="replydesk",
        description="replydesk's operator commands. `replydesk COMMAND --help` lists each one's options.",
    )
    sub = parser.add_subparsers(dest="group", metavar="COMMAND")
    for name, (_module, help_text) in GROUPS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not args or args[0] in ("-h", "--help") or args[0] not in GROUPS:
        parser.print_help()
        return 0 if not args or args[0] in ("-h", "--help") else 2
    module_name, help_text = GROUPS[args[0]]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            print(f"replydesk {args[0]}: not implemented yet", file=sys.stderr)
            return 2
        raise
    group = argparse.ArgumentParser(prog=f"replydesk {args[0]}", description=help_text)
    module.register(group)
    ns = group.parse_args(args[1:])
    func = getattr(ns, "func", None)
    if func is None:
        group.print_help()
        return 2
    return int(func(ns) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
