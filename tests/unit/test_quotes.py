"""Reply/quote separation: talon's replies from many clients, and hand-made edge cases."""

from __future__ import annotations

import re

import pytest
from mailcorpus import DATA, NOT_EMAIL, parse_file, rows

from chalicelib.intake.quotes import split_reply

pytestmark = pytest.mark.unit

# Markers and phrases of the quoted originals, none of which may leak into the new text.
QUOTED = ("Original Message", "wrote:", "написал", "The manager's comment", "New Booking Inquiry", "\n>")


@pytest.mark.parametrize("name", sorted(r.file for r in rows() if r.label == "reply"))
def test_talon_replies_keep_only_the_new_text(name: str) -> None:
    # GIVEN a human reply that quotes the original
    msg = parse_file(DATA / name).message
    # WHEN its new part is separated
    new = msg.new_text or ""
    # THEN the new text is there, the quote is not, and the full text keeps both
    assert new
    assert [q for q in QUOTED if q in "\n" + new] == []
    assert len(msg.text) > len(new)


def test_standard_replies_say_hello() -> None:
    # GIVEN talon's standard replies, each of which answered "Hi" with "Hello"
    for path in sorted((DATA / "emails_talon" / "standard_replies").glob("*.eml")):
        # THEN the new text is exactly "Hello", whatever the client's quote style
        assert parse_file(path).message.new_text == "Hello", path.name


@pytest.mark.parametrize(
    ("text", "new"),
    [
        ("Thanks!\n\nOn Mon, 2 Apr 2012 at 18:26, Support <s@x.com> wrote:\n> Hi\n", "Thanks!"),
        ("Danke\n\nAm 02.04.2012 um 18:26 schrieb Support <s@x.com>:\n> Hallo\n", "Danke"),
        ("Merci\n\nLe 2 avr. 2012 à 18:26, Support <s@x.com> a écrit :\n> Bonjour\n", "Merci"),
        ("Gracias\n\nEl 2 abr 2012, a las 18:26, Support <s@x.com> escribió:\n> Hola\n", "Gracias"),
        ("Tack\n\nDen 2 apr. 2012 kl. 18:26 skrev Support <s@x.com>:\n> Hej\n", "Tack"),
        ("Ok\n\n-----Original Message-----\nFrom: S\nSent: today\n\nold\n", "Ok"),
        ("Ok\n\n-----Ursprüngliche Nachricht-----\nVon: S\nGesendet: heute\n\nalt\n", "Ok"),
        ("Ok\n________________________________\nFrom: S <s@x.com>\nSent: today\nTo: me\n\nold\n", "Ok"),
        ("Ok\n\nFrom: S <s@x.com>\nSent: Monday\nTo: me\nSubject: x\n\nold\n", "Ok"),
        ("Ok\n\nVon: S <s@x.com>\nGesendet: Montag\nAn: mich\nBetreff: x\n\nalt\n", "Ok"),
        ("Fine thanks\n-- \nAnn\n555-0100\n", "Fine thanks"),
        ("Fine thanks\n\nSent from my iPhone\n\n> earlier\n", "Fine thanks"),
        ("Bra\n\nSkickat från min iPhone\n", "Bra"),
        ("> quoted question\n\nmy answer below\n", "my answer below"),
        ("No quote at all.\nTwo lines.", "No quote at all.\nTwo lines."),
        ("I wrote:\nthis is still mine", "I wrote:\nthis is still mine"),
    ],
)
def test_split_reply_cases(text: str, new: str) -> None:
    # GIVEN a reply in one client's style WHEN split THEN only the new text remains
    assert split_reply(text).new_text == new


def test_split_reply_keeps_quote_and_signature() -> None:
    reply = split_reply("Yes\n-- \nAnn\n\nOn 1 May 2026, S <s@x.com> wrote:\n> Q?\n")
    assert reply.new_text == "Yes"
    assert reply.signature.startswith("--")
    assert "> Q?" in reply.quote


def test_empty_text() -> None:
    assert split_reply("").new_text == ""


# Attributions a reply may carry right above its quote; none of them may end up in the new text.
_ATTRIBUTION = re.compile(r"(?:wrote|schrieb|a écrit|escribió|skrev)\s*[:：]?\s*$", re.IGNORECASE | re.MULTILINE)


@pytest.mark.parametrize(
    "name",
    sorted(r.file for r in rows() if r.file.startswith(("emails_talon/", "emails_rt/")) and r.file not in NOT_EMAIL),
)
def test_no_attribution_line_is_left_in_the_new_text(name: str) -> None:
    # GIVEN any talon or RT fixture that is an email
    msg = parse_file(DATA / name).message
    # WHEN its new part is separated THEN no "... wrote:" line is left in it
    assert not _ATTRIBUTION.search(msg.new_text or ""), msg.new_text


def test_rt_bottom_posted_reply_under_an_undated_attribution_keeps_what_was_written_below() -> None:
    # GIVEN RT's reply that starts "At 14:56 02.06.2003 -0400, you wrote:" then a `>>` quote, then the answer
    msg = parse_file(DATA / "emails_rt" / "new-ticket-from-iso-8859-1-full").message
    # WHEN split THEN the new text is the answer below the quote, without the attribution or the signature
    new = msg.new_text or ""
    assert new.startswith("Hello again,")
    assert "you wrote" not in new
    assert "Håvard" not in new


@pytest.mark.parametrize(
    ("text", "new"),
    [
        # An attribution without a date or an address, right above the quote.
        ("Yes, it arrived.\n\nOn Tue, Northwind wrote:\n> Did the parcel arrive?\n", "Yes, it arrived."),
        ("On Tue, Northwind wrote:\n> Did the parcel arrive?\n\nYes, it did.\n", "Yes, it did."),
        ("Hi,\n\nyes it arrived.\n\nOn Tue, Northwind wrote:\n\n> Did it arrive?\n", "Hi,\n\nyes it arrived."),
        # A top-posted reply that is (or starts with) a greeting right above a dated attribution.
        ("Thanks,\n\nOn Mon, 2 Apr 2012 at 18:26, Support <s@x.com> wrote:\n> Hi\n", "Thanks,"),
        ("Hi,\nOn Mon, 2 Apr 2012 at 18:26, Support <s@x.com> wrote:\n> Hi\n", "Hi,"),
        (
            "Hi,\nthanks for the quick answer.\nOn Tue, 3 Mar 2026, Northwind <s@x.com> wrote:\n> x\n",
            "Hi,\nthanks for the quick answer.",
        ),
        ("Thanks,\nOn Mon, Apr 2, 2012 at 6:26 PM, Megan One <\nxxx@gmail.com> wrote:\n> Hi\n", "Thanks,"),
    ],
)
def test_attribution_lines_and_greetings(text: str, new: str) -> None:
    # GIVEN a reply whose attribution has no date, or whose first line is a greeting
    # WHEN split THEN the greeting is kept as new text and the attribution goes with the quote
    reply = split_reply(text)
    assert reply.new_text == new
    assert "wrote:" in reply.quote
