"""parse_email over the whole shared corpus, plus charset, HTML, attachment, thread-key and mbox cases."""

from __future__ import annotations

import pytest
from mailcorpus import DATA, NOT_EMAIL, parse_bytes, parse_file, rows

from chalicelib.errors import InvalidInput
from chalicelib.inbound import Channel
from chalicelib.intake.email import (
    message_ids,
    normalise_message_id,
    normalise_subject,
    normalise_verdicts,
    reference_tokens,
    split_mbox,
)

pytestmark = pytest.mark.unit

RT_SERIES = DATA / "emails_rt" / "8859-15-message-series"


def test_every_corpus_file_parses_or_is_rejected_as_not_an_email() -> None:
    # GIVEN every raw email listed in email_labels.csv
    parsed, rejected, failures = 0, set(), []
    for row in rows():
        # WHEN it is parsed
        try:
            result = parse_file(row.path)
        except InvalidInput:
            rejected.add(row.file)
            continue
        except Exception as exc:  # noqa: BLE001 - any other error is the failure under test
            failures.append(f"{row.file}: {type(exc).__name__}: {exc}")
            continue
        parsed += 1
        msg = result.message
        # THEN it is a complete email message whose text is a str without NULs
        assert msg.channel is Channel.EMAIL
        assert isinstance(msg.text, str)
        assert "\x00" not in msg.text
        assert msg.sender == msg.sender.lower()
        assert len(result.attachment_payloads) == len(msg.attachments)
    # THEN nothing crashed, and only the files that are not emails at all were rejected
    assert failures == []
    assert rejected == NOT_EMAIL
    assert parsed == len(rows()) - len(NOT_EMAIL)


def test_not_mime_label_is_the_outlook_binary_and_is_rejected_cleanly() -> None:
    # GIVEN the row labelled not_mime
    (row,) = [r for r in rows() if r.label == "not_mime"]
    # WHEN parsed THEN InvalidInput says why
    with pytest.raises(InvalidInput, match="OLE2"):
        parse_file(row.path)


@pytest.mark.parametrize("raw", [b"", b"   \r\n\r\n", b"just some words\nand more\n"])
def test_input_without_headers_is_invalid(raw: bytes) -> None:
    # GIVEN empty input or text without a header section WHEN parsed THEN InvalidInput
    with pytest.raises(InvalidInput):
        parse_bytes(raw)


def test_iso_8859_15_series_decodes_umlauts_and_euro_sign() -> None:
    # GIVEN RT's ISO-8859-15 messages (quoted-printable body, RFC 2047 subject)
    for path in sorted(RT_SERIES.iterdir()):
        # WHEN parsed
        msg = parse_file(path).message
        # THEN subject and body carry the umlauts and the euro sign (0xA4 in 8859-15, not ¤)
        assert msg.subject == "test äöüßÄÖÜß€"
        assert "äöüßÄÖÜß€" in msg.text
        assert msg.sender == "pape@inf.fu-berlin.de"
        assert msg.sender_name == "Dirk Pape"


def test_iso_8859_15_series_shares_one_thread_key() -> None:
    # GIVEN the messages of RT's series (the snapshot keeps msg4-msg7; none has In-Reply-To)
    msgs = [parse_file(p).message for p in sorted(RT_SERIES.iterdir())]
    assert len(msgs) >= 4
    # WHEN their thread keys are compared
    ids = [m.message_id for m in msgs]
    subjects = {normalise_subject(m.subject) for m in msgs}
    # THEN each has its own Message-ID, and they chain by sender and normalised subject
    assert len(set(ids)) == len(msgs)
    assert all(ids)
    assert subjects == {"test äöüßÄÖÜß€"}
    assert {m.sender for m in msgs} == {"pape@inf.fu-berlin.de"}
    for m in msgs:
        # any In-Reply-To/References present must point into the same series
        assert set(m.in_reply_to) | set(m.references) <= set(ids)


def test_talon_reply_has_thread_keys_without_angle_brackets() -> None:
    # GIVEN a Yahoo reply with In-Reply-To
    msg = parse_file(DATA / "emails_talon" / "standard_replies" / "yahoo.eml").message
    # THEN ids are bare and the new text is separated from the quote
    assert msg.message_id == "1333374330.68772.YahooMailNeo@web114411.mail.gq1.yahoo.com"
    assert msg.in_reply_to == ("1333374262.7063.15.camel@mg5",)
    assert msg.new_text == "Hello"
    assert "Original Message" in msg.text


def test_html_only_mail_is_converted_to_text_and_sanitised() -> None:
    # GIVEN an HTML-only message with a script and a quote
    raw = (
        b"From: Ann <Ann@Example.COM>\r\nTo: support@demo.replydesk.test\r\nSubject: Hi\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><head><style>p{}</style></head><body><p>Where is my <b>order</b>?</p>"
        b"<script>alert(1)</script><p>Thanks&nbsp;&amp; bye</p>"
        b"<blockquote>old text</blockquote></body></html>"
    )
    # WHEN parsed
    msg = parse_bytes(raw).message
    # THEN text is readable, the quote is marked, and the stored HTML has no script
    assert "Where is my order?" in msg.text
    assert "Thanks\xa0& bye" in msg.text
    assert "> old text" in msg.text
    assert msg.new_text is not None
    assert "old text" not in msg.new_text
    assert msg.html is not None
    assert "<script" not in msg.html
    assert "<b>order</b>" in msg.html
    assert msg.sender == "ann@example.com"
    assert msg.sender_name == "Ann"


@pytest.mark.parametrize(
    ("charset", "body", "expected"),
    [
        ("unknown-8bit", "Grüße".encode(), "Grüße"),  # UTF-8 bytes under an unknown label
        ("x-no-such-charset", "Grüße".encode("cp1252"), "Grüße"),  # falls back to cp1252
        ("us-ascii", "Grüße".encode(), "Grüße"),  # 8-bit in a 7-bit declaration
        ("ks_c_5601-1987", "안녕하세요".encode("cp949"), "안녕하세요"),
    ],
)
def test_wrong_or_unknown_charsets_fall_back(charset: str, body: bytes, expected: str) -> None:
    # GIVEN a body whose declared charset is wrong or unknown
    raw = (
        f"From: a@example.com\nSubject: x\nContent-Type: text/plain; charset={charset}\n"
        "Content-Transfer-Encoding: 8bit\n\n"
    ).encode() + body
    # WHEN parsed THEN the text is still readable
    assert parse_bytes(raw).message.text.strip() == expected


def test_bad_base64_does_not_raise() -> None:
    # GIVEN a base64 body with garbage in it
    raw = (
        b"From: a@example.com\nSubject: x\nContent-Type: text/plain; charset=utf-8\n"
        b"Content-Transfer-Encoding: base64\n\nSGVsbG8gV29y!!!bGQ=\n"
    )
    # WHEN parsed THEN some text comes out and nothing raises
    assert isinstance(parse_bytes(raw).message.text, str)


def test_broken_headers_fall_back_to_raw_values() -> None:
    # GIVEN a From with unbalanced syntax and a raw 8-bit subject
    raw = b'From: "Broken <bob@example.com\nSubject: Gr\xc3\xbc\xc3\x9fe\nMessage-ID: <a@b>\n\nhi\n'
    msg = parse_bytes(raw).message
    # THEN the subject is decoded as UTF-8 and the id is kept
    assert msg.subject == "Grüße"
    assert msg.message_id == "a@b"


def test_attachments_are_listed_with_payloads() -> None:
    # GIVEN RT's mail with an attachment whose filename uses RFC 2231 continuations
    parsed = parse_file(DATA / "emails_rt" / "email-file-attachment.eml")
    # THEN each attachment has a name, a type and the size of its decoded bytes, and no S3 key yet
    assert parsed.attachment_payloads
    for att, data in parsed.attachment_payloads:
        assert att.filename
        assert "/" not in att.filename
        assert att.size == len(data)
        assert att.s3_key is None


def test_inline_images_are_kept_and_marked() -> None:
    # GIVEN a multipart/related mail with an inline image
    raw = (
        b"From: a@example.com\nSubject: pic\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/related; boundary="B"\n\n'
        b'--B\nContent-Type: text/html\n\n<p>see <img src="cid:img1@x"></p>\n'
        b"--B\nContent-Type: image/png\nContent-ID: <img1@x>\nContent-Transfer-Encoding: base64\n\n"
        b"iVBORw0KGgo=\n--B--\n"
    )
    (att,) = parse_bytes(raw).message.attachments
    assert att.inline
    assert att.content_id == "img1@x"
    assert att.content_type == "image/png"
    assert att.filename.endswith(".png")
    assert att.size == 8


def test_envelope_sender_and_verdicts_are_normalised() -> None:
    # GIVEN SES's mail.source and receipt verdicts
    raw = b"From: a@example.com\nReturn-Path: <other@example.com>\nSubject: x\n\nhi\n"
    msg = parse_bytes(
        raw, envelope_sender="Bounce@Example.com", verdicts={"spfVerdict": {"status": "pass"}, "dkim": "FAIL"}
    ).message
    # THEN the envelope beats Return-Path and verdict keys are short and upper-case
    assert msg.return_path == "bounce@example.com"
    assert msg.verdicts == {"spf": "PASS", "dkim": "FAIL"}
    assert parse_bytes(b"From: a@example.com\nReturn-Path: <>\n\nx\n").message.return_path == ""


def test_sender_cannot_forge_synthetic_headers() -> None:
    # GIVEN a mail carrying our synthetic DSN header itself
    raw = b"From: a@example.com\nX-Replydesk-Dsn-Action: delayed\nSubject: x\n\nhi\n"
    # THEN the header is dropped
    assert "x-replydesk-dsn-action" not in parse_bytes(raw).message.headers


def test_reference_tokens_and_ids() -> None:
    assert reference_tokens("Re: [RD-7K3M9Q] Where is my order? [rd-7k3m9q] [RD-AB12CD]", "RD") == (
        "RD-7K3M9Q",
        "RD-AB12CD",
    )
    assert reference_tokens("[XX-7K3M9Q] no", "RD") == ()
    assert normalise_message_id(" <abc@host> ") == "abc@host"
    assert normalise_message_id("") is None
    assert message_ids("<a@b> <c@d>\r\n <a@b>") == ("a@b", "c@d")
    assert message_ids("a@b") == ("a@b",)
    assert normalise_subject("Re: AW: SV: Fwd:  Hello   there") == "Hello there"
    # the prefixes of other clients and languages, with counters
    for prefixed in ("RE[2]: Hello there", "Réf : Hello there", "VS: Antw: Hello there", "YNT: Hello there"):
        assert normalise_subject(prefixed) == "Hello there", prefixed
    assert normalise_verdicts({"virusVerdict": {"status": "FAIL"}}) == {"virus": "FAIL"}


def test_split_mbox_splits_messages_and_unquotes_from_lines() -> None:
    # GIVEN an mbox built from three corpus messages, one with a ">From " body line
    bodies = [
        (DATA / "emails_talon" / "standard_replies" / "gmail.eml").read_bytes(),
        (DATA / "emails_rt" / "8859-15-message-series" / "msg4").read_bytes(),
        b"From: x@example.com\nSubject: s\n\n>From the start\nbye\n",
    ]
    mbox = b"".join(
        b"From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n" + b.replace(b"\r\n", b"\n") + b"\n" for b in bodies
    )
    # WHEN split
    parts = split_mbox(mbox)
    # THEN there is one message per body, each parses, and the From_ quoting is undone
    assert len(parts) == 3
    assert [parse_bytes(p).message.subject for p in parts][1] == "test äöüßÄÖÜß€"
    assert b"\nFrom the start\n" in parts[2]
    # AND parsing the whole mbox as one upload does not crash
    assert parse_bytes(mbox).message.sender
