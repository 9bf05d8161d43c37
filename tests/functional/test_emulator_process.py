"""The local stack's emulator runs in a process of its own and never outlives the stack."""

from __future__ import annotations

import socket
import urllib.request

import boto3
import pytest

from local.emulator_process import EmulatorProcess
from local.stack import free_port

pytestmark = pytest.mark.functional


def test_it_answers_with_the_stacks_tweaks_and_stops_with_the_stack() -> None:
    # GIVEN an emulator process on a free port
    emulator = EmulatorProcess(free_port()).start()
    proc = emulator.proc
    assert proc is not None
    try:
        # WHEN a client uses it as the stack's code does
        ses = boto3.client(
            "ses",
            endpoint_url=emulator.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        ses.verify_email_identity(EmailAddress="desk@emulator.test")
        # THEN it answers, with the tweaks applied in that process (moto lacks DeleteReceiptRule)
        ses.create_receipt_rule_set(RuleSetName="shared")
        ses.delete_receipt_rule(RuleSetName="shared", RuleName="not-there")
        with urllib.request.urlopen(f"{emulator.endpoint}/moto-api/data.json", timeout=10) as resp:
            assert resp.status == 200
    finally:
        emulator.stop()
    # AND stopping it ends the process, whose standard input was its lifeline
    assert proc.poll() is not None


def test_a_taken_port_is_a_clear_error_not_a_hang() -> None:
    # GIVEN a port something else listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # WHEN the emulator is started there
        with pytest.raises(RuntimeError, match=f"did not start on port {port}.*exited"):
            EmulatorProcess(port, timeout=60).start()
