"""The `make run` console: one readable line per event from the handlers' Powertools JSON logs."""

from __future__ import annotations

import json
import logging
import re
import threading
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TextIO

# conversation id -> what the console adds to "message stored" (queue, urgency, topic), or {}.
Lookup = Callable[[str], Mapping[str, Any]]

# Emulator lines that say nothing about replydesk. moto's Step Functions interpreter logs a
# NoSuchJsonPathError while evaluating optional paths of executions that then succeed.
HARMLESS_NOISE = (
    re.compile(r"NoSuchJsonPathError"),
    re.compile(r"^\s*Exception=NoSuch"),
    # Chalice's local server announces its address; the banner already shows it.
    re.compile(r"^Serving on http://"),
)

# http.server's request log line: 127.0.0.1 - - [01/Dec/2026 20:17:46] "GET /path HTTP/1.1" 200 -
_ACCESS_LOG = re.compile(
    r'^\S+ - - \[\d+/\w+/\d+ (?P<time>\d\d:\d\d:\d\d)\] "(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" (?P<status>\d{3})'
)
_REFERENCE = re.compile(r"RD-[A-Z0-9]{6}")

# message -> what a person reads; the keys listed after it are shown when present.
EVENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "submission accepted": ("web form received", ()),
    "submission rejected": ("web form rejected", ("field",)),
    "message processed": ("message stored", ("channel", "ack", "reason")),
    "ack sent": ("acknowledged", ("channel", "language")),
    "ack suppressed": ("no ack", ("reason", "channel")),
    "ack template over SMS budget": ("ack template over SMS budget", ("segments", "budget")),
    "sms sent": ("SMS sent", ("segments", "encoding", "keyword_response")),
    "sms not sent": ("SMS not sent", ("reason", "keyword_response")),
    "workflow started": ("SLA clock started", ()),
    "workflow already started": ("SLA clock already running", ()),
    "workflow stopped": ("SLA clock stopped", ("cause",)),
    "sla breached": ("SLA BREACHED", ("kind", "breach_level", "queue")),
    "auto resolved": ("auto-resolved", ()),
    "follow-up sent": ("follow-up sent", ()),
    "follow-up not sent": ("follow-up not sent (answered, resolved or superseded)", ()),
    "reply sent": ("staff reply sent", ("channel",)),
    "reply not sent": ("staff reply not sent", ("reason",)),
    "ses feedback": ("SES feedback", ("suppressions_added",)),
    "input rejected": ("input rejected (in the DLQ)", ("reason",)),
    "processing failed": ("PROCESSING FAILED (in the DLQ)", ("error",)),
    "event rejected": ("event rejected", ("reason",)),
}


def _time(stamp: Any) -> str:
    # Powertools: "2026-12-01 20:10:45,648+0000".
    text = str(stamp or "")
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f%z").strftime("%H:%M:%S")
    except ValueError:
        return text[11:19] if len(text) >= 19 else text


def _value(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


def render(line: str, lookup: Lookup | None = None) -> str | None:
    """The console line for one stdout line, or None to hide it (EMF metrics, known emulator noise)."""
    stripped = line.strip()
    if not stripped:
        return None
    if stripped.startswith("{"):
        try:
            blob = json.loads(stripped)
        except ValueError:
            return line
        if not isinstance(blob, dict):
            return line
        if "_aws" in blob:
            return None  # EMF: forwarded to CloudWatch, see the dashboard
        if "level" in blob and "message" in blob:
            return render_log(blob, lookup)
        return line
    if any(p.search(stripped) for p in HARMLESS_NOISE):
        return None
    access = _ACCESS_LOG.match(stripped)
    if access:
        # Reads that worked are the console's and the contact page's polling: only changes and errors show.
        if access["method"] in ("GET", "HEAD", "OPTIONS") and int(access["status"]) < 400:
            return None
        # The local API's request log: the path holds at most a conversation id, never customer data.
        ref = _REFERENCE.search(access["path"])
        who = ref.group(0) if ref else "-"
        return f"{access['time']}  {who:<10}  HTTP {access['method']} {access['path']} -> {access['status']}"
    return line


def render_log(blob: dict[str, Any], lookup: Lookup | None = None) -> str:
    """`20:10:45  RD-9GM9P2   message stored  channel=sms ack=yes  -> queue urgent`: time, conversation, what."""
    message = str(blob.get("message"))
    what, keys = EVENTS.get(message, (message, ()))
    who = str(blob.get("correlation_id") or blob.get("conversation_id") or "-")
    facts = [f"{k}={_value(blob[k])}" for k in keys if blob.get(k) not in (None, "")]
    if message == "message processed" and lookup is not None and who.startswith("RD-"):
        facts.extend(_routing(who, lookup))
    level = str(blob.get("level", "INFO"))
    if level not in ("INFO", "DEBUG", "WARNING") or (level == "WARNING" and message not in EVENTS):
        facts.append(level.lower())
        if blob.get("exception_name"):
            facts.append(str(blob["exception_name"]))
    tail = ("  " + " ".join(facts)) if facts else ""
    return f"{_time(blob.get('timestamp'))}  {who:<10}  {what}{tail}"


def _routing(conversation_id: str, lookup: Lookup) -> list[str]:
    try:
        conv = lookup(conversation_id)
    except Exception:  # noqa: BLE001 - the console must never break a handler's print
        return []
    if not conv or not conv.get("queue"):
        return []
    extra = ", ".join(f"{k} {conv[k]}" for k in ("urgency", "topic", "status") if conv.get(k))
    return [f"-> queue {conv['queue']}" + (f" ({extra})" if extra else "")]


class _EmulatorNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not any(p.search(record.getMessage()) for p in HARMLESS_NOISE)


# moto's ASL interpreter logs every exception it evaluates through, handled ones included.
NOISY_LOGGERS = ("moto.stepfunctions.parser.asl.component.eval_component",)


def hide_known_noise() -> None:
    """Drop the emulator's and Powertools' harmless messages (stderr) for the readable console."""
    for name in NOISY_LOGGERS:
        logging.getLogger(name).addFilter(_EmulatorNoise())
    # A handler invocation that counted nothing (a duplicate, an event without a metric) is normal here.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    # Chalice's local server says so for every IAM route; the README explains why we bind to 127.0.0.1.
    warnings.filterwarnings("ignore", message="IAMAuthorizer is not a supported in local mode")


def route_logs_through(view: Any, original: TextIO) -> int:
    """Point every logging handler that writes to `original` at `view`; returns how many it moved.

    Powertools' Logger keeps the stream it was created with, so a handler module imported before the
    view was installed (the campaign check imports them) would print past it, raw.
    """
    moved = 0
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    for lg in loggers:
        for handler in lg.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is original:
                handler.setStream(view)
                moved += 1
    return moved


class ConsoleView:
    """A text stream for sys.stdout that writes `render(line)` of each complete line to `inner`.

    Handlers run on several threads and print() writes a line in two calls (text, then newline),
    so each thread gets its own partial-line buffer.
    """

    def __init__(self, inner: TextIO, lookup: Lookup | None = None, *, hold: bool = False) -> None:
        self.inner = inner
        self.lookup = lookup
        self._partial: dict[int, str] = {}
        self._lock = threading.Lock()
        # While held (the stack starting), lines wait so the banner comes first; release() shows them.
        self._held: list[str] | None = [] if hold else None

    def release(self, first: str = "") -> None:
        """Write `first` (the banner), then the lines held back while starting, and stop holding."""
        with self._lock:
            held, self._held = self._held or [], None
            for line in ([first] if first else []) + held:
                self.inner.write(line + "\n")
            self.inner.flush()

    def write(self, text: str) -> int:
        ident = threading.get_ident()
        with self._lock:
            buffered = self._partial.pop(ident, "") + text
            *lines, rest = buffered.split("\n")
            if rest:
                self._partial[ident] = rest
            for line in lines:
                shown = render(line, self.lookup)
                if shown is None:
                    continue
                if self._held is not None:
                    self._held.append(shown)
                else:
                    self.inner.write(shown + "\n")
            if lines:
                self.inner.flush()
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
