"""GSM-7 and UCS-2 segment counting and splitting against known examples (3GPP TS 23.038 / 23.040)."""

from __future__ import annotations

import random

import pytest

from chalicelib.errors import SegmentBudgetExceeded
from chalicelib.sms import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    SegmentCount,
    SmsEncoding,
    count_segments,
    fit_to_budget,
    gsm_lookalikes,
    is_gsm7,
    split_segments,
)

pytestmark = pytest.mark.unit

GSM, UCS = SmsEncoding.GSM7, SmsEncoding.UCS2


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def septets(text: str) -> int:
    return sum(2 if c in GSM7_EXTENSION else 1 for c in text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SegmentCount(GSM, 0, 0)),
        ("a", SegmentCount(GSM, 1, 1)),
        ("a" * 160, SegmentCount(GSM, 160, 1)),
        ("a" * 161, SegmentCount(GSM, 161, 2)),
        ("a" * 306, SegmentCount(GSM, 306, 2)),
        ("a" * 307, SegmentCount(GSM, 307, 3)),
        ("a" * 459, SegmentCount(GSM, 459, 3)),
        ("a" * 460, SegmentCount(GSM, 460, 4)),
        ("€", SegmentCount(GSM, 2, 1)),
        ("a" * 158 + "€", SegmentCount(GSM, 160, 1)),
        ("a" * 159 + "€", SegmentCount(GSM, 161, 2)),
        ("^{}\\[~]|€", SegmentCount(GSM, 18, 1)),
        ("ж" * 70, SegmentCount(UCS, 70, 1)),
        ("ж" * 71, SegmentCount(UCS, 71, 2)),
        ("ж" * 134, SegmentCount(UCS, 134, 2)),
        ("ж" * 135, SegmentCount(UCS, 135, 3)),
        ("😀", SegmentCount(UCS, 2, 1)),
        ("😀" * 35, SegmentCount(UCS, 70, 1)),
        ("😀" * 36, SegmentCount(UCS, 72, 2)),
        ("Hello 😀", SegmentCount(UCS, 8, 1)),
        ("a" * 159 + "😀", SegmentCount(UCS, 161, 3)),
        ("我的包裹还没有到", SegmentCount(UCS, 8, 1)),
        ("Hej! Var är mitt paket? Ärendet gäller order 123.", SegmentCount(GSM, 49, 1)),
        ("ç", SegmentCount(UCS, 1, 1)),  # only the capital Ç is in the GSM-7 table
        ("Ç", SegmentCount(GSM, 1, 1)),
        ("Where’s my order?", SegmentCount(UCS, 17, 1)),  # one curly apostrophe is enough for UCS-2
    ],
    ids=lambda v: repr(v)[:24] if isinstance(v, str) else None,
)
def test_known_examples(text: str, expected: SegmentCount) -> None:
    # GIVEN a text whose over-the-air size is known
    # WHEN it is counted
    count = count_segments(text)
    # THEN encoding, units and segments match
    assert count == expected
    # AND the count agrees with the actual split
    assert count.segments == len(split_segments(text))


def test_the_tables_are_the_3gpp_tables() -> None:
    # GIVEN the GSM-7 default alphabet without ESC, and the extension table
    # THEN they hold 127 and 10 characters, and do not overlap
    assert len(GSM7_BASIC) == 127
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION
    assert "\x1b" not in GSM7_BASIC
    assert is_gsm7("".join(sorted(GSM7_BASIC | GSM7_EXTENSION)))


def test_an_escape_sequence_is_never_split_across_parts() -> None:
    # GIVEN 306 septets (naively 2 parts) where a euro sign would straddle the first part's end
    text = "a" * 152 + "€" + "a" * 152
    # WHEN it is split
    parts = split_segments(text)
    # THEN the euro sign moves whole into the second part, which makes three parts
    assert parts == ["a" * 152, "€" + "a" * 151, "a"]
    assert count_segments(text) == SegmentCount(GSM, 306, 3)


def test_a_surrogate_pair_is_never_split_across_parts() -> None:
    # GIVEN 134 UTF-16 units (naively 2 parts) where an emoji would straddle the first part's end
    text = "ж" * 66 + "😀" + "ж" * 66
    # WHEN it is split
    parts = split_segments(text)
    # THEN the emoji moves whole into the second part
    assert parts == ["ж" * 66, "😀" + "ж" * 65, "ж"]
    assert count_segments(text) == SegmentCount(UCS, 134, 3)


def test_a_multipart_gsm_message_splits_at_153_septets() -> None:
    # GIVEN 400 GSM-7 characters
    text = "".join(chr(ord("a") + i % 26) for i in range(400))
    # WHEN it is split
    parts = split_segments(text)
    # THEN parts are 153, 153 and 94 characters and join back to the text
    assert [len(p) for p in parts] == [153, 153, 94]
    assert "".join(parts) == text


def test_a_multipart_ucs2_message_splits_at_67_units() -> None:
    # GIVEN 150 Cyrillic characters
    text = "я" * 150
    # WHEN it is split
    parts = split_segments(text)
    # THEN parts are 67, 67 and 16 units
    assert [utf16_units(p) for p in parts] == [67, 67, 16]


@pytest.mark.parametrize("seed", range(20))
def test_random_texts_split_within_limits_and_join_back(seed: int) -> None:
    # GIVEN a random mix of GSM-7, extension, accented, CJK and emoji characters
    rng = random.Random(seed)
    alphabet = "abc XYZ 019 .,!\n" + "€[]{}^~|\\" + ("" if seed % 2 else "éñüçжあ😀👍🏽🇸🇪")
    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 700)))
    # WHEN it is counted and split
    count, parts = count_segments(text), split_segments(text)
    # THEN the parts join back, none is empty, each fits its part size, and the count agrees
    assert "".join(parts) == text
    assert all(parts)
    assert count.segments == len(parts)
    if count.encoding is GSM:
        assert count.units == septets(text)
        limit = 160 if len(parts) == 1 else 153
        assert all(septets(p) <= limit for p in parts)
    else:
        assert count.units == utf16_units(text)
        limit = 70 if len(parts) == 1 else 67
        assert all(utf16_units(p) <= limit for p in parts)


def test_fit_to_budget_returns_the_stripped_text_when_it_fits() -> None:
    # GIVEN a rendered template with the renderer's trailing newline
    text = "Northwind: thanks, your reference is RD-7K3M9Q.\n"
    # WHEN it is fitted to a budget of one segment
    # THEN it comes back without surrounding whitespace
    assert fit_to_budget(text, 1) == text.strip()


def test_fit_to_budget_uses_plain_punctuation_when_only_typography_breaks_the_budget() -> None:
    # GIVEN 100 characters that are GSM-7 except for curly quotes and an en dash (so UCS-2: 2 segments)
    text = "We’ve got your message – “thanks”. " + "x" * 65
    assert count_segments(text).segments == 2
    # WHEN it is fitted to one segment
    fitted = fit_to_budget(text, 1)
    # THEN plain punctuation is used and the letters are untouched
    assert fitted == 'We\'ve got your message - "thanks". ' + "x" * 65
    assert count_segments(fitted) == SegmentCount(GSM, 100, 1)


def test_fit_to_budget_keeps_typography_when_it_fits_anyway() -> None:
    # GIVEN a short text with a curly apostrophe
    text = "We’ve got it."
    # WHEN it is fitted to one segment
    # THEN it is unchanged (UCS-2, but within budget)
    assert fit_to_budget(text, 1) == text


def test_fit_to_budget_raises_and_never_truncates() -> None:
    # GIVEN a text of three UCS-2 segments that no punctuation change can save
    text = "Ärende mottaget – vi svarar snart. Ссылка: " + "ж" * 120
    # WHEN it is fitted to a budget of two
    with pytest.raises(SegmentBudgetExceeded) as info:
        fit_to_budget(text, 2)
    # THEN the error says by how much
    assert (info.value.encoding, info.value.segments, info.value.budget) == ("UCS-2", 3, 2)
    assert "3 UCS-2 segments" in str(info.value)


def test_gsm_lookalikes_changes_only_punctuation() -> None:
    # GIVEN typographic punctuation around letters outside GSM-7
    text = "„Grüße“ – ‘ça va’… naïve\u00a0text"
    # WHEN plain forms are used
    plain = gsm_lookalikes(text)
    # THEN punctuation is plain and the letters stay
    assert plain == "\"Grüße\" - 'ça va'... naïve text"
