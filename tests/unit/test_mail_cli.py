"""`replydesk mail check`: one verdict line per file, thread keys, errors that do not stop the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from mailcorpus import DATA

from cli.main import main

pytestmark = pytest.mark.unit

REPLY = DATA / "emails_talon" / "standard_replies" / "yahoo.eml"
BOUNCE = DATA / "emails_rt" / "multipart-report"
OOO = DATA / "bounces_bounceparser" / "aol-vacation.msg"
OUTLOOK_MSG = DATA / "emails_mail_parser" / "mail_outlook_1"


def test_check_prints_ack_and_no_ack_with_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a human reply, a bounce, an out-of-office and the Outlook binary
    # WHEN they are checked in one run
    rc = main(["mail", "check", str(REPLY), str(BOUNCE), str(OOO), str(OUTLOOK_MSG)])
    out = capsys.readouterr().out
    # THEN each gets its line, the .msg an error, and the run succeeds
    assert rc == 0
    assert f"{REPLY}: ack" in out
    assert f"{BOUNCE}: no-ack: bounce" in out
    assert f"{OOO}: no-ack: auto_reply" in out
    assert f"{OUTLOOK_MSG}: error: Outlook .msg" in out


def test_check_prints_thread_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a customer reply to our acknowledgement
    mail = tmp_path / "reply.eml"
    mail.write_bytes(
        b"From: Ann <ann@example.com>\r\nTo: support@demo.replydesk.test\r\n"
        b"Subject: Re: [RD-7K3M9Q] Where is my order?\r\nMessage-ID: <m2@example.com>\r\n"
        b"In-Reply-To: <ack1@demo.replydesk.test>\r\n"
        b"References: <m1@example.com> <ack1@demo.replydesk.test>\r\n\r\nStill waiting.\r\n"
    )
    # WHEN checked
    rc = main(["mail", "check", "--campaign", "demo", str(mail)])
    out = capsys.readouterr().out
    # THEN it is acked and every thread key is shown
    assert rc == 0
    assert f"{mail}: ack" in out
    assert "message-id:  m2@example.com" in out
    assert "in-reply-to: ack1@demo.replydesk.test" in out
    assert "references:  m1@example.com ack1@demo.replydesk.test" in out
    assert "token:       RD-7K3M9Q" in out
    assert "subject:     [RD-7K3M9Q] Where is my order?" in out


def test_check_uses_ses_verdict_headers_of_stored_mail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a raw mail as SES stored it, with its verdict headers
    mail = tmp_path / "ses.eml"
    mail.write_bytes(b"X-SES-Spam-Verdict: PASS\nX-SES-Virus-Verdict: FAIL\nFrom: a@example.com\nSubject: hi\n\nx\n")
    # WHEN checked THEN the virus verdict is the reason
    main(["mail", "check", "-q", str(mail)])
    assert capsys.readouterr().out.strip() == f"{mail}: no-ack: virus"


def test_unreadable_files_error_and_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN only a missing file WHEN checked THEN an error line and exit code 1
    missing = tmp_path / "nope.eml"
    assert main(["mail", "check", str(missing)]) == 1
    assert f"{missing}: error: cannot read" in capsys.readouterr().out


def test_check_exits_1_when_a_file_cannot_be_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a readable reply and a path that does not exist
    missing = tmp_path / "missing.eml"
    # WHEN both are checked
    rc = main(["mail", "check", "-q", str(REPLY), str(missing)])
    captured = capsys.readouterr()
    # THEN the reply still gets its verdict, the missing file an error line, and the exit status is 1
    assert rc == 1
    assert f"{REPLY}: ack" in captured.out
    assert f"{missing}: error: cannot read" in captured.out
    assert "1 of 2 files could not be read" in captured.err
