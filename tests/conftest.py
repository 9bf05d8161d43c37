"""Shared fixtures: the shared data folder, AWS sample events, and one local stack per session."""

from __future__ import annotations

import json
import os
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

# Fake credentials before anything imports boto3 clients: nothing here may reach a real account.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def load_event(name: str) -> dict[str, Any]:
    """One AWS sample event from shared/data/aws_events (e.g. 'powertools/sqsEvent.json')."""
    with open(SHARED_DATA / "aws_events" / name, "rb") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


@pytest.fixture(scope="session")
def shared_data() -> Path:
    assert SHARED_DATA.is_dir(), f"shared data not found at {SHARED_DATA}"
    return SHARED_DATA


@pytest.fixture(scope="session")
def stack() -> Iterator[Any]:
    """The local stack (moto server, template resources, handlers, API, SMTP) for the whole session.

    The pump runs no threads here: tests call `drain()` so each step is deterministic.
    """
    from local.stack import LocalStack

    s = LocalStack(pump_threads=False, forward_metrics=False).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A moto server of the module's own (no stack, no resources), with fake credentials.

    It shares the process's moto backends with the session stack's server: use names of your own.
    """
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as mp:
        for var, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            mp.setenv(var, value)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture
def drain(stack: Any) -> Callable[[], int]:
    return lambda: stack.pump.drain()


@pytest.fixture
def unique_email() -> Callable[[str], str]:
    return lambda tag="c": f"{tag}-{uuid.uuid4().hex[:10]}@customer.test"


def wait_for(
    predicate: Callable[[], Any],
    *,
    timeout: float = 20.0,
    interval: float = 0.2,
    describe: Callable[[], str] = lambda: "",
) -> Any:
    """Poll until predicate() is truthy; fail with a description rather than hang."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s. {describe()}")
        time.sleep(interval)


def post_contact(stack: Any, form: dict[str, Any]) -> dict[str, Any]:
    """POST the contact form as the page's script does (JSON); its 202 body (`reference`, `status`)."""
    req = urllib.request.Request(
        f"{stack.api_url}/contact",
        data=json.dumps(form).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 202, resp.status
        body: dict[str, Any] = json.loads(resp.read())
    return body


def dlq_messages(stack: Any, queue_env: str = "INTAKE_DLQ_URL") -> list[dict[str, Any]]:
    """Every message in a DLQ (with attributes), left visible again for other readers.

    The queue holds what every test of the session parked: receiving with a visibility timeout pages
    through all of it (a timeout of 0 hands back the same first ten each time), then it is reset to 0.
    """
    url = stack.env[queue_env]
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(500):  # bounded: far more than one session parks
        resp = stack.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=120,
            WaitTimeSeconds=0,
        )
        messages = resp.get("Messages", [])
        if not messages:
            break
        for m in messages:
            seen[m["MessageId"]] = m
    handles = [m["ReceiptHandle"] for m in seen.values()]
    for i in range(0, len(handles), 10):
        stack.sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": h, "VisibilityTimeout": 0} for n, h in enumerate(handles[i : i + 10])
            ],
        )
    return list(seen.values())


def pytest_collection_modifyitems(items: list[Any]) -> None:
    """The corpus run last: it leaves hundreds of conversations in the session's stack, and the
    emulator walks whole tables, so every test after it would run several times slower."""
    items.sort(key=lambda item: "test_email_corpus.py" in item.nodeid)
