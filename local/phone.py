"""Phone simulator for the local stack: publish inbound SMS as a two-way SMS number does, read replies."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import phonenumbers
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.sms import count_segments
from local.endpoints import StackUnavailable, moto_data
from local.outbox import sent_sms

log = logging.getLogger("replydesk.local.phone")

# Numbers offered on the page. moto's SNS reports numbers ending in 99 as opted out.
PRESET_NUMBERS = ("+14255550123", "+46701234567", "+4915112345678", "+14255550199")
# An inbound SMS is at most 1,600 characters on AWS; the page accepts a little more so the
# over-long case can be tried, and the HTTP body limit keeps the server safe.
MAX_TEXT = 2000
MAX_REQUEST_BYTES = 64 * 1024


class _StackLike(Protocol):
    env: dict[str, str]
    endpoint: str
    campaign: Any

    def client(self, service: str) -> Any: ...


@dataclass(frozen=True)
class PhoneLine:
    """Where inbound SMS go: the SNS client, the campaign's inbound-sms topic and its SMS number."""

    sns: Any
    topic_arn: str
    campaign_number: str

    @classmethod
    def for_stack(cls, stack: _StackLike) -> PhoneLine:
        return cls(
            sns=stack.client("sns"),
            topic_arn=stack.env["INBOUND_SMS_TOPIC_ARN"],
            campaign_number=stack.campaign.sms.number,
        )


def inbound_payload(
    phone: str, text: str, *, destination: str, previous_message_id: str = "", inbound_message_id: str | None = None
) -> dict[str, str]:
    """The JSON a two-way SMS number publishes for one inbound SMS (aws_docs/sns_two_way_sms_inbound.json)."""
    words = text.split()
    return {
        "originationNumber": phone,
        "destinationNumber": destination,
        # AWS fills in the keyword registered on the number that the message starts with; the
        # first word is the closest local stand-in, and our intake decides keywords itself.
        "messageKeyword": words[0].upper()[:30] if words else "",
        "messageBody": text,
        "inboundMessageId": inbound_message_id or str(uuid.uuid4()),
        "previousPublishedMessageId": previous_message_id,
    }


def send_sms(
    target: _StackLike | PhoneLine,
    phone: str,
    text: str,
    *,
    previous_message_id: str = "",
    inbound_message_id: str | None = None,
) -> str:
    """Publish one inbound SMS from `phone` to the campaign number; returns its inboundMessageId."""
    line = target if isinstance(target, PhoneLine) else PhoneLine.for_stack(target)
    payload = inbound_payload(
        phone,
        text,
        destination=line.campaign_number,
        previous_message_id=previous_message_id,
        inbound_message_id=inbound_message_id,
    )
    publish_raw(line, json.dumps(payload, ensure_ascii=False))
    return payload["inboundMessageId"]


def publish_raw(target: _StackLike | PhoneLine, message: str) -> str:
    """Publish any string to the inbound-sms topic (tests use it for malformed input); returns the SNS id."""
    line = target if isinstance(target, PhoneLine) else PhoneLine.for_stack(target)
    response = line.sns.publish(TopicArn=line.topic_arn, Message=message)
    return str(response["MessageId"])


def replies_for(moto_data: dict[str, Any], phone: str) -> list[dict[str, Any]]:
    """SMS the stack sent to `phone`, oldest first, from moto's /moto-api/data.json."""
    return [m for m in sent_sms(moto_data) if m["to"] == phone]


def fetch_moto_data(endpoint: str) -> dict[str, Any]:
    """moto's data.json; raises StackUnavailable when the emulator does not answer or errs."""
    return moto_data(endpoint)


class InboundLog:
    """Every inbound SMS the stack stored raw (raw/sms/ in the raw bucket), whoever sent it.

    The page shows messages sent with `replydesk sms send` or the tests too, not only its own.
    Raw objects never change, so each is read once.
    """

    PREFIX = "raw/sms/"

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self._seen: dict[str, dict[str, Any] | None] = {}
        self._lock = threading.Lock()

    def messages_from(self, phone: str) -> list[dict[str, Any]]:
        with self._lock:
            self._refresh()
            return [m for m in self._seen.values() if m is not None and m["phone"] == phone]

    def _refresh(self) -> None:
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.PREFIX):
            for obj in page.get("Contents", []):
                if obj["Key"] not in self._seen:
                    self._seen[obj["Key"]] = self._read(obj)

    def _read(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        body = self.s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            # Not an SMS payload (a test's or an attacker's: the intake parks it in the DLQ), or JSON
            # nested deeper than the parser goes: nothing to show.
            return None
        if not isinstance(data, dict) or not isinstance(data.get("originationNumber"), str):
            return None
        return {
            "phone": data["originationNumber"],
            "id": str(data.get("inboundMessageId") or obj["Key"]),
            "text": str(data.get("messageBody") or ""),
            "at": obj["LastModified"].timestamp(),
        }


def number_status(sns: Any, phone: str, suppressed: Callable[[str], str | None] | None = None) -> dict[str, Any]:
    """What the stack will do with SMS from `phone`: invalid, opted out at SNS, opted out with STOP, or fine."""
    try:
        valid = phonenumbers.is_valid_number(phonenumbers.parse(phone, None))
    except phonenumbers.NumberParseException:
        valid = False
    if not valid:
        return {
            "state": "invalid",
            "note": "Not a valid international number (E.164, e.g. +14255550123): "
            "the stack stores the message but cannot answer it.",
        }
    if sns.check_if_phone_number_is_opted_out(phoneNumber=phone).get("isOptedOut"):
        return {
            "state": "opted_out_at_sns",
            "note": "Opted out at SNS (the carrier told AWS): messages are stored, no SMS can reach this phone.",
        }
    reason = suppressed(phone) if suppressed is not None else None
    if reason:
        why = "with STOP" if reason == "opt_out" else f"({reason.replace('_', ' ')})"
        return {
            "state": "suppressed",
            "note": f"Opted out {why}: messages are stored, nothing is sent to this phone until it sends START.",
        }
    return {"state": "ok", "note": ""}


def _stack_suppression(phone: str) -> str | None:
    from chalicelib import store

    try:
        return store.suppression_reason(f"phone#{phone}")
    except Exception:  # noqa: BLE001 - the page's hint must not fail because the table did not answer
        return None


# ------------------------------------------------------------------ the page


@dataclass
class _Thread:
    """What the simulator knows about one phone: what it sent, and when it first saw each reply."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    seen: dict[str, float] = field(default_factory=dict)


class PhoneSimulator:
    """A small HTTP page where a developer sends SMS from a chosen phone and sees the replies.

    moto records sent SMS without a time, so a reply is placed in the thread when the page first
    sees it; the page polls every second, which keeps that order close to the real one.
    """

    def __init__(
        self,
        line: PhoneLine,
        endpoint: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        inbound: InboundLog | None = None,
        suppressed: Callable[[str], str | None] | None = None,
    ) -> None:
        self.line = line
        self.endpoint = endpoint
        self.inbound = inbound
        self.suppressed = suppressed
        self._threads: dict[str, _Thread] = {}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), _handler_for(self))
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    @classmethod
    def for_stack(cls, stack: _StackLike, port: int = 0) -> PhoneSimulator:
        return cls(
            PhoneLine.for_stack(stack),
            stack.endpoint,
            port=port,
            inbound=InboundLog(stack.client("s3"), stack.env["RAW_BUCKET"]),
            suppressed=_stack_suppression,
        )

    def status(self, phone: str) -> dict[str, Any]:
        return number_status(self.line.sns, phone, self.suppressed)

    def start(self) -> PhoneSimulator:
        self._thread = threading.Thread(target=self.server.serve_forever, name="phone", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def send(self, phone: str, text: str) -> str:
        replies = self._replies(phone)
        previous = str(replies[-1]["id"] or "") if replies else ""
        inbound_id = send_sms(self.line, phone, text, previous_message_id=previous)
        with self._lock:
            self._threads.setdefault(phone, _Thread()).sent.append(
                {"direction": "in", "id": inbound_id, "text": text, "at": time.time()}
            )
        return inbound_id

    def _replies(self, phone: str) -> list[dict[str, Any]]:
        return replies_for(fetch_moto_data(self.endpoint), phone)

    def thread(self, phone: str) -> list[dict[str, Any]]:
        """Sent and received messages for `phone`, in the order the simulator saw them."""
        replies = self._replies(phone)
        stored = self.inbound.messages_from(phone) if self.inbound is not None else []
        now = time.time()
        with self._lock:
            state = self._threads.setdefault(phone, _Thread())
            items = list(state.sent)
            mine = {m["id"] for m in items}
            # Sent from elsewhere (the CLI, a test): placed when the stack stored it raw.
            items.extend(
                {"direction": "in", "id": m["id"], "text": m["text"], "at": m["at"]}
                for m in stored
                if m["id"] not in mine
            )
            for reply in replies:
                at = state.seen.setdefault(str(reply["id"]), now)
                items.append({"direction": "out", "id": reply["id"], "text": reply["text"], "at": at})
        # Stable sort: replies first seen in the same poll keep moto's order.
        return sorted(items, key=lambda m: m["at"])


def _handler_for(sim: PhoneSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "replydesk-phone"

        def log_message(self, format: str, *args: Any) -> None:
            # The query string holds the phone number: log the path only.
            log.debug("phone simulator %s %s", self.command, urlsplit(self.path).path)

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            try:
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                # The page went away mid-poll (a reload, a closed tab): nothing to answer.
                self.close_connection = True

        def _json(self, status: int, data: Any) -> None:
            body = json.dumps(data, ensure_ascii=False).encode()
            self._send(status, body, "application/json; charset=utf-8")

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/":
                self._send(200, _page(sim).encode(), "text/html; charset=utf-8")
            elif parts.path == "/api/thread":
                phone = (parse_qs(parts.query).get("phone") or [""])[0].strip()
                if not phone:
                    self._json(400, {"error": "phone is required"})
                    return
                try:
                    messages = sim.thread(phone)
                    status = sim.status(phone)
                except (StackUnavailable, BotoCoreError, ClientError) as exc:
                    problem = exc.problem if isinstance(exc, StackUnavailable) else type(exc).__name__
                    self._json(502, {"error": f"the emulator did not answer ({problem})"})
                    return
                except Exception as exc:  # noqa: BLE001 - the page gets an answer, the server keeps serving
                    log.warning("phone simulator thread failed: %s", type(exc).__name__)
                    self._json(500, {"error": f"the simulator could not read the thread ({type(exc).__name__})"})
                    return
                self._json(
                    200,
                    {
                        "phone": phone,
                        "campaign_number": sim.line.campaign_number,
                        "status": status,
                        "messages": messages,
                    },
                )
            elif parts.path == "/api/segments":
                text = (parse_qs(parts.query, keep_blank_values=True).get("text") or [""])[0][:MAX_TEXT]
                count = count_segments(text)
                self._json(
                    200,
                    {"encoding": count.encoding.value, "units": count.units, "segments": count.segments},
                )
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/api/send":
                self._json(404, {"error": "not found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_REQUEST_BYTES:
                self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "request too large"})
                return
            try:
                data = json.loads(self.rfile.read(length) or b"{}")
            except (json.JSONDecodeError, UnicodeDecodeError):
                self._json(400, {"error": "body is not JSON"})
                return
            phone = str(data.get("phone") or "").strip() if isinstance(data, dict) else ""
            text = data.get("text") if isinstance(data, dict) else None
            # Invalid numbers and empty texts are allowed on purpose: they are cases to try.
            if not phone or not isinstance(text, str):
                self._json(400, {"error": "phone and text are required"})
                return
            if len(text) > MAX_TEXT:
                self._json(400, {"error": f"text longer than {MAX_TEXT} characters"})
                return
            try:
                inbound_id = sim.send(phone, text)
            except Exception as exc:  # noqa: BLE001 - report any emulator failure to the page, keep serving
                self._json(502, {"error": f"publishing failed ({type(exc).__name__})"})
                return
            self._json(200, {"inboundMessageId": inbound_id})

    return Handler


def _page(sim: PhoneSimulator) -> str:
    options = "".join(f'<option value="{n}">' for n in PRESET_NUMBERS)
    return _PAGE.replace("{{OPTIONS}}", options).replace("{{NUMBER}}", sim.line.campaign_number)


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>replydesk phone simulator</title>
<style>
 body { font-family: system-ui, sans-serif; max-width: 34rem; margin: 1.5rem auto; padding: 0 1rem;
        color: #222; }
 h1 { font-size: 1.3rem; margin-bottom: .2rem; }
 .hint { color: #666; font-size: .85rem; margin-top: 0; }
 label { display: block; font-weight: 600; margin: .8rem 0 .3rem; }
 input, textarea { width: 100%; box-sizing: border-box; font: inherit; padding: .4rem; }
 #thread { border: 1px solid #ccc; border-radius: .5rem; padding: .6rem; min-height: 12rem;
           max-height: 26rem; overflow-y: auto; background: #f7f7f7; display: flex; flex-direction: column; }
 .msg { max-width: 80%; padding: .4rem .7rem; border-radius: 1rem; margin: .2rem 0; white-space: pre-wrap;
        word-wrap: break-word; }
 .msg.in { align-self: flex-end; background: #1a7f37; color: #fff; }
 .msg.out { align-self: flex-start; background: #e4e4e4; }
 .empty { color: #888; font-style: italic; }
 #error { color: #b00020; min-height: 1.2rem; }
 button { margin-top: .5rem; font: inherit; padding: .4rem 1.2rem; }
 #count { color: #666; font-size: .8rem; }
 #status { color: #8a4b00; font-size: .85rem; min-height: 1.1rem; margin-top: .3rem; }
</style>
</head>
<body>
<h1>Phone simulator</h1>
<p class="hint">Send an SMS to the campaign number <strong id="campaign-number">{{NUMBER}}</strong>
and see the replies this phone receives, and what it sent from here or with
<code>replydesk sms send</code>. Numbers ending in 99 are opted out at SNS.</p>
<label for="phone">This phone's number</label>
<input id="phone" list="numbers" value="+14255550123" autocomplete="off">
<datalist id="numbers">{{OPTIONS}}</datalist>
<div id="status" role="status"></div>
<label for="thread">Conversation</label>
<div id="thread" aria-live="polite"><span class="empty">No messages yet.</span></div>
<label for="text">Message</label>
<textarea id="text" rows="3" placeholder="Type an SMS, or STOP, START, HELP"></textarea>
<div id="count"></div>
<button id="send" type="button">Send</button>
<div id="error" role="alert"></div>
<script>
const $ = (id) => document.getElementById(id);
let lastRendered = "";
function render(messages) {
  const key = JSON.stringify(messages.map((m) => [m.direction, m.id]));
  if (key === lastRendered) return;
  lastRendered = key;
  const box = $("thread");
  box.replaceChildren();
  if (!messages.length) {
    const e = document.createElement("span"); e.className = "empty"; e.textContent = "No messages yet.";
    box.append(e);
  }
  for (const m of messages) {
    const div = document.createElement("div");
    div.className = "msg " + m.direction;
    div.textContent = m.text === "" ? "(empty message)" : m.text;  // textContent: never HTML
    box.append(div);
  }
  box.scrollTop = box.scrollHeight;
}
async function poll() {
  const phone = $("phone").value.trim();
  if (!phone) { render([]); return; }
  try {
    const resp = await fetch("/api/thread?phone=" + encodeURIComponent(phone), {cache: "no-store"});
    const data = await resp.json();
    if ($("phone").value.trim() !== phone) return;
    if (resp.ok) {
      render(data.messages);
      $("status").textContent = data.status.note;
    } else {
      $("status").textContent = data.error || "The stack did not answer.";
    }
  } catch (e) { /* the stack may be restarting: try again next second */ }
}
let countSeq = 0;
async function count() {
  const text = $("text").value;
  const seq = ++countSeq;
  if (!text) { $("count").textContent = ""; return; }
  try {
    const resp = await fetch("/api/segments?text=" + encodeURIComponent(text), {cache: "no-store"});
    const c = await resp.json();
    if (seq !== countSeq) return;  // a later keystroke already asked
    const unit = c.encoding === "GSM-7" ? "septets" : "UTF-16 units";
    $("count").textContent = text.length + " characters · " + c.encoding + " · " + c.units + " " + unit +
      " · " + c.segments + (c.segments === 1 ? " segment" : " segments");
  } catch (e) { $("count").textContent = text.length + " characters"; }
}
async function send() {
  $("error").textContent = "";
  const phone = $("phone").value.trim();
  const text = $("text").value;
  if (!phone) { $("error").textContent = "Pick a phone number first."; return; }
  $("send").disabled = true;
  try {
    const resp = await fetch("/api/send", {method: "POST", headers: {"Content-Type": "application/json"},
                                           body: JSON.stringify({phone, text})});
    const data = await resp.json();
    if (!resp.ok) { $("error").textContent = data.error || "Sending failed."; return; }
    $("text").value = ""; $("count").textContent = "";
    await poll();
  } catch (e) {
    $("error").textContent = "The simulator did not answer.";
  } finally {
    $("send").disabled = false;
  }
}
$("send").addEventListener("click", send);
$("text").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); }
});
$("text").addEventListener("input", count);
$("phone").addEventListener("input", () => { lastRendered = ""; poll(); });
poll();
setInterval(poll, 1000);
</script>
</body>
</html>
"""
