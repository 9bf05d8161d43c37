"""What a developer reads from the local stack: console lines, the outbox summary, a conversation's timeline."""

from __future__ import annotations

import io
import json
import threading
from typing import Any

import pytest

from cli.workflow_cmd import render as render_timeline
from local.console import ConsoleView, render
from local.outbox import escalations, outbox, sent_emails, summary_line

pytestmark = pytest.mark.unit

# Lines as the handlers print them under `make run` (Powertools JSON logs, EMF), ids made up.
PROCESSED = {
    "level": "INFO",
    "location": "record_handler:778",
    "message": "message processed",
    "timestamp": "2026-12-01 20:18:28,720+0000",
    "service": "replydesk",
    "function_name": "process_intake",
    "correlation_id": "RD-VQRFDR",
    "channel": "sms",
    "ack": True,
    "text_length": 78,
}
BREACHED = {
    "level": "WARNING",
    "message": "sla breached",
    "timestamp": "2026-12-01 20:18:58,357+0000",
    "correlation_id": "RD-VQRFDR",
    "kind": "first_response",
    "breach_level": "1",
    "queue": "supervisors",
}
EMF = {
    "_aws": {"Timestamp": 1796155845389, "CloudWatchMetrics": [{"Namespace": "replydesk", "Metrics": []}]},
    "AckSent": [1.0],
}
NOISE = (
    "Exception=NoSuchJsonPathError, Details=None-Available at '(StringJsonPath| {'literal_value': "
    "'$.conv.Item.first_response_at'}'"
)


def test_console_shows_one_line_per_event_and_hides_metrics_and_emulator_noise() -> None:
    # GIVEN a stored message (its conversation routed to the urgent queue), a breach, an EMF line and moto noise
    def lookup(conversation_id: str) -> dict[str, Any]:
        assert conversation_id == "RD-VQRFDR"
        return {"queue": "urgent", "urgency": "urgent", "topic": "order_status"}

    # WHEN each is rendered for the console
    stored = render(json.dumps(PROCESSED), lookup)
    breach = render(json.dumps(BREACHED))
    # THEN time, conversation and what happened are on one line, the routing included
    assert stored == (
        "20:18:28  RD-VQRFDR   message stored  channel=sms ack=yes -> queue urgent (urgency urgent, topic order_status)"
    )
    assert breach == "20:18:58  RD-VQRFDR   SLA BREACHED  kind=first_response breach_level=1 queue=supervisors"
    # AND metrics and known-harmless emulator lines are hidden, anything else passes unchanged
    assert render(json.dumps(EMF)) is None
    assert render(NOISE) is None
    assert render("Serving on http://127.0.0.1:8000") is None
    assert render("Traceback (most recent call last):") == "Traceback (most recent call last):"
    # AND of the API's request log, changes and errors show, reads that worked (polling) do not
    post = '127.0.0.1 - - [01/Dec/2026 20:17:46] "POST /api/conversations/RD-AX8FUE/reply HTTP/1.1" 200 -'
    assert render(post) == "20:17:46  RD-AX8FUE   HTTP POST /api/conversations/RD-AX8FUE/reply -> 200"
    assert render('127.0.0.1 - - [01/Dec/2026 20:17:47] "GET /api/queues HTTP/1.1" 304 -') is None
    missing = '127.0.0.1 - - [01/Dec/2026 20:17:48] "GET /api/conversations/RD-ZZZZZZ HTTP/1.1" 404 -'
    assert render(missing) == "20:17:48  RD-ZZZZZZ   HTTP GET /api/conversations/RD-ZZZZZZ -> 404"


def test_console_names_the_level_of_unexpected_errors_and_survives_a_failing_lookup() -> None:
    # GIVEN a processing failure and a conversation lookup that fails
    failed = {**PROCESSED, "level": "ERROR", "message": "processing failed", "error": "KeyError"}

    def broken(_: str) -> dict[str, Any]:
        raise RuntimeError("emulator restarting")

    # WHEN rendered THEN the error is visible and the lookup failure costs only the routing part
    assert render(json.dumps(failed)) == "20:18:28  RD-VQRFDR   PROCESSING FAILED (in the DLQ)  error=KeyError error"
    assert render(json.dumps(PROCESSED), broken) == "20:18:28  RD-VQRFDR   message stored  channel=sms ack=yes"


def test_console_view_keeps_each_threads_lines_whole() -> None:
    # GIVEN the console stream and two threads that print() (text and newline are two writes)
    out = io.StringIO()
    view = ConsoleView(out)

    def emit(n: int) -> None:
        for _ in range(50):
            view.write(json.dumps({**BREACHED, "correlation_id": f"RD-{n:06d}"}))
            view.write("\n")
            view.write(json.dumps(EMF) + "\n")

    threads = [threading.Thread(target=emit, args=(n,)) for n in (1, 2)]
    # WHEN both write at once
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # THEN every breach is one whole line, and no EMF line got through
    lines = out.getvalue().splitlines()
    assert len(lines) == 100
    assert {line.split()[1] for line in lines} == {"RD-000001", "RD-000002"}
    assert all(line.endswith("queue=supervisors") for line in lines)


def _raw_mail(to: str, subject: str, date: str = "Tue, 01 Dec 2026 20:10:48 +0000") -> str:
    return (
        f"From: Northwind <support@demo.replydesk.test>\nTo: {to}\nSubject: {subject}\nDate: {date}\n"
        "Message-ID: <m1@demo.replydesk.test>\nContent-Type: text/plain; charset=utf-8\n\nHello there,\nthanks.\n"
    )


def moto_data() -> dict[str, Any]:
    """The parts of /moto-api/data.json the outbox reads, shaped as moto writes them."""
    encoded = "=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jorg@customer.test>"
    notice = {"type": "sla_breached", "conversation_id": "RD-VQRFDR", "kind": "first_response", "level": 1}
    return {
        "ses": {
            "RawMessage": [
                {
                    "id": "b",
                    "destinations": ["jorg@customer.test", encoded],
                    "raw_data": _raw_mail(encoded, "Wir haben Ihre Nachricht erhalten [RD-Z8TGNU]"),
                },
                {
                    "id": "a",
                    "destinations": ["ann@customer.test"],
                    "raw_data": _raw_mail("ann@customer.test", "", "Tue, 01 Dec 2026 20:09:00 +0000"),
                },
            ]
        },
        "sns": {"SMS": [{"message": "Your reference is RD-9GM9P2.", "message_id": "s1", "phone_number": "+1425"}]},
        "sqs": {
            "Message": [
                {
                    "sent_timestamp": 1796155845389,
                    "body": json.dumps(
                        {
                            "MessageId": "n1",
                            "TopicArn": "arn:aws:sns:us-east-1:123456789012:replydesk-demo-dev-escalation",
                            "Subject": "SLA breached: RD-VQRFDR first_response (level 1)",
                            "Message": json.dumps(notice),
                            "Timestamp": "2026-12-01T20:18:58.000Z",
                        }
                    ),
                },
                # The same notification seen twice, and an intake message: neither is listed again.
                {"body": json.dumps({"MessageId": "n1", "TopicArn": "arn:aws:sns:x:1:replydesk-demo-dev-escalation"})},
                {"body": json.dumps({"MessageId": "i1", "TopicArn": "arn:aws:sns:x:1:replydesk-demo-dev-inbound-sms"})},
            ]
        },
    }


def test_outbox_lists_each_recipient_once_with_its_decoded_name() -> None:
    # GIVEN a mail SES recorded with both the bare and the RFC 2047 encoded recipient
    mail = next(m for m in sent_emails(moto_data()) if m["id"] == "b")
    # THEN the recipient is there once, its name decoded, and the bare address stays searchable
    assert mail["to"] == ["jorg@customer.test"]
    assert mail["recipients"] == ["Jörg Müller <jorg@customer.test>"]
    assert mail["at"] == "2026-12-01T20:10:48+00:00"


def test_outbox_reads_an_8bit_utf8_body_as_the_customer_does() -> None:
    # GIVEN a Swedish ack sent with an 8bit UTF-8 text part, as moto hands it back (decoded text)
    raw = (
        "From: Northwind <support@demo.replydesk.test>\nTo: anna@customer.test\nSubject: Tack\n"
        "Message-ID: <m2@demo.replydesk.test>\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        "Vi har tagit emot ditt ärende.\n"
    )
    data = {"ses": {"RawMessage": [{"id": "sv-8bit", "destinations": ["anna@customer.test"], "raw_data": raw}]}}
    # WHEN the outbox reads it
    (mail,) = sent_emails(data)
    # THEN the text is what the customer reads, not the bytes taken for ASCII
    assert mail["text"] == "Vi har tagit emot ditt ärende.\n"


def test_outbox_summary_is_one_line_per_message_mail_by_time_then_sms_then_escalations() -> None:
    # GIVEN two mails (out of order), an SMS and one escalation notification delivered twice
    items = outbox(moto_data())
    # WHEN summarised
    lines = [summary_line(i) for i in items]
    # THEN one line each: time, channel, recipient, subject (or the first words when there is none)
    assert lines == [
        "20:09:00  email       ann@customer.test  Hello there, thanks.",
        "20:10:48  email       Jörg Müller <jorg@customer.test>  Wir haben Ihre Nachricht erhalten [RD-Z8TGNU]",
        "--:--:--  sms         +1425  Your reference is RD-9GM9P2.",
        "20:18:58  escalation  replydesk-demo-dev-escalation  SLA breached: RD-VQRFDR first_response (level 1)",
    ]
    assert escalations(moto_data())[0]["detail"]["conversation_id"] == "RD-VQRFDR"


def test_workflow_timeline_reads_as_one_line_per_entry() -> None:
    # GIVEN the API's view of a conversation that breached its first-response target
    view = {
        "reference": "RD-AX8FUE",
        "status": "new",
        "queue": "supervisors",
        "urgency": "urgent",
        "channel": "sms",
        "topic": "order_status",
        "reasons": ["legal threat: lawyer"],
        "timeline": [
            {"at": "2026-12-01T20:17:07+00:00", "kind": "created", "detail": ""},
            {"at": "2026-12-01T20:17:37+00:00", "kind": "first_response_due", "detail": "overdue"},
            {
                "at": "2026-12-01T20:17:07.5+00:00",
                "kind": "message",
                "direction": "in",
                "channel": "sms",
                "text": "My order never came.  I will contact my lawyer if this is not sorted out today, please.",
            },
            {"at": "2026-12-01T20:17:08+00:00", "kind": "ack", "direction": "out", "channel": "sms", "text": "x"},
            {"at": "2026-12-01T20:17:37Z", "kind": "sla_breached", "detail": "first_response level 1"},
            {"at": "2026-12-01T20:18:00Z", "kind": "note", "direction": "note", "sent_by": "Sam", "text": "Call back"},
        ],
        "messages": [{"direction": "in"}, {"direction": "out"}],
    }
    # WHEN rendered THEN a header, the reasons and each entry in order with its state
    assert render_timeline(view).splitlines() == [
        "RD-AX8FUE  status new, queue supervisors, urgency urgent, channel sms, topic order_status",
        "  why: legal threat: lawyer",
        "  2026-12-01 20:17:07  conversation opened",
        "  2026-12-01 20:17:37  first response due  (overdue)",
        "  2026-12-01 20:17:07  customer wrote (sms): My order never came. I will contact my lawyer if this is…",
        "  2026-12-01 20:17:08  acknowledgement sent (sms)",
        "  2026-12-01 20:17:37  SLA breached  (first_response level 1)",
        "  2026-12-01 20:18:00  note by Sam: Call back",
        "  messages: 1 from the customer, 1 sent",
    ]


def test_console_view_holds_lines_until_the_banner_is_out() -> None:
    # GIVEN the console stream held while the stack starts, and an event logged meanwhile
    out = io.StringIO()
    view = ConsoleView(out, hold=True)
    view.write(json.dumps(BREACHED) + "\n")
    assert out.getvalue() == ""
    # WHEN the banner is released THEN it comes first, then the held line, then later lines as they come
    view.release("BANNER")
    view.write(json.dumps({**BREACHED, "correlation_id": "RD-LATER1"}) + "\n")
    lines = out.getvalue().splitlines()
    assert lines[0] == "BANNER"
    assert lines[1].split()[1] == "RD-VQRFDR"
    assert lines[2].split()[1] == "RD-LATER1"


def test_log_handlers_made_before_the_view_are_moved_onto_it() -> None:
    # GIVEN a handler that already writes to the terminal's stream (Powertools keeps the stream it was
    # created with, and the campaign check imports the Logger before `replydesk local` installs its view)
    import io
    import logging

    from local.console import ConsoleView, route_logs_through

    terminal, shown = io.StringIO(), io.StringIO()
    log = logging.getLogger("replydesk.test.route")
    handler = logging.StreamHandler(terminal)
    log.addHandler(handler)
    log.propagate = False
    try:
        view = ConsoleView(shown)
        # WHEN the view is installed and the handlers are routed through it
        assert route_logs_through(view, terminal) == 1
        log.warning(json.dumps({**BREACHED, "correlation_id": "RD-ROUTED"}))
    finally:
        log.removeHandler(handler)
    # THEN the line is rendered by the view, not written raw to the terminal
    assert terminal.getvalue() == ""
    assert "RD-ROUTED" in shown.getvalue() and "{" not in shown.getvalue()
