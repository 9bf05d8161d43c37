"""`replydesk local`: run the whole system on the embedded AWS emulator, and read its outbox."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Mapping
from typing import Any

from local.endpoints import ENV_API, ENV_ENDPOINT, StackUnavailable, moto_data, moto_endpoint

DEFAULT_PORTS = {"moto_port": 5000, "api_port": 8000, "smtp_port": 2525, "phone_port": 8025, "dashboard_port": 8030}


def banner(stack: Any, *, raw: bool = False, ports_hint: bool = True) -> str:
    """What `replydesk local` prints once the stack is up (the README shows it for the default ports).

    On other ports it adds how the operator commands find the stack (`ports_hint=False` leaves that out).
    """
    lines = [stack.describe()]
    ports = {name: getattr(stack, name) for name in DEFAULT_PORTS}
    if ports_hint and ports != DEFAULT_PORTS:
        lines.append(
            f"  other ports: the operator commands find this stack with\n"
            f"                   export {ENV_ENDPOINT}={stack.endpoint} {ENV_API}={stack.api_url}"
        )
    lines.append("State lives in memory: stopping the stack forgets everything.")
    view = "The handlers' raw output below." if raw else "One line per event below (`--json` for the raw logs)."
    lines.append(f"{view} Press Ctrl+C to stop.")
    return "\n".join(lines)


def _conversation_facts(conversation_id: str) -> Mapping[str, Any]:
    """Queue, urgency and topic of a conversation, for the console's "message stored" lines."""
    from chalicelib import store

    conv = store.get_conversation(conversation_id)
    if conv is None:
        return {}
    return {"queue": conv.queue, "urgency": conv.urgency, "topic": conv.topic, "status": conv.status}


def ports_in_use(ports: Mapping[str, int]) -> list[str]:
    """Which of the wanted ports (0: any free one) cannot be bound on 127.0.0.1, as `name port`."""
    import socket

    busy = []
    for name, port in ports.items():
        if not port:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                busy.append(f"{name.removesuffix('_port')} {port}")
    return busy


def refuse_incomplete(campaign: str) -> str | None:
    """Why `local` must not start this campaign (every missing piece), or None; trains a stale topic model."""
    from chalicelib.campaign.checks import check_campaign
    from cli.campaign_train import ensure_model

    report = check_campaign(campaign, train=ensure_model)
    return None if report.ok else f"replydesk local: nothing started.\n{report.text()}"


def _run(ns: argparse.Namespace) -> int:
    from local.console import ConsoleView, hide_known_noise, route_logs_through

    refusal = refuse_incomplete(ns.campaign)
    if refusal:
        print(refusal, file=sys.stderr)
        return 1
    attach = (ns.endpoint or "").rstrip("/")
    if attach:
        # A second campaign beside a running stack: its emulator, and ports of its own (free ones by default).
        try:
            moto_data(attach)
        except StackUnavailable as exc:
            print(f"replydesk local: {exc.hint()}", file=sys.stderr)
            return 1
        for name, default in DEFAULT_PORTS.items():
            if getattr(ns, name) == default:
                setattr(ns, name, 0)
        ns.moto_port = int(attach.rsplit(":", 1)[1])
    # moto's server thread only logs a port clash and the start then hangs: check first.
    wanted = {name: getattr(ns, name) for name in DEFAULT_PORTS if not (attach and name == "moto_port")}
    busy = ports_in_use(wanted)
    if busy:
        print(
            f"replydesk local: port in use ({', '.join(busy)}). Is a local stack (`make run`) already running? "
            "Stop it, or choose other ports with --moto-port, --api-port, --smtp-port, --phone-port, "
            "--dashboard-port (0: any free).",
            file=sys.stderr,
        )
        return 1

    # Installed before the stack imports the handlers: Powertools' Logger keeps the stream it is created with.
    # Held until the banner is out, so the banner comes first as the README shows.
    view = None
    if not ns.json:
        original = sys.stdout
        view = ConsoleView(original, lookup=_conversation_facts, hold=True)
        sys.stdout = view
        sys.stderr = ConsoleView(sys.stderr)
        # ... and handlers created before it (the campaign check imported the Logger) are moved onto it.
        route_logs_through(view, original)
        hide_known_noise()

    from local.stack import LocalStack

    try:
        stack = LocalStack(
            campaign_name=ns.campaign,
            stage=ns.stage,
            moto_port=ns.moto_port,
            api_port=ns.api_port,
            smtp_port=ns.smtp_port,
            phone_port=ns.phone_port,
            dashboard_port=ns.dashboard_port,
            attach_to=attach,
            **({"pump_concurrency": ns.pump_concurrency} if ns.pump_concurrency else {}),
        ).start()
    except BaseException:
        if view is not None:
            view.release()  # what was logged while starting explains the failure
        raise
    if view is not None:
        view.release(banner(stack))
    else:
        print(banner(stack, raw=True), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    stack.stop()
    return 0


def outbox(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Sent mail, SMS and escalation notifications from moto's data.json."""
    from local.outbox import outbox as everything

    return everything(data)


def _outbox(ns: argparse.Namespace) -> int:
    from local.outbox import full_text, summary_line

    endpoint = moto_endpoint(ns.endpoint)
    try:
        data = moto_data(endpoint)
    except StackUnavailable as exc:
        print(f"replydesk local outbox: {exc.hint()}", file=sys.stderr)
        return 1
    items = outbox(data)
    if ns.channel:
        items = [i for i in items if i["kind"] == ns.channel]
    if not items and not ns.json:
        print("(nothing sent yet)")
    for item in items:
        if ns.json:
            print(json.dumps(item, ensure_ascii=False))
        elif ns.full:
            print(full_text(item) + "\n")
        else:
            print(summary_line(item))
    return 0


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--campaign", default="demo")
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--moto-port", type=int, default=DEFAULT_PORTS["moto_port"])
    parser.add_argument("--api-port", type=int, default=DEFAULT_PORTS["api_port"])
    parser.add_argument("--smtp-port", type=int, default=DEFAULT_PORTS["smtp_port"])
    parser.add_argument("--phone-port", type=int, default=DEFAULT_PORTS["phone_port"], help="the phone simulator page")
    parser.add_argument(
        "--dashboard-port", type=int, default=DEFAULT_PORTS["dashboard_port"], help="the campaign dashboard page"
    )
    parser.add_argument(
        "--endpoint",
        default=None,
        help="host this campaign in the emulator of a running `replydesk local` (e.g. http://127.0.0.1:5000) "
        "instead of starting one: two campaigns side by side in one account and region",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the handlers' raw output (Powertools JSON logs and EMF lines)"
    )
    parser.add_argument(
        "--pump-concurrency",
        type=_positive,
        default=None,
        help="concurrent batches per queue, as Lambda's event source mapping runs them (default 4)",
    )
    parser.set_defaults(func=_run)
    sub = parser.add_subparsers(dest="action")
    ob = sub.add_parser(
        "outbox",
        help="the mail, SMS and escalation notifications the local stack has sent",
        description="One line per message: time (UTC), channel, recipient, subject or first words. "
        "moto keeps no send time for SMS (shown as --:--:--); they are listed in sending order.",
    )
    ob.add_argument("--endpoint", default=None, help=f"the stack's moto endpoint (default: ${ENV_ENDPOINT} or :5000)")
    ob.add_argument("--channel", choices=("email", "sms", "escalation"), help="only this kind")
    view = ob.add_mutually_exclusive_group()
    view.add_argument("--json", action="store_true", help="one JSON object per message, every field")
    view.add_argument("--full", action="store_true", help="headers and the whole text of each message")
    ob.set_defaults(func=_outbox)
