"""detect_keyword: STOP/START/HELP on the whole message, as carriers match them."""

from __future__ import annotations

import dataclasses

import pytest

from chalicelib.config import Campaign, load_campaign
from chalicelib.sms import HELP_WORDS, OPT_IN_WORDS, OPT_OUT_WORDS, Keyword, detect_keyword

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return load_campaign("demo")


@pytest.mark.parametrize("word", OPT_OUT_WORDS)
def test_every_carrier_opt_out_word_is_stop(word: str) -> None:
    # GIVEN a carrier opt-out word, WHEN detected, THEN it is STOP
    assert detect_keyword(word) is Keyword.STOP


@pytest.mark.parametrize("word", OPT_IN_WORDS)
def test_every_opt_in_word_is_start(word: str) -> None:
    # GIVEN an opt-in word, WHEN detected, THEN it is START
    assert detect_keyword(word) is Keyword.START


@pytest.mark.parametrize("word", HELP_WORDS)
def test_every_help_word_is_help(word: str) -> None:
    # GIVEN a help word, WHEN detected, THEN it is HELP
    assert detect_keyword(word) is Keyword.HELP


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("stop", Keyword.STOP),
        ("Stop", Keyword.STOP),
        ("  STOP \n", Keyword.STOP),
        ("STOP.", Keyword.STOP),
        ("stop!!", Keyword.STOP),
        ('"STOP"', Keyword.STOP),
        ("'stop'", Keyword.STOP),
        ("“Stop”", Keyword.STOP),
        ("Opt out", Keyword.STOP),
        ("opt-out", Keyword.STOP),
        ("OPT_OUT", Keyword.STOP),
        ("Stop all", Keyword.STOP),
        ("arrêt", Keyword.STOP),
        ("Arret", Keyword.STOP),
        ("ＳＴＯＰ", Keyword.STOP),  # full-width letters from a CJK keyboard
        ("unsubscribe\t", Keyword.STOP),
        ("start", Keyword.START),
        ("Yes", Keyword.START),
        ("un-stop", Keyword.START),
        ("help?", Keyword.HELP),
        ("Info", Keyword.HELP),
        ("hjälp", Keyword.HELP),
        ("HJALP", Keyword.HELP),
        ("Hilfe!", Keyword.HELP),
        ("ayuda", Keyword.HELP),
        ("aide", Keyword.HELP),
    ],
)
def test_case_whitespace_accents_and_wrapping_are_ignored(body: str, keyword: Keyword) -> None:
    # GIVEN a keyword as people actually type it
    # WHEN detected
    # THEN it is recognised
    assert detect_keyword(body) is keyword


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   ",
        "please stop",
        "stop sending me offers",
        "Don't stop",
        "stopp",  # only a campaign word (see below)
        "help me with my order",
        "yes please",
        "where is my order?",
        "😡",
        "x" * 1600,
    ],
)
def test_anything_else_is_not_a_keyword(body: str) -> None:
    # GIVEN a message that merely contains a keyword, or none at all
    # WHEN detected
    # THEN it is an ordinary message (the whole message must be the keyword)
    assert detect_keyword(body) is None


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("STOPP", Keyword.STOP),
        ("avsluta", Keyword.STOP),
        ("Halt!", Keyword.STOP),
        ("parar", Keyword.STOP),
        ("BAJA", Keyword.STOP),
        ("starta", Keyword.START),
        ("stop", Keyword.STOP),
        ("help", Keyword.HELP),
    ],
)
def test_campaign_words_add_to_the_defaults(campaign: Campaign, body: str, keyword: Keyword) -> None:
    # GIVEN the demo campaign's own opt-out and opt-in words
    # WHEN detected for that campaign
    # THEN both its words and the carrier defaults work
    assert detect_keyword(body, campaign) is keyword


def test_a_word_configured_both_ways_counts_as_opt_out(campaign: Campaign) -> None:
    # GIVEN a campaign that lists HALT both as opt-out and as opt-in (a configuration slip)
    sms = dataclasses.replace(campaign.sms, opt_out_keywords=("HALT",), opt_in_keywords=("HALT", "YES"))
    odd = dataclasses.replace(campaign, sms=sms)
    # WHEN HALT is detected
    # THEN opt-out wins: failing to stop is the mistake that must never happen
    assert detect_keyword("halt", odd) is Keyword.STOP
    assert detect_keyword("yes", odd) is Keyword.START


def test_keyword_values_are_stable() -> None:
    # GIVEN the stored values, THEN they never change (they are in DynamoDB)
    assert [k.value for k in Keyword] == ["STOP", "START", "HELP"]


# The table of variants (issue 11): which count as the keyword and which are ordinary messages.
VARIANTS = [
    # trailing emoji and symbols
    ("STOP 🛑", Keyword.STOP),
    ("stop 🙏🏽", Keyword.STOP),
    ("Stop!!! 😡😡", Keyword.STOP),
    ("🛑 STOP 🛑", Keyword.STOP),
    ("STOP ❤️", Keyword.STOP),
    ("stop 👨\u200d👩\u200d👧", Keyword.STOP),
    ("STOP ✋", Keyword.STOP),
    # repeated words
    ("STOP STOP", Keyword.STOP),
    ("stop stop stop", Keyword.STOP),
    ("Stop. Stop!", Keyword.STOP),
    ("STOP, STOP", Keyword.STOP),
    ("opt out opt out", Keyword.STOP),
    ("unsubscribe unsubscribe", Keyword.STOP),
    ("help help", Keyword.HELP),
    # a signature line
    ("STOP\nAnna", Keyword.STOP),
    ("Stop\n- Ann Berg", Keyword.STOP),
    ("stop\n-- \nJohn Smith\nAcme Ltd", Keyword.STOP),
    ("STOP\n\nSent from my iPhone", Keyword.STOP),
    ("Stopp\nSkickat från min iPhone", None),  # Swedish word: only for a Swedish campaign (below)
    # ordinary messages that merely contain the keyword
    ("stop sending me the wrong size", None),
    ("STOP\nsending me offers", None),
    ("Stop 🛑 sending me offers", None),
    ("please stop", None),
    ("STOP START", None),
    ("stop or I call my bank", None),
    ("STOP\nI never ordered this\nand want a refund", None),
    ("help stop", None),
]


@pytest.mark.parametrize(("body", "keyword"), VARIANTS)
def test_keyword_variants_table(body: str, keyword: Keyword | None) -> None:
    # GIVEN a message as people send it WHEN detected THEN the table says whether it is the keyword
    assert detect_keyword(body) is keyword


# The campaign's languages bring their own words in their own scripts; other languages' do not.
LANGUAGE_VARIANTS = [
    ("sv", "Stopp", Keyword.STOP),
    ("sv", "AVSLUTA 😤", Keyword.STOP),
    ("sv", "Stopp\nSkickat från min iPhone", Keyword.STOP),
    ("sv", "hjälp", Keyword.HELP),
    ("de", "Abmelden", Keyword.STOP),
    ("de", "Stopp stopp", Keyword.STOP),
    ("fr", "Arrêter", Keyword.STOP),
    ("fr", "désinscrire", Keyword.STOP),
    ("es", "Baja 👋", Keyword.STOP),
    ("ru", "СТОП", Keyword.STOP),
    ("ru", "стоп 🙏", Keyword.STOP),
    ("ru", "Отписаться", Keyword.STOP),
    ("el", "ΣΤΟΠ", Keyword.STOP),
    ("ar", "توقف", Keyword.STOP),
    ("zh", "退订", Keyword.STOP),
    ("ja", "配信停止", Keyword.STOP),
    ("ru", "стоп, не то прислали", None),
    ("en", "СТОП", None),  # Cyrillic is not an English campaign's opt-out word
    ("en", "Stopp", None),
]


@pytest.mark.parametrize(("language", "body", "keyword"), LANGUAGE_VARIANTS)
def test_campaign_languages_add_their_own_words(
    campaign: Campaign, language: str, body: str, keyword: Keyword | None
) -> None:
    # GIVEN a campaign whose only language is `language` (no campaign-specific words)
    sms = dataclasses.replace(campaign.sms, opt_out_keywords=(), opt_in_keywords=())
    local = dataclasses.replace(campaign, languages=(language,), sms=sms)
    # WHEN the message is detected for it THEN its language's words count, other scripts do not
    assert detect_keyword(body, local) is keyword
