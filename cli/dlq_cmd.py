"""`replydesk dlq`: list, show, replay and purge the intake and events DLQs (ids and reasons, never bodies)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from chalicelib.ops.dlq import DlqClient, DlqEntry, DlqName, Held, by_ids, everything
from cli.ops_target import Target, add_target_arguments, reach


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("queue", choices=["intake", "events"], help="which DLQ")
    add_target_arguments(p)


def _add_list(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("list", help="every entry: id, age, channel, source id, reason")
    _add_common(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--limit", type=int, default=1000)
    p.set_defaults(func=list_cmd)


def _add_show(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("show", help="one entry's facts (shape, raw object key, receive count); never its body")
    _add_common(p)
    p.add_argument("message_id", metavar="ID")
    p.set_defaults(func=show_cmd)


def _add_replay(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "replay",
        help="send entries back to their source queue (after the fix); safe to repeat",
        description="Re-enqueue on the source queue, then delete from the DLQ. The intake is idempotent "
        "on the channel's source id, so a message that was already processed does nothing twice.",
    )
    _add_common(p)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--id", dest="ids", action="append", metavar="ID", help="an entry id (repeatable)")
    g.add_argument("--all", action="store_true")
    p.set_defaults(func=replay_cmd)


def _add_purge(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("purge", help="delete entries for good (raw objects stay in the raw bucket)")
    _add_common(p)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--id", dest="ids", action="append", metavar="ID")
    g.add_argument("--all", action="store_true")
    p.set_defaults(func=purge_cmd)


def _connect(ns: argparse.Namespace) -> tuple[DlqClient, DlqName] | None:
    def dlq(target: Target) -> tuple[DlqClient, DlqName]:
        client = DlqClient(sqs=target.client("sqs"), s3=target.client("s3"), names=target.names)
        client.url(DlqName(ns.queue).dlq)  # fails when the stack is not there
        return client, DlqName(ns.queue)

    return reach(ns, dlq)


def list_cmd(ns: argparse.Namespace) -> int:
    got = _connect(ns)
    if got is None:
        return 1
    client, queue = got
    entries = client.entries(queue, limit=ns.limit)
    if ns.json:
        for e in entries:
            print(json.dumps(e.summary()))
        return 0
    print(f"{len(entries)} in {ns.queue} DLQ")
    for e in entries:
        print(f"{e.message_id}  {_age(e.age_seconds):>4}  {e.channel:<8} {e.source_id or '-':<40} {e.reason}")
    return 0


def show_cmd(ns: argparse.Namespace) -> int:
    got = _connect(ns)
    if got is None:
        return 1
    client, queue = got
    for e in client.entries(queue):
        if e.message_id == ns.message_id:
            for key, value in e.summary().items():
                print(f"{key:<16}{value}")
            return 0
    print(f"no entry {ns.message_id} in the {ns.queue} DLQ", file=sys.stderr)
    return 1


def _selector(ns: argparse.Namespace) -> Callable[[Held], bool]:
    return everything if ns.all else by_ids(ns.ids)


def replay_cmd(ns: argparse.Namespace) -> int:
    got = _connect(ns)
    if got is None:
        return 1
    client, queue = got
    skipped: list[tuple[DlqEntry, str]] = []
    done = client.replay(queue, _selector(ns), skipped=skipped)
    for e in done:
        print(f"replayed {e.message_id}  {e.channel} {e.source_id}")
    # What cannot be replayed stays in the DLQ, named with the reason; the rest went on regardless.
    for _entry, reason in skipped:
        print(f"not replayed: {reason}", file=sys.stderr)
    missing = set(ns.ids or ()) - {e.message_id for e in done} - {e.message_id for e, _ in skipped}
    for m in sorted(missing):
        print(f"no entry {m} in the {ns.queue} DLQ", file=sys.stderr)
    return 1 if missing or skipped else 0


def purge_cmd(ns: argparse.Namespace) -> int:
    got = _connect(ns)
    if got is None:
        return 1
    client, queue = got
    done = client.purge(queue, _selector(ns))
    print(f"purged {len(done)} from the {ns.queue} DLQ")
    missing = set(ns.ids or ()) - {e.message_id for e in done}
    return 1 if missing else 0


SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    _add_list,
    _add_show,
    _add_replay,
    _add_purge,
)


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
