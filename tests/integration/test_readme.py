"""The README cannot drift: its `console` examples run against the local stack, its banner is the real one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cli.local_cmd import DEFAULT_PORTS, banner
from local.endpoints import ENV_API, ENV_ENDPOINT

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
REFERENCE = re.compile(r"\bRD-[A-Z0-9]{6}\b")
FENCE = re.compile(r"^```(\S*)")
MARKER = "@@readme-command-"
COMMAND_TIMEOUT_S = 60


@dataclass
class Command:
    line: int
    text: str
    expected: list[str] = field(default_factory=list)


def readme_blocks(kind: str) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of every fenced block whose info string is `kind`."""
    blocks: list[tuple[int, list[str]]] = []
    open_kind: str | None = None
    start, lines = 0, []
    for n, line in enumerate(README.read_text(encoding="utf-8").splitlines(), 1):
        fence = FENCE.match(line)
        if open_kind is None and fence:
            open_kind, start, lines = fence.group(1), n + 1, []
        elif open_kind is not None and line.startswith("```"):
            if open_kind == kind:
                blocks.append((start, lines))
            open_kind = None
        elif open_kind is not None:
            lines.append(line)
    return blocks


def checked_blocks() -> list[list[Command]]:
    """The `$ ` lines of each README `console` block, in order, with the output lines shown under each."""
    blocks: list[list[Command]] = []
    for start, lines in readme_blocks("console"):
        commands: list[Command] = []
        for offset, line in enumerate(lines):
            if line.startswith("$ "):
                commands.append(Command(start + offset, line[2:]))
            elif commands:
                commands[-1].expected.append(line)
        blocks.append(commands)
    return blocks


def checked_commands() -> list[Command]:
    return [c for block in checked_blocks() for c in block]


def block_script(commands: list[Command]) -> str:
    """One bash script for a block: each command in turn, a marker line before each, stop at the first failure."""
    parts = []
    for n, command in enumerate(commands):
        parts.append(f"printf '\\n{MARKER}{n}\\n'\n{command.text}\nrc=$?\nif [ $rc -ne 0 ]; then exit $rc; fi")
    return "\n".join(parts) + "\n"


def split_output(stdout: str) -> list[str]:
    """The output of each command of a block script, by its marker."""
    chunks = re.split(rf"(?m)^{MARKER}\d+$", stdout)
    return [c.strip("\n") for c in chunks[1:]]


def test_the_readme_has_checked_examples_and_the_parser_finds_them() -> None:
    # GIVEN the README WHEN its console blocks are parsed THEN the examples of every documented tool are there
    commands = checked_commands()
    tools = {" ".join(c.text.split()[:3]) for c in commands}
    for expected in (
        "replydesk sms send",
        "replydesk sms replies",
        "replydesk local outbox",
        "replydesk workflow show",
    ):
        assert expected in tools, (expected, tools)
    assert all(c.text.strip() for c in commands)


def test_readme_banner_is_what_replydesk_local_prints(stack: Any) -> None:
    # GIVEN the banner block the README shows under "What `make run` starts" (make run uses the default ports)
    (block,) = [lines for _, lines in readme_blocks("text") if lines and lines[0].startswith("replydesk local stack")]
    # WHEN the session stack's own banner is put on the default ports
    shown = banner(stack, ports_hint=False)
    for name, default in DEFAULT_PORTS.items():
        shown = shown.replace(f"127.0.0.1:{getattr(stack, name)}", f"127.0.0.1:{default}")
    # THEN they agree line for line
    assert shown.splitlines() == block


@pytest.fixture
def pumping(stack: Any) -> Iterator[None]:
    """The session stack runs no pump threads; while the README's commands run, deliver as `make run` does.

    One message is processed first: the handlers' cold start (classifier, templates) can take longer
    than `sms send`'s default wait on a loaded machine, and it is not what the README shows.
    """
    from local.phone import send_sms

    send_sms(stack, f"+1971555{uuid.uuid4().int % 10_000:04d}", "Hello, warming up.")
    stack.pump.drain()
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            stack.pump.drain()
            stop.wait(0.2)

    thread = threading.Thread(target=loop, name="readme-pump", daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


def test_readme_console_examples_run_against_the_local_stack(stack: Any, pumping: None) -> None:
    # GIVEN the README's checked commands, and a shell where `replydesk` is the venv's and finds this stack
    # the way it finds any stack not on make run's ports (REPLYDESK_LOCAL_ENDPOINT / REPLYDESK_LOCAL_API)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
        ENV_ENDPOINT: stack.endpoint,
        ENV_API: stack.api_url,
    }
    # curl examples name make run's addresses: point them at this stack's ports. `sms send` stops 2 s
    # after the first reply, so a longer wait costs nothing and absorbs a loaded machine.
    rewrites = {
        "replydesk sms send ": "replydesk sms send --wait 30 ",
        "localhost:8000": f"127.0.0.1:{stack.api_port}",
        f"127.0.0.1:{DEFAULT_PORTS['api_port']}": f"127.0.0.1:{stack.api_port}",
        f"127.0.0.1:{DEFAULT_PORTS['moto_port']}": f"127.0.0.1:{stack.moto_port}",
    }
    references: dict[str, str] = {}
    for commands in checked_blocks():
        script = block_script(commands)
        for default, actual in {**rewrites, **references}.items():
            script = script.replace(default, actual)
        # WHEN each block runs, its commands in order in one shell
        proc = subprocess.run(
            ["bash", "-o", "pipefail", "-c", script],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        outputs = split_output(proc.stdout)
        # THEN every command of it succeeds
        if proc.returncode != 0:
            failed = commands[len(outputs) - 1]
            pytest.fail(
                f"README line {failed.line} failed (exit {proc.returncode}): {failed.text}\n"
                f"stdout:\n{outputs[-1] if outputs else proc.stdout}\nstderr:\n{proc.stderr}"
            )
        assert len(outputs) == len(commands), proc.stdout
        # A reference in the README's example output stands for the one this run printed.
        for command, output in zip(commands, outputs, strict=True):
            shown = list(dict.fromkeys(REFERENCE.findall("\n".join(command.expected))))
            printed = list(dict.fromkeys(REFERENCE.findall(output)))
            if shown and not printed:
                pytest.fail(f"README line {command.line} shows {shown} but the run printed none:\n{output}")
            for readme_ref, actual_ref in zip(shown, printed, strict=False):
                references.setdefault(readme_ref, actual_ref)
