"""`replydesk analytics export|query|report`: contact metadata to S3, then SQL over it with DuckDB.

The files are the ones Athena reads on AWS (JSON Lines partitioned by `dt`); locally they are copied
from the analytics bucket into a cache directory and read by DuckDB (a dev dependency, never packaged).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cli.ops_target import Target, add_target_arguments, bound_stack

CACHE = Path("build") / "analytics"

# Nearest-rank percentile in DuckDB (lists are 1-based): the same rule as chalicelib.analytics.indices.
_P = "list_sort(list({col}) FILTER (WHERE {col} IS NOT NULL))[greatest(1, CAST(ceil({p} * count({col})) AS INTEGER))]"


def pct(col: str, p: float) -> str:
    return _P.format(col=col, p=p)


# Every SQL text below is built from constants (the schema and fixed view names), never from input.
REPORTS: dict[str, tuple[str, str]] = {
    "response-times": (
        "first response and resolution (seconds) by topic and channel",
        f"""SELECT topic, channel, count(*) AS conversations,
                   count(first_response_seconds) AS answered,
                   {pct("first_response_seconds", 0.5)} AS first_response_p50,
                   {pct("first_response_seconds", 0.9)} AS first_response_p90,
                   {pct("resolution_seconds", 0.5)} AS resolution_p50,
                   sum(breaches) AS breaches
            FROM conversations GROUP BY topic, channel ORDER BY conversations DESC, topic, channel""",  # noqa: S608
    ),
    "retention": (
        "retention outcomes and kept-rate by offer",
        """SELECT coalesce(retention_offer, '(none)') AS offer, count(*) AS outcomes,
                  count(*) FILTER (WHERE retention_outcome = 'kept') AS kept,
                  round(100.0 * count(*) FILTER (WHERE retention_outcome = 'kept') / count(*), 1) AS kept_pct
           FROM conversations WHERE retention_outcome IS NOT NULL GROUP BY 1 ORDER BY outcomes DESC""",
    ),
    "contacts-per-day": (
        "inbound messages per day and channel",
        """SELECT CAST(substr(created_at, 1, 10) AS DATE) AS day, channel, count(*) AS contacts
           FROM messages WHERE direction = 'in' GROUP BY 1, 2 ORDER BY 1, 2""",
    ),
}


def _duck_type(glue: str) -> str:
    return {"string": "VARCHAR", "double": "DOUBLE", "int": "INTEGER", "boolean": "BOOLEAN"}.get(
        glue, "VARCHAR[]" if glue == "array<string>" else "VARCHAR"
    )


def connect(root: Path) -> Any:
    """A DuckDB connection with `conversations` and `messages` views (latest export of each row)."""
    import duckdb

    from chalicelib.analytics.schema import TABLES

    con = duckdb.connect()
    for table, columns in TABLES.items():
        cols = "{" + ", ".join(f"'{name}': '{_duck_type(kind)}'" for name, kind in columns) + "}"
        files = sorted((root / table).glob("dt=*/*.jsonl"))
        if files and any(f.stat().st_size for f in files):
            source = (
                f"read_json('{root / table}/dt=*/*.jsonl', format='newline_delimited', columns={cols}, "
                "hive_partitioning=true)"
            )
        else:  # no rows yet: an empty relation with the same columns
            source = (
                "(SELECT " + ", ".join(f"NULL::{_duck_type(k)} AS {n}" for n, k in columns) + ", NULL AS dt LIMIT 0)"
            )
        key = "conversation_id" if table == "conversations" else "message_id"
        con.execute(f"CREATE VIEW {table}_all AS SELECT * FROM {source}")  # noqa: S608
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM {table}_all "  # noqa: S608
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY exported_at DESC, dt DESC) = 1"
        )
    return con


def download(target: Target, root: Path) -> int:
    """Copy the analytics bucket's partitions into `root` (what Athena would scan)."""
    from chalicelib.analytics.export import PREFIX

    s3 = target.client("s3")
    n = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=target.names.analytics_bucket, Prefix=PREFIX):
        for obj in page.get("Contents", []):
            path = root / obj["Key"][len(PREFIX) + 1 :]
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(target.names.analytics_bucket, obj["Key"], str(path))
            n += 1
    return n


def _print(con: Any, sql: str) -> None:
    cursor = con.execute(sql)
    header = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    widths = [max(len(str(h)), *(len(_fmt(r[i])) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(_fmt(v).ljust(w) for v, w in zip(r, widths, strict=True)))
    print(f"({len(rows)} rows)")


def _fmt(v: Any) -> str:
    return "" if v is None else f"{v:.1f}" if isinstance(v, float) else str(v)


# ------------------------------------------------------------------ subcommands


def _add_export(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("export", help="write the days' partitions to the analytics bucket (what the schedule does)")
    add_target_arguments(p)
    p.add_argument("--day", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: today, UTC)")
    p.add_argument("--days", type=int, default=1, help="how many days ending with --day")
    p.set_defaults(func=export_cmd)


def _add_query(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("query", help='run SQL over `conversations` and `messages` with DuckDB, e.g. "SELECT …"')
    add_target_arguments(p)
    p.add_argument("sql", metavar="SQL")
    p.add_argument("--cache", type=Path, default=None, help=f"where to copy the files (default {CACHE}/…)")
    p.set_defaults(func=query_cmd)


def _add_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="built-in reports: " + ", ".join(REPORTS))
    add_target_arguments(p)
    p.add_argument("name", choices=sorted(REPORTS))
    p.add_argument("--cache", type=Path, default=None)
    p.set_defaults(func=report_cmd)


def export_cmd(ns: argparse.Namespace) -> int:
    from chalicelib.analytics.export import export_range
    from chalicelib.config import load_campaign

    target = bound_stack(ns)
    if target is None:
        return 1
    last = ns.day or datetime.now(UTC).date()
    campaign = load_campaign(ns.campaign)
    results = export_range(
        last - timedelta(days=max(1, ns.days) - 1),
        last,
        s3=target.client("s3"),
        bucket=target.names.analytics_bucket,
        include_bodies=campaign.analytics_include_bodies,
        hours=campaign.business_hours,
    )
    for r in results:
        print(f"{r.day}  {r.conversations} conversations  {r.messages} messages")
    return 0


def _load(ns: argparse.Namespace) -> Any:
    target = bound_stack(ns)
    if target is None:
        return None
    root = ns.cache or CACHE / f"{ns.campaign}-{ns.stage}"
    download(target, root)
    return connect(root)


def query_cmd(ns: argparse.Namespace) -> int:
    import duckdb

    con = _load(ns)
    if con is None:
        return 1
    try:
        _print(con, ns.sql)
    except duckdb.Error as exc:
        print(f"query failed: {exc}", file=sys.stderr)
        return 1
    return 0


def report_cmd(ns: argparse.Namespace) -> int:
    con = _load(ns)
    if con is None:
        return 1
    title, sql = REPORTS[ns.name]
    print(f"# {title}")
    _print(con, sql)
    return 0


SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    _add_export,
    _add_query,
    _add_report,
)


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
