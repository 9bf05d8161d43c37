"""The local stack's own tools against the session stack: the escalation inbox, the outbox and the workflow view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.config import BusinessHours, Queue, SlaPolicy
from chalicelib.workflow import compute_deadlines, start_sla_clock
from cli.main import main
from local.endpoints import ENV_API, ENV_ENDPOINT
from local.outbox import escalations
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

ALWAYS = BusinessHours(timezone="UTC", weekly={}, holidays=frozenset(), always_open=True)


def two_second_queue() -> Queue:
    """The demo's general queue with a 2 s first response and a 1 h resolution target, for one breach fast."""
    sla = SlaPolicy(
        first_response=dict.fromkeys(("low", "normal", "high", "urgent"), timedelta(seconds=2)),
        resolution=dict.fromkeys(("low", "normal", "high", "urgent"), timedelta(hours=1)),
    )
    return Queue(id="general", label="General", sla=sla, escalation_queue="supervisors", escalate_again_after=None)


@pytest.fixture
def at_stack(stack: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The operator commands find the session stack as they find any stack not on make run's ports."""
    monkeypatch.setenv(ENV_ENDPOINT, stack.endpoint)
    monkeypatch.setenv(ENV_API, stack.api_url)
    return stack


def test_a_breach_reaches_the_local_escalation_inbox_and_the_outbox_shows_it(
    at_stack: Any, drain: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a conversation opened by an SMS, whose SLA clock is then restarted (version 2, as a
    # reprioritisation does) with 2 s for the first response
    from local.phone import send_sms
    from tests.integration.test_sms_channel import fresh_phone, sms_conversation

    phone = fresh_phone("+1312556")
    send_sms(at_stack, phone, "Hello, I have a question about my order.")
    drain()
    conv = sms_conversation(phone).conversation_id
    at_stack.client("dynamodb").update_item(
        TableName=at_stack.env["CONVERSATIONS_TABLE"],
        Key={"conversation_id": {"S": conv}},
        UpdateExpression="SET workflow_version = :v",
        ExpressionAttributeValues={":v": {"N": "2"}},
    )
    queue = two_second_queue()
    # WHEN the stack's SLA machine runs it and nobody answers
    start_sla_clock(
        sfn=at_stack.client("stepfunctions"),
        state_machine_arn=at_stack.env["SLA_STATE_MACHINE_ARN"],
        conversation_id=conv,
        version=2,
        deadlines=compute_deadlines(datetime.now(UTC), "normal", queue, ALWAYS),
        urgency="normal",
        queue=queue,
        hours=ALWAYS,
    )
    # THEN the machine's breach event, delivered by the pump, becomes the supervisors' notification in
    # the local escalation inbox (an SQS subscription)
    notice = wait_for(
        lambda: (
            drain() >= 0
            and [e for e in escalations(at_stack.moto_data()) if e["detail"].get("conversation_id") == conv]
        ),
        timeout=30,
        describe=lambda: f"escalations so far: {[e['subject'] for e in escalations(at_stack.moto_data())]}",
    )[0]
    assert notice["detail"]["type"] == "sla_breached"
    assert notice["detail"]["kind"] == "first_response"
    capsys.readouterr()  # the handlers' logs so far
    # AND `replydesk local outbox --channel escalation` lists it on one line
    assert main(["local", "outbox", "--channel", "escalation"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if conv in line]
    assert len(lines) == 1
    assert "escalation  replydesk-demo-dev-escalation  SLA breached: " + conv + " first_response (level 1)" in lines[0]


def test_workflow_show_prints_the_timeline_and_names_a_missing_conversation(
    at_stack: Any, drain: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a conversation opened by an SMS
    from local.phone import send_sms
    from tests.integration.test_sms_channel import fresh_phone, sms_conversation

    phone = fresh_phone("+1312555")
    send_sms(at_stack, phone, "Hi, can I change the delivery address of my order?")
    drain()
    reference = sms_conversation(phone).reference
    capsys.readouterr()  # the handlers' logs so far
    # WHEN its workflow is shown
    assert main(["workflow", "show", reference]) == 0
    out = capsys.readouterr().out.splitlines()
    # THEN a header with its state, then its opening and deadlines, oldest first
    assert out[0].startswith(f"{reference}  status ")
    assert "channel sms" in out[0]
    entries = [line.split("  ", 2)[-1] for line in out if line.startswith("  20")]
    assert "conversation opened" in entries
    assert "customer wrote (sms): Hi, can I change the delivery address of my order?" in entries
    assert any(e.startswith("first response due  (pending)") for e in entries)
    assert any(e.startswith("resolution due  (pending)") for e in entries)
    # WHEN a reference that does not exist is asked for THEN it says so and exits 1
    assert main(["workflow", "show", "RD-ZZZZZZ"]) == 1
    assert "no conversation RD-ZZZZZZ" in capsys.readouterr().err


def test_tools_say_no_stack_answers_instead_of_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN no stack on the configured endpoint (a port nothing listens on)
    monkeypatch.setenv(ENV_ENDPOINT, "http://127.0.0.1:9")
    monkeypatch.setenv(ENV_API, "http://127.0.0.1:9")
    # WHEN the outbox, the SMS tools and the workflow view are used
    codes = [
        main(["local", "outbox"]),
        main(["sms", "replies", "--to", "+14255550123"]),
        main(["sms", "send", "--from", "+14255550123", "hello", "--wait", "0"]),
        main(["workflow", "show", "RD-7K3M9Q"]),
    ]
    # THEN each exits 1 with one clear line on what to do
    err = capsys.readouterr().err
    assert codes == [1, 1, 1, 1]
    assert err.count("no local stack answers at http://127.0.0.1:9") == 4
    assert "Traceback" not in err


def test_a_second_local_stack_on_taken_ports_says_so_instead_of_hanging(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a port already taken (as by a `make run` still running)
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # WHEN `replydesk local` is asked to use it for moto
        rc = main(["local", "--moto-port", str(port), "--api-port", "0", "--smtp-port", "0", "--phone-port", "0"])
    # THEN it exits 1 at once and names the port and what to do
    err = capsys.readouterr().err
    assert rc == 1
    assert f"port in use (moto {port})" in err
    assert "--moto-port" in err


def test_an_emulator_error_is_reported_after_retries_not_as_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an endpoint whose /moto-api/data.json answers 500, as moto's does after a multipart upload
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    calls: list[str] = []

    class Failing(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            calls.append(self.path)
            self.send_error(500, "INTERNAL SERVER ERROR")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv(ENV_ENDPOINT, f"http://127.0.0.1:{server.server_address[1]}")
        # WHEN the outbox and the SMS replies are asked for
        codes = [main(["local", "outbox"]), main(["sms", "replies", "--to", "+15035550123"])]
    finally:
        server.shutdown()
        server.server_close()
    # THEN each tried three times, then exits 1 naming the error and the multipart cause, without a traceback
    err = capsys.readouterr().err
    assert codes == [1, 1]
    assert calls == ["/moto-api/data.json"] * 6
    assert err.count("answered HTTP 500") == 2
    assert "multipart upload" in err
    assert "Traceback" not in err
