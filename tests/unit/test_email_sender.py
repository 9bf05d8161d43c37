"""The sender is the addr-spec inside From's angle brackets: display names never supply an identity."""

from __future__ import annotations

import base64

import pytest
from mailcorpus import parse_bytes

from chalicelib.intake.email import parse_from

pytestmark = pytest.mark.unit

VICTIM = "victim@x.example"
MALLORY = "mallory@evil.example"


def _b64(text: bytes) -> str:
    return "=?utf-8?b?" + base64.b64encode(text).decode() + "?="


SPOOFS = {
    "encoded CRLF + Bcc": f"=?utf-8?q?Bob=0D=0ABcc=3A_victim=40x=2Eexample?= <{MALLORY}>",
    "encoded CRLF + From": _b64(b"a\r\nFrom: victim@x.example <victim@x.example>") + f" <{MALLORY}>",
    "encoded address as name": f"=?utf-8?q?victim=40x=2Eexample?= <{MALLORY}>",
    "encoded angle-addr as name": f"=?utf-8?q?V_=3Cvictim=40x=2Eexample=3E?= <{MALLORY}>",
    "bare address as name": f"{VICTIM} <{MALLORY}>",
    "quoted address as name": f'"{VICTIM}" <{MALLORY}>',
    "quoted angle-addr as name": f'"Bob \\" <{VICTIM}>" <{MALLORY}>',
    "address in a comment": f"{MALLORY} ({VICTIM})",
    "address after the angle-addr": f"Mallory <{MALLORY}> {VICTIM}",
    "unclosed angle": f"Mallory <{MALLORY}",
}


@pytest.mark.parametrize("value", SPOOFS.values(), ids=SPOOFS.keys())
def test_display_name_never_makes_the_victim_the_sender(value: str) -> None:
    # GIVEN a From whose display part names the victim (encoded, quoted, commented or bare)
    raw = f"From: {value}\r\nTo: support@demo.replydesk.test\r\nSubject: hi\r\n\r\nbody\r\n".encode()
    # WHEN the mail is parsed
    msg = parse_bytes(raw).message
    # THEN the sender is the angle-addr (or bare addr-spec), and the victim appears nowhere in the identity
    assert msg.sender == MALLORY
    assert VICTIM not in msg.sender_name
    # AND the display name is one line without control characters (it goes into our ack's To header)
    assert not any(ord(c) < 32 for c in msg.sender_name)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Ann <Ann@Example.COM>", ("Ann", "ann@example.com")),
        ("=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jorg@example.com>", ("Jörg Müller", "jorg@example.com")),
        ('"Doe, Jane" <jane@example.com>', ("Doe, Jane", "jane@example.com")),
        ("jane@example.com (Jane Doe)", ("Jane Doe", "jane@example.com")),
        ("Pete(A wonderful \\) chap) <pete(his account)@silly.test(his host)>", ("Pete", "pete@silly.test")),
        ("John Doe <jdoe@machine(comment).  example>", ("John Doe", "jdoe@machine.example")),
        ("<@relay.example:user@host.example>", ("", "user@host.example")),
        ("Ann <ann@example.com>, Bob <bob@example.com>", ("Ann", "ann@example.com")),
        ("mailer-daemon", ("", "mailer-daemon")),
    ],
)
def test_ordinary_from_values_keep_their_name_and_address(value: str, expected: tuple[str, str]) -> None:
    # GIVEN an ordinary (or RFC 5322 obsolete-syntax) From value WHEN it is parsed THEN name and address are right
    assert parse_from(value) == expected


@pytest.mark.parametrize("value", ["Mallory victim@x.example", "", "Just A Name", '"only quoted"'])
def test_from_without_a_mailbox_has_no_sender(value: str) -> None:
    # GIVEN a From value with no angle-addr and no leading addr-spec WHEN it is parsed THEN there is no sender
    assert parse_from(value)[1] == ""


def test_message_without_usable_from_says_why() -> None:
    # GIVEN a mail whose From is only a display name
    msg = parse_bytes(b"From: Just A Name\r\nSubject: x\r\n\r\nhi\r\n").message
    # THEN it has no sender, and its problems say so (stored, never acknowledged)
    assert msg.sender == ""
    assert "From has no usable address" in msg.problems
