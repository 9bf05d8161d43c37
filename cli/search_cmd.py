"""`replydesk search reindex`: rebuild the console's search index from the messages and customers tables."""

from __future__ import annotations

import argparse

from cli.ops_target import add_target_arguments, target_from


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    re = sub.add_parser(
        "reindex",
        help="index every stored message and customer name again (after a failed index write, or a restore)",
        description="Scans the messages and customers tables once (an operator's batch job, never a console "
        "read) and writes their words to the search table; entries already there are overwritten, so it "
        "can run any time.",
    )
    add_target_arguments(re)
    re.set_defaults(func=reindex)


def reindex(ns: argparse.Namespace) -> int:
    from chalicelib import searchindex
    from chalicelib.models import CustomerModel, MessageModel, SearchTokenModel

    target = target_from(ns)
    target.bind_models()
    meta = SearchTokenModel.Meta
    meta.table_name, meta.host, meta.region = target.names.table("search"), target.endpoint, target.region
    SearchTokenModel._connection = None  # PynamoDB caches its connection per model
    messages = customers = 0
    for m in MessageModel.scan(attributes_to_get=["conversation_id", "subject", "text", "new_text", "created_at"]):
        searchindex.index_message(m.conversation_id, subject=m.subject, text=m.new_text or m.text, at=m.created_at)
        messages += 1
    for c in CustomerModel.scan(attributes_to_get=["customer_id", "name"]):
        if c.name:
            searchindex.index_customer(c.customer_id, c.name)
            customers += 1
    print(f"indexed {messages} messages and {customers} customer names into {target.names.table('search')}")
    return 0
