"""Where the operator commands find a running local stack: flag, then environment, then `make run`'s ports."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

# `make run` binds these; a stack on other ports (tests, `replydesk local --moto-port ...`) is found
# through the environment variables, which `replydesk local` prints when its ports differ.
DEFAULT_ENDPOINT = "http://127.0.0.1:5000"
DEFAULT_API = "http://127.0.0.1:8000"
ENV_ENDPOINT = "REPLYDESK_LOCAL_ENDPOINT"
ENV_API = "REPLYDESK_LOCAL_API"


def moto_endpoint(explicit: str | None = None) -> str:
    return (explicit or os.environ.get(ENV_ENDPOINT) or DEFAULT_ENDPOINT).rstrip("/")


def api_url(explicit: str | None = None) -> str:
    return (explicit or os.environ.get(ENV_API) or DEFAULT_API).rstrip("/")


class StackUnavailable(Exception):
    """Raised when the local stack (or its emulator) does not answer or answers with an error."""

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        self.problem = problem
        super().__init__(f"{url}: {problem}")

    def hint(self) -> str:
        """One line for the terminal: what failed and what to do."""
        if self.problem.startswith("HTTP 5"):
            return (
                f"the local stack at {self.url} answered {self.problem}: its console (`make run`) shows why. "
                "A plain moto server (not one replydesk started) answers so after a multipart upload to its S3."
            )
        return (
            f"no local stack answers at {self.url} ({self.problem}). Start one with `make run` "
            f"(or set {ENV_ENDPOINT} / {ENV_API}, or pass --endpoint / --api, for a stack on other ports)."
        )


def get_json(url: str, *, timeout: float = 30, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    """GET (or POST `body` as JSON) a JSON document from the local stack.

    Every failure becomes StackUnavailable, never a traceback.
    """
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="GET" if data is None else "POST",
        headers={**({"Content-Type": "application/json"} if data is not None else {}), **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise StackUnavailable(url, f"HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise StackUnavailable(url, str(reason)) from exc
    except ValueError as exc:  # JSONDecodeError: the emulator answered with something else
        raise StackUnavailable(url, "the answer is not JSON") from exc


def moto_data(endpoint: str, *, attempts: int = 3) -> dict[str, Any]:
    """moto's /moto-api/data.json (everything the emulator holds, sent mail and SMS included)."""
    url = endpoint.rstrip("/") + "/moto-api/data.json"
    for attempt in range(1, attempts + 1):
        try:
            data = get_json(url)
            break
        except StackUnavailable as exc:
            # A plain moto fails to export a finished multipart upload's parts until they are collected.
            if not exc.problem.startswith("HTTP 500") or attempt == attempts:
                raise
            time.sleep(0.5)
    if not isinstance(data, dict):
        raise StackUnavailable(endpoint, "moto-api/data.json is not an object")
    return data
