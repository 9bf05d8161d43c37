"""`replydesk sms`: the segments and keyword subcommands."""

from __future__ import annotations

import io

import pytest

from cli.main import main

pytestmark = pytest.mark.unit


def test_segments_prints_encoding_units_and_segments(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a GSM-7 text with one extension character
    # WHEN its segments are asked for
    rc = main(["sms", "segments", "Price: 10€"])
    # THEN encoding, septets and segments are printed
    out = capsys.readouterr().out
    assert rc == 0
    assert "encoding: GSM-7" in out
    assert "units:    11 (septets)" in out
    assert "segments: 1" in out


def test_segments_split_and_budget(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN 71 UCS-2 characters (two segments) and a budget of one
    # WHEN checked with --split and --budget 1
    rc = main(["sms", "segments", "я" * 71, "--split", "--budget", "1"])
    # THEN both segments are shown and the exit status says it does not fit
    captured = capsys.readouterr()
    assert rc == 1
    assert "--- segment 2 (4 characters)" in captured.out
    assert "over budget" in captured.err


def test_segments_reads_standard_input(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a rendered template piped in, with its trailing newline
    monkeypatch.setattr("sys.stdin", io.StringIO("a" * 160 + "\n"))
    # WHEN counted with TEXT '-'
    rc = main(["sms", "segments", "-", "--budget", "1"])
    # THEN the newline is not counted and it fits one segment
    out = capsys.readouterr().out
    assert rc == 0
    assert "units:    160 (septets)" in out
    assert "budget:   1 of 1 segment: fits" in out


@pytest.mark.parametrize(
    ("text", "change"),
    [
        ("a" * 160 + "  ", "surrounding whitespace dropped"),
        ("\u201cHello\u201d \u2014 " + "a" * 100, "typographic punctuation replaced"),
    ],
)
def test_segments_budget_line_agrees_with_the_count_of_what_is_sent(
    capsys: pytest.CaptureFixture[str], text: str, change: str
) -> None:
    # GIVEN a text that costs 2 segments as typed but 1 once it is prepared for sending
    # WHEN checked against a budget of one
    rc = main(["sms", "segments", text, "--budget", "1"])
    out = capsys.readouterr().out
    # THEN the typed count, the count as sent (and why it differs), and the budget line agree
    assert rc == 0
    assert "segments: 2" in out
    assert f"as sent:  GSM-7, {len(text.strip())} septets, 1 segment (" in out
    assert change in out
    assert "budget:   1 of 1 segment: fits" in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["STOP."], "STOP"),
        (["stopp"], "none"),
        (["stopp", "--campaign", "demo"], "STOP"),
        (["hello"], "none"),
    ],
)
def test_keyword(capsys: pytest.CaptureFixture[str], argv: list[str], expected: str) -> None:
    # GIVEN a message, WHEN its keyword is asked for, THEN the keyword (or none) is printed
    assert main(["sms", "keyword", *argv]) == 0
    assert capsys.readouterr().out.strip() == expected
