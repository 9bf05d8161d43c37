"""Attachment count and size caps hold before anything is stored; the new text is capped in bytes."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from mailcorpus import parse_bytes

from chalicelib.errors import InvalidInput
from chalicelib.intake import email as email_intake

pytestmark = pytest.mark.unit


def _with_attachments(count: int, size: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ann <ann@example.com>"
    msg["To"] = "support@demo.replydesk.test"
    msg["Subject"] = "files"
    msg.set_content("see attached")
    for i in range(count):
        msg.add_attachment(b"x" * size, maintype="application", subtype="octet-stream", filename=f"f{i}.bin")
    return msg.as_bytes()


def test_attachments_up_to_the_count_cap_parse() -> None:
    parsed = parse_bytes(_with_attachments(email_intake.MAX_ATTACHMENTS, 10))
    assert len(parsed.attachment_payloads) == email_intake.MAX_ATTACHMENTS


def test_one_attachment_over_the_count_cap_is_invalid_input() -> None:
    # GIVEN a small mail with one attachment more than the cap (the 4,000-part mail in miniature)
    raw = _with_attachments(email_intake.MAX_ATTACHMENTS + 1, 10)
    # WHEN parsed THEN it is rejected with the reason (the caller parks it; nothing is stored)
    with pytest.raises(InvalidInput, match=f"more than {email_intake.MAX_ATTACHMENTS} attachments"):
        parse_bytes(raw)


def test_attachments_over_the_byte_cap_are_invalid_input(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a byte cap of 1 MB (the real one is 30 MB) and two attachments of 600 KB each
    monkeypatch.setattr(email_intake, "MAX_ATTACHMENT_BYTES", 1024 * 1024)
    raw = _with_attachments(2, 600 * 1024)
    # WHEN parsed THEN it is rejected, naming the cap
    with pytest.raises(InvalidInput, match="attachments larger than 1 MB in total"):
        parse_bytes(raw)
    # AND one of them alone is fine
    assert len(parse_bytes(_with_attachments(1, 600 * 1024)).attachment_payloads) == 1


def test_new_text_is_capped_in_bytes_on_a_character_boundary() -> None:
    # GIVEN a plain mail of 100,000 three-byte characters (300 KB)
    msg = EmailMessage()
    msg["From"] = "ann@example.com"
    msg["Subject"] = "long"
    msg.set_content("€" * 100_000)
    # WHEN parsed
    parsed = parse_bytes(msg.as_bytes()).message
    # THEN the new text fits the byte cap, holds whole characters only, and the text is untouched
    assert parsed.new_text is not None
    assert len(parsed.new_text.encode()) <= email_intake.MAX_NEW_TEXT_BYTES
    assert set(parsed.new_text) == {"€"}
    assert parsed.text.count("€") == 100_000


@pytest.mark.parametrize(
    ("text", "limit", "expected"), [("abc", 2, "ab"), ("é€", 4, "é"), ("é€", 5, "é€"), ("", 0, "")]
)
def test_cap_bytes(text: str, limit: int, expected: str) -> None:
    assert email_intake.cap_bytes(text, limit) == expected


def test_large_base64_attachment_decodes_to_its_exact_bytes() -> None:
    # GIVEN a 2 MB binary attachment (above the one-call base64 threshold)
    import os

    payload = os.urandom(2 * 1024 * 1024)
    msg = EmailMessage()
    msg["From"] = "ann@example.com"
    msg["Subject"] = "big"
    msg.set_content("see attached")
    msg.add_attachment(payload, maintype="application", subtype="octet-stream", filename="big.bin")
    # WHEN parsed THEN the attachment bytes are exactly what was attached
    ((att, data),) = parse_bytes(msg.as_bytes()).attachment_payloads
    assert data == payload and att.size == len(payload)


def test_large_base64_with_broken_padding_decodes_as_the_stdlib_does() -> None:
    # GIVEN a large base64 body whose last quantum lost its padding
    import base64
    import email
    import email.policy

    body = base64.encodebytes(b"\x01\x02" * (700 * 1024 + 1)).rstrip(b"=\n") + b"\n"
    raw = (
        b"From: ann@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename=x.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + body
        + b"--b--\r\n"
    )
    expected = email.message_from_bytes(raw, policy=email.policy.compat32).get_payload()[1].get_payload(decode=True)
    # WHEN parsed THEN the bytes are the ones the stdlib's lenient decoder repairs them to
    ((_, data),) = parse_bytes(raw).attachment_payloads
    assert data == expected and len(data) >= 1_400_000
