"""`replydesk local`: run the whole system on the embedded AWS emulator, and read its outbox."""

from __future__ import annotations

import argparse
import json
import signal
import threading
import urllib.request


def _run(ns: argparse.Namespace) -> int:
    from local.stack import LocalStack

    stack = LocalStack(
        campaign_name=ns.campaign,
        stage=ns.stage,
        moto_port=ns.moto_port,
        api_port=ns.api_port,
        smtp_port=ns.smtp_port,
        phone_port=ns.phone_port,
        dashboard_port=ns.dashboard_port,
    ).start()
    print(stack.describe(), flush=True)
    print("Press Ctrl+C to stop.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    stack.stop()
    return 0


def outbox(data: dict) -> list[dict]:  # type: ignore[type-arg]
    """Sent mail and SMS from moto's data.json, oldest first."""
    from local.outbox import sent_emails, sent_sms

    return [*sent_emails(data), *sent_sms(data)]


def _outbox(ns: argparse.Namespace) -> int:
    with urllib.request.urlopen(ns.endpoint.rstrip("/") + "/moto-api/data.json", timeout=30) as resp:
        data = json.loads(resp.read())
    for item in outbox(data):
        print(json.dumps(item, ensure_ascii=False))
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--campaign", default="demo")
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--moto-port", type=int, default=5000)
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--smtp-port", type=int, default=2525)
    parser.add_argument("--phone-port", type=int, default=8025, help="the phone simulator page")
    parser.add_argument("--dashboard-port", type=int, default=8030, help="the campaign dashboard page")
    parser.set_defaults(func=_run)
    sub = parser.add_subparsers(dest="action")
    ob = sub.add_parser("outbox", help="print the mail and SMS the local stack has sent")
    ob.add_argument("--endpoint", default="http://127.0.0.1:5000")
    ob.set_defaults(func=_outbox)
