"""The local stack's moto server in a process of its own, beside the handlers rather than under their lock.

In the stack's own process the emulator and the handlers take turns on one interpreter lock, so a
2-core machine runs them on one core. Here moto gets a process (and a core) of its own, with the
same tweaks (local/emulator.py) applied in it. It lives as long as the stack: it serves until its
standard input closes, which happens when the stack stops it or when the stack's process ends in any
way (a crash or a kill included), so no emulator outlives its stack.

    python -m local.emulator_process --port 5000      # prints "ready" once it answers
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

READY = "ready"
# moto's ASL interpreter logs, at ERROR, every exception it evaluates through, handled ones included
# (a NoSuchJsonPathError for each optional path of a successful execution).
NOISY_LOGGERS = ("moto.stepfunctions.parser.asl.component.eval_component",)


def serve(port: int) -> None:
    """Run moto with the stack's tweaks on 127.0.0.1:`port` until standard input closes."""
    # moto's Step Functions call back into this server for service integrations through MOTO_PORT.
    os.environ["MOTO_PORT"] = str(port)
    logging.basicConfig(level=logging.WARNING, format="emulator %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the pump polls several times a second
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    from moto.server import ThreadedMotoServer

    from local import emulator

    emulator.track_only()
    emulator.fast_queries()
    emulator.light_transactions()
    emulator.receipt_rule_deletion()
    # moto binds in a thread of its own and waits for it forever when the bind fails: try it here first.
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise SystemExit(f"emulator: port {port} is taken ({exc.strerror})") from None
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print(READY, flush=True)
    try:
        sys.stdin.read()  # returns at end of file: the stack closed its end or is gone
    except KeyboardInterrupt:
        pass  # Ctrl+C in `make run` reaches the whole process group: the stack stops too
    finally:
        server.stop()


class EmulatorProcess:
    """Starts `serve` in a child process and stops it; `start` returns once the emulator answers."""

    def __init__(self, port: int, *, timeout: float = 60.0) -> None:
        self.port = port
        self.timeout = timeout
        self.proc: subprocess.Popen[str] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> EmulatorProcess:
        env = {**os.environ, "MOTO_PORT": str(self.port)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "local.emulator_process", "--port", str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        stdout = self.proc.stdout
        assert stdout is not None
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.timeout)
        if not ready or ready[0].strip() != READY:
            try:  # a closed stdout without "ready" means it is exiting: wait for its status
                code: int | None = self.proc.wait(timeout=10) if ready else None
            except subprocess.TimeoutExpired:
                code = None
            self.stop()
            raise RuntimeError(
                f"the emulator did not start on port {self.port} within {self.timeout:g} s"
                + (f" (it exited with {code}; its errors are above)" if code is not None else "")
            )
        self._wait_until_it_answers()
        return self

    def _wait_until_it_answers(self) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=5):
                    return
            except urllib.error.HTTPError:
                return  # any HTTP answer means the server is up
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()  # the child's read ends: it stops its server and exits
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    serve(parser.parse_args(argv).port)


if __name__ == "__main__":
    main()
