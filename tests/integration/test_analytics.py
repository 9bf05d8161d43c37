"""Analytics on the local stack: export the day's metadata to S3, then query the same files with DuckDB."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cli.main import main
from tests.conftest import post_contact

pytestmark = pytest.mark.integration


def submit_form(stack: Any, email: str, message: str, topic: str) -> str:
    form = {"name": "Ana Lytics", "email": email, "topic": topic, "message": message, "consent": True}
    return str(post_contact(stack, form)["reference"])


def test_duckdb_over_the_export_gives_the_domains_first_response_p50(
    stack: Any, drain: Any, capsys: Any, tmp_path: Path
) -> None:
    from chalicelib import reply, runtime
    from chalicelib.analytics.indices import first_response_p50
    from chalicelib.models import ConversationModel
    from chalicelib.ops.stack import StackNames
    from cli.analytics_cmd import connect, download, pct
    from cli.ops_target import Target

    # GIVEN five conversations today, four of them answered by staff one after another
    tag = uuid.uuid4().hex[:8]
    secret = f"BODY{tag}"
    refs = [
        submit_form(stack, f"an-{tag}-{i}@customer.test", f"{secret} question {i}", topic)
        for i, topic in enumerate(["order_status", "order_status", "returns", "returns", "order_status"])
    ]
    drain()
    rt = runtime.get_runtime()
    for ref in refs[:4]:
        reply.staff_reply(ref, "Thanks, on it.", sent_by="sam", idempotency_key=f"k-{ref}", rt=rt)
    drain()

    # WHEN today's partition is exported (what the daily schedule does for yesterday) and copied locally
    capsys.readouterr()
    assert main(["analytics", "export", "--endpoint", stack.endpoint]) == 0
    assert "conversations" in capsys.readouterr().out
    names = StackNames(stack.campaign_name, stack.stage, stack.region, stack.env["RAW_BUCKET"].rsplit("-", 1)[-1])
    target = Target(names, stack.endpoint, stack.region)
    assert download(target, tmp_path) >= 2
    con = connect(tmp_path)

    # THEN DuckDB's first-response p50 over these conversations equals the domain's, from the tables
    ids = ", ".join(f"'{r}'" for r in refs)
    (duck_p50, answered) = con.execute(
        f"SELECT {pct('first_response_seconds', 0.5)}, count(first_response_seconds) "  # noqa: S608 - test constants
        f"FROM conversations WHERE conversation_id IN ({ids})"
    ).fetchone()
    domain_p50 = first_response_p50(ConversationModel.get(r, consistent_read=True) for r in refs)
    assert answered == 4
    assert domain_p50 is not None and duck_p50 == pytest.approx(domain_p50)
    # AND the demo campaign is open around the clock: its business-hours times are the calendar ones
    pairs = con.execute(
        "SELECT first_response_seconds, first_response_business_seconds FROM conversations "  # noqa: S608
        f"WHERE conversation_id IN ({ids}) AND first_response_seconds IS NOT NULL"
    ).fetchall()
    assert len(pairs) == 4 and all(b == pytest.approx(c) for c, b in pairs)
    # AND equals what `replydesk stats` computes from the same conversations (the export rounds to ms)
    from datetime import timedelta

    from chalicelib.ops.stats import summarise

    ddb = stack.client("dynamodb")
    table = f"replydesk-{stack.campaign_name}-{stack.stage}-conversations"
    items = [
        ddb.get_item(TableName=table, Key={"conversation_id": {"S": r}}, ConsistentRead=True)["Item"] for r in refs
    ]
    now = datetime.now(UTC)
    stats = summarise(items, stack.campaign, since=now - timedelta(days=1), until=now + timedelta(days=1), now=now)
    stats_p50 = stats.to_dict()["first_response_seconds"]["calendar"]["p50"]
    assert duck_p50 == pytest.approx(stats_p50, abs=0.001)
    # AND each message is there as metadata only: no body without the campaign's opt-in
    rows = con.execute(f"SELECT direction, text_length, text FROM messages WHERE conversation_id IN ({ids})").fetchall()  # noqa: S608
    assert {r[0] for r in rows} == {"in", "out"}
    assert all(r[2] is None for r in rows) and all(r[1] > 0 for r in rows if r[0] == "in")
    raw = b"".join(p.read_bytes() for p in tmp_path.rglob("*.jsonl"))
    assert secret.encode() not in raw and f"an-{tag}".encode() not in raw

    # WHEN the day is exported again
    assert main(["analytics", "export", "--endpoint", stack.endpoint]) == 0
    # THEN the day's files are rewritten, not appended: each conversation is one row of the latest view
    download(target, tmp_path)
    con = connect(tmp_path)
    (n,) = con.execute(f"SELECT count(*) FROM conversations_all WHERE conversation_id IN ({ids})").fetchone()  # noqa: S608
    assert n == len(refs)

    # AND the built-in reports run over the same files
    today = datetime.now(UTC).date().isoformat()
    for report in ("response-times", "contacts-per-day", "retention"):
        capsys.readouterr()
        rc = main(["analytics", "report", report, "--endpoint", stack.endpoint, "--cache", str(tmp_path / "r")])
        out = capsys.readouterr().out
        assert rc == 0 and "rows)" in out, out
        if report == "response-times":
            assert "order_status" in out and "returns" in out
        if report == "contacts-per-day":
            assert today in out and "web" in out
    capsys.readouterr()
    rc = main(
        [
            "analytics",
            "query",
            "SELECT count(*) AS n FROM messages WHERE direction = 'in'",
            "--endpoint",
            stack.endpoint,
            "--cache",
            str(tmp_path / "q"),
        ]
    )
    assert rc == 0 and "(1 rows)" in capsys.readouterr().out
