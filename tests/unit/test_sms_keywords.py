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
        "STOP STOP",
        "Don't stop",
        "stopp",  # only a campaign word (see below)
        "help me with my order",
        "yes please",
        "where is my order?",
        "😡",
        "STOP 🛑",
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
