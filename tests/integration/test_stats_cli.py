"""`replydesk stats summary` against the local stack after a flow: the indices come from the tables."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cli.main import main
from tests.integration.opsflow import run_flow

pytestmark = pytest.mark.integration


def test_stats_summary_reads_the_flow_from_the_tables(stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a flow through the local stack (web form answered by staff, email, SMS, an auto-reply)
    run_flow(stack)
    capsys.readouterr()
    # WHEN the operator asks for the last hour's indices
    rc = main(["stats", "summary", "--campaign", "demo", "--since", "1h", "--endpoint", stack.endpoint, "--json"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    # THEN every channel's contacts, the staff reply's first response and the withheld ack are there
    assert {"email", "sms", "web"} <= set(data["by_channel"])
    assert data["first_response_seconds"]["calendar"]["count"] >= 1
    assert data["first_response_seconds"]["calendar"]["p50"] is not None
    assert data["acks_suppressed"].get("auto_reply", 0) >= 1
    assert data["queues"]["general"]["first_response_met"] >= 1
    # AND the table form names every queue of the campaign
    main(["stats", "summary", "--campaign", "demo", "--since", "1h", "--endpoint", stack.endpoint])
    text = capsys.readouterr().out
    assert all(q in text for q in stack.campaign.queues)


def test_stats_names_an_unreachable_stack_instead_of_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    from local.stack import free_port

    # GIVEN no stack on a port WHEN the operator asks for its stats THEN one clear line and exit 1
    closed = f"http://127.0.0.1:{free_port()}"
    rc = main(["stats", "summary", "--campaign", "demo", "--endpoint", closed])
    err = capsys.readouterr().err
    assert rc == 1
    assert f"cannot read the stack at {closed}" in err and "Traceback" not in err
