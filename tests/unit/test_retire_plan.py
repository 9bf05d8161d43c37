"""The retire plan's words for each open conversation: what the options given would do to it."""

from __future__ import annotations

import pytest

from chalicelib.campaign.retire import OpenConversation, OpenOptions, describe, fate, plan
from chalicelib.config import load_campaign
from chalicelib.ops.stack import StackNames
from cli.template import merge_template

pytestmark = pytest.mark.unit

CONV = OpenConversation("RD-ABC123", "retention", "pending_customer", "2026-05-01T10:30:00+00:00", None, "sms", "sv")


def test_each_option_says_what_happens_to_a_conversation() -> None:
    campaign = load_campaign("demo")
    # GIVEN an SMS conversation in Swedish waiting in the retention queue
    assert describe(CONV) == "RD-ABC123 (pending customer, due 2026-05-01 10:30, unassigned)"
    # THEN without options it stays open and stops the retire; with --close it is told in Swedish by SMS
    assert fate(CONV, campaign, close=False, queue=None, assignee=None).startswith("stays open: retire stops here")
    assert fate(CONV, campaign, close=True, queue=None, assignee=None) == (
        "told the closing message (sv) by SMS, then closed"
    )
    # AND moved first, then closed if still open after a wait; a move to its own queue is no move
    assert fate(CONV, campaign, close=True, queue="supervisors", assignee="sam", wait=True) == (
        "moved to queue supervisors and sam, then if still open after the wait, told the closing message (sv) by "
        "SMS, then closed"
    )
    assert fate(CONV, campaign, close=False, queue="retention", assignee=None).startswith("stays open")


def test_the_plan_lists_each_open_conversation_with_its_fate() -> None:
    campaign = load_campaign("demo")
    names = StackNames("demo", "dev", "us-east-1", "123456789012")
    options = OpenOptions(queue="supervisors", close=True)
    # GIVEN the open conversations a stack answered with WHEN the plan is made
    steps = plan(campaign, names, merge_template(campaign, "dev"), options=options, conversations=[CONV])
    step = next(s for s in steps if s.name == "open-conversations")
    # THEN the step says what the options do, and what happens to each conversation
    assert "move each to queue supervisors, then tell each one still open the closing message" in step.what
    assert step.details == (
        "retention: RD-ABC123 (pending customer, due 2026-05-01 10:30, unassigned): moved to queue supervisors, "
        "then told the closing message (sv) by SMS, then closed",
    )
    # AND with no stack answering it says so instead
    none = plan(campaign, names, merge_template(campaign, "dev"), conversations=None)
    assert next(s for s in none if s.name == "open-conversations").details[0].startswith("no stack answered")
