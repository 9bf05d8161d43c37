"""No-ack rules added for abuse: automated senders, repeated/variant Auto-Submitted, our own SMS number."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from mailcorpus import parse_bytes

from chalicelib.config import Campaign, ConfigError, GuardSettings, load_campaign, parse_campaign
from chalicelib.guard import SuppressReason, check_message, is_auto_reply, is_automated_sender
from chalicelib.inbound import Channel, InboundMessage

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return load_campaign("demo")


def _mail(sender: str = "ann@example.com", headers: str = "") -> InboundMessage:
    raw = f"From: Ann <{sender}>\nTo: support@demo.replydesk.test\nSubject: Hello\n{headers}\nWhere is my order?\n"
    return parse_bytes(raw.encode()).message


@pytest.mark.parametrize(
    ("local", "automated"),
    [
        ("no-reply", True),
        ("noreply", True),
        ("No_Reply", True),
        ("noreply-orders", True),
        ("no-reply+abc123", True),
        ("noreply2", True),
        ("do-not-reply", True),
        ("donotreply", True),
        ("dont-reply", True),
        ("mailer-daemon", True),
        ("MAILER-DAEMON", True),
        ("postmaster", True),
        ("abuse", True),
        ("root", True),
        ("bounces+12345", True),
        ("bounce", True),
        ("bounce-team", False),  # only the bare word or a VERP bounces+token address
        # people and ordinary shared mailboxes
        ("ann", False),
        ("norene", False),
        ("replyguy", False),
        ("info", False),
        ("support", False),
        ("rooter", False),
        ("postmaster.jones", True),
        ("noreplyalice", False),
    ],
)
def test_automated_local_parts_get_no_ack(campaign: Campaign, local: str, automated: bool) -> None:
    # GIVEN an ordinary customer mail from `<local>@shop.example`
    msg = _mail(f"{local}@shop.example")
    # WHEN the guard runs THEN automated local parts are suppressed with their own reason, people are not
    expected = SuppressReason.AUTOMATED_SENDER if automated else None
    assert is_automated_sender(msg, campaign) is expected
    if not automated:
        assert check_message(msg, campaign) is None


def test_automated_sender_list_is_campaign_configurable(campaign: Campaign) -> None:
    # GIVEN a campaign that adds `alerts` and drops everything else
    custom = dataclasses.replace(campaign, guard=GuardSettings(automated_senders=(r"alerts(-.*)?",)))
    # WHEN mail from alerts-eu@ and no-reply@ arrives THEN only the campaign's list decides
    assert is_automated_sender(_mail("alerts-eu@shop.example"), custom) is SuppressReason.AUTOMATED_SENDER
    assert is_automated_sender(_mail("no-reply@shop.example"), custom) is None


def test_campaign_file_rejects_a_broken_sender_pattern(campaign: Campaign) -> None:
    # GIVEN the demo campaign file with an automated_senders entry that is not a regex
    import yaml

    from chalicelib.config import CAMPAIGN_DIR

    data = yaml.safe_load((CAMPAIGN_DIR / "demo.yaml").read_text(encoding="utf-8"))
    data["guard"] = {"automated_senders": ["no-reply", "(unclosed"]}
    # WHEN it is validated THEN the error names the entry
    with pytest.raises(ConfigError) as exc:
        parse_campaign(data, source="demo.yaml")
    assert "guard.automated_senders[1]" in str(exc.value)


@pytest.mark.parametrize(
    "headers",
    [
        "Auto-Submitted: auto-replied\n",
        "Auto-Submitted: no\nAuto-Submitted: auto-replied\n",
        "Auto-Submitted: auto-generated\nAuto-Submitted: no\n",
        "auto-submitted: AUTO-REPLIED; owner-email=x@y.test\n",
        "Auto_Submitted: auto-replied\n",
        "Auto-Submitted : auto-replied\n",
        "X-Auto-Submitted: auto-generated\n",
        'Auto-Submitted: "auto-notified"\n',
    ],
    ids=["plain", "no-then-auto", "auto-then-no", "params", "underscore", "space-before-colon", "x-prefix", "quoted"],
)
def test_auto_submitted_in_any_header_and_spelling_means_automated(headers: str) -> None:
    # GIVEN a mail whose Auto-Submitted headers (repeated, re-spelled) carry a value other than `no`
    # WHEN the guard runs THEN it is an auto-reply
    assert is_auto_reply(_mail(headers=headers)) is SuppressReason.AUTO_REPLY


@pytest.mark.parametrize("headers", ["Auto-Submitted: no\n", "Auto-Submitted: no\nAuto-Submitted: No\n", ""])
def test_auto_submitted_no_everywhere_is_a_person(headers: str) -> None:
    assert is_auto_reply(_mail(headers=headers)) is None


def test_sms_from_the_campaigns_own_number_gets_no_ack(campaign: Campaign) -> None:
    # GIVEN an SMS whose sender is the campaign's own number (our own message looping back)
    own = InboundMessage(
        channel=Channel.SMS,
        source_id="own-1",
        raw_key="raw/sms/x",
        received_at=datetime.now(UTC),
        sender=campaign.sms.number,
        phone=campaign.sms.number,
        text="Thanks, we got your message",
    )
    # WHEN the guard runs THEN it is our own message; a customer's number is not
    assert check_message(own, campaign) is SuppressReason.OWN_MAIL
    assert check_message(dataclasses.replace(own, sender="+46701234567"), campaign) is None


def test_stop_from_the_campaigns_own_number_is_not_a_keyword(campaign: Campaign) -> None:
    # GIVEN "STOP" arriving from the campaign's own number (a loop through a forwarding phone)
    import json

    from chalicelib.intake.sms import parse_sms

    payload = {"originationNumber": campaign.sms.number, "inboundMessageId": "own-stop", "messageBody": "STOP"}
    # WHEN parsed THEN it is no keyword (the number must not opt itself out), and the problem says why
    msg = parse_sms(json.dumps(payload), raw_key="k", received_at=datetime.now(UTC), campaign=campaign)
    assert msg.keyword is None
    assert "sent from the campaign's own number" in msg.problems
    # AND the same word from a customer is STOP
    payload["originationNumber"] = "+46701234567"
    assert parse_sms(json.dumps(payload), raw_key="k", received_at=datetime.now(UTC), campaign=campaign).keyword
