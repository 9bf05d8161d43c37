"""A copy of this checkout in tmp, and the operator commands run in it as a user would (own processes)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COPIED = ("app.py", "chalicelib", "cli", "local", "infra")


def copy_checkout(root: Path) -> Path:
    """The code and the demo's library (which `campaign new` starts from): what an operator's clone holds."""
    for name in COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, root / name)
    (root / ".chalice").mkdir()
    shutil.copy2(REPO / ".chalice" / "config.json", root / ".chalice" / "config.json")
    shutil.copytree(REPO / "templates" / "demo", root / "templates" / "demo")
    return root


def env_for(root: Path) -> dict[str, str]:
    # Nothing of this session's stack may leak into the child: it builds its own from the campaign.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REPLYDESK_", "MOTO_"))}
    env |= {"PYTHONPATH": str(root), "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    return env


def replydesk(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=root,
        env=env_for(root),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_local(root: Path, *args: str, timeout: float = 120) -> tuple[subprocess.Popen[str], str]:
    """`replydesk local --json ARGS` as a process, once its banner is out; the banner is returned with it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "local", "--json", *args],
        cwd=root,
        env=env_for(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        seen.append(line)
        if "Press Ctrl+C to stop" in line:
            return proc, "".join(seen)
        if time.monotonic() > deadline:
            break
    stop(proc)
    pytest.fail(f"replydesk local {' '.join(args)} did not start ({proc.returncode}):\n" + "".join(seen[-40:]))


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
