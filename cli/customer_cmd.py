"""`replydesk customer export|erase`: GDPR access (Art. 15) and erasure (Art. 17) for one customer."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cli.ops_target import add_target_arguments, bound_stack


def _add_subject(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--email", metavar="ADDRESS")
    g.add_argument("--phone", metavar="E164", help="e.g. +14255550123")
    g.add_argument("--id", dest="customer_id", metavar="CUSTOMER_ID")
    add_target_arguments(p)


def _add_export(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "export",
        help="one JSON document with everything stored about a customer",
        description="Customer, identities, conversations with every message, attachments (S3 keys), raw "
        "objects and suppressions. With --zip, the attachments and raw objects themselves too.",
    )
    _add_subject(p)
    p.add_argument("--out", type=Path, default=None, help="write the JSON here instead of standard output")
    p.add_argument("--zip", type=Path, default=None, metavar="FILE", help="write a zip with export.json and objects")
    p.set_defaults(func=export_cmd)


def _add_erase(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "erase",
        help="remove a customer's personal data everywhere; keep a hashed tombstone and opt-outs",
        description="Runs the named erasure steps in order, recording each on an audit tombstone; "
        "rerunning continues an interrupted erasure and repeats nothing.",
    )
    _add_subject(p)
    p.add_argument("--by", required=True, metavar="OPERATOR", help="who asks (recorded on the tombstone)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=erase_cmd)


def _add_steps(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("erasure-steps", help="what an erasure removes, step by step")
    p.set_defaults(func=steps_cmd)


def export_cmd(ns: argparse.Namespace) -> int:
    from chalicelib.errors import NotFound, ValidationError
    from chalicelib.gdpr.export import export_customer, export_zip
    from chalicelib.gdpr.subject import find_subject

    target = bound_stack(ns)
    if target is None:
        return 1
    try:
        subject = find_subject(email=ns.email, phone=ns.phone, customer_id=ns.customer_id)
        document = export_customer(subject, campaign=ns.campaign, now=datetime.now(UTC))
    except (NotFound, ValidationError) as exc:
        print(f"customer export: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(document, indent=2, ensure_ascii=False)
    if ns.zip:
        ns.zip.write_bytes(export_zip(document, s3=target.client("s3"), bucket=target.names.raw_bucket))
        print(f"wrote {ns.zip} ({ns.zip.stat().st_size} bytes)", file=sys.stderr)
    if ns.out:
        ns.out.write_text(text, encoding="utf-8")
        print(f"wrote {ns.out} ({len(text.encode())} bytes)", file=sys.stderr)
    elif not ns.zip:
        print(text)
    return 0


def erase_cmd(ns: argparse.Namespace) -> int:
    from chalicelib.errors import NotFound, ValidationError
    from chalicelib.gdpr.erase import Clients, erase_customer
    from chalicelib.gdpr.subject import find_subject

    target = bound_stack(ns)
    if target is None:
        return 1
    try:
        subject = find_subject(email=ns.email, phone=ns.phone, customer_id=ns.customer_id)
    except (NotFound, ValidationError) as exc:
        print(f"customer erase: {exc}", file=sys.stderr)
        return 1
    if not ns.yes:
        answer = input(f"erase customer {subject.customer_id} and everything stored about them? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing erased", file=sys.stderr)
            return 1
    clients = Clients(
        s3=target.client("s3"),
        sqs=target.client("sqs"),
        dynamodb=target.client("dynamodb"),
        sfn=target.client("stepfunctions"),
        names=target.names,
    )
    tombstone = erase_customer(subject, actor=ns.by, now=datetime.now(UTC), clients=clients)
    print(json.dumps(tombstone.to_dict(), indent=2))
    return 0


def steps_cmd(_ns: argparse.Namespace) -> int:
    from chalicelib.gdpr.erase import describe_steps

    print(describe_steps())
    return 0


SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    _add_export,
    _add_erase,
    _add_steps,
)


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
