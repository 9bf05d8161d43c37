"""The no-ack guard: every automated mail in the corpus is caught, human replies are acked."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from mailcorpus import ACK_EXPECTED_LABELS, CONTENT_ONLY_SPAM, DATA, NOT_EMAIL, parse_bytes, parse_file, rows

from chalicelib.config import Campaign, load_campaign
from chalicelib.guard import (
    SuppressReason,
    check_message,
    is_auto_reply,
    is_bounce,
    is_challenge_response,
    is_complaint,
    is_forged,
    is_mailing_list,
    is_mdn,
    is_own_mail,
)
from chalicelib.inbound import Channel, InboundMessage
from chalicelib.intake.email import DSN_ACTION_HEADER

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return load_campaign("demo")


def _mail(headers: str, body: str = "Hello, where is my order?\n") -> InboundMessage:
    raw = ("From: Ann <ann@example.com>\nTo: support@demo.replydesk.test\n" + headers + "\n" + body).encode()
    return parse_bytes(raw).message


def test_no_labelled_automated_mail_is_acked(campaign: Campaign) -> None:
    # GIVEN every parseable corpus mail whose label or header facts say "automated or list"
    acked = []
    for row in rows():
        if row.file in NOT_EMAIL or not row.must_not_ack:
            continue
        msg = parse_file(row.path).message
        if row.file in CONTENT_ONLY_SPAM:
            # Only SES's content filter can tell these; check them with the verdict it gives spam.
            msg = replace(msg, verdicts={"spam": "FAIL"})
        # WHEN the guard runs
        reason = check_message(msg, campaign)
        # THEN there is a reason
        if reason is None:
            acked.append(f"{row.file} ({row.label})")
    assert acked == []


def test_content_only_spam_is_the_known_list(campaign: Campaign) -> None:
    # GIVEN the documented exceptions WHEN checked without a verdict THEN they are indeed acked today,
    # so the list stays honest (a file that the guard starts catching must leave the list)
    for name in CONTENT_ONLY_SPAM:
        assert check_message(parse_file(DATA / name).message, campaign) is None


def test_human_and_ordinary_mail_is_mostly_acked(campaign: Campaign, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the rows labelled other / reply / not_bounce without automated header facts
    tally: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for row in rows():
        if row.label not in ACK_EXPECTED_LABELS or row.file in NOT_EMAIL or row.must_not_ack:
            continue
        reason = check_message(parse_file(row.path).message, campaign)
        tally[row.label, reason is None] += 1
        if reason is not None:
            reasons[reason.value] += 1
        # THEN every human reply (talon) and RT's 8859-15 thread is acked
        if row.label == "reply" or "8859-15-message-series" in row.file:
            assert reason is None, row.file
    with capsys.disabled():
        for label in sorted(ACK_EXPECTED_LABELS):
            ok, total = tally[label, True], tally[label, True] + tally[label, False]
            print(f"\n  {label}: {ok}/{total} acked", end="")
        print(f"\n  no-ack reasons among them: {dict(reasons.most_common())}")
    # THEN most are acked ("other" holds parser fixtures without a From, which get no_sender)
    acked = sum(v for (_, ok), v in tally.items() if ok)
    assert acked / sum(tally.values()) > 0.75


def test_labels_map_to_their_own_reason_mostly(campaign: Campaign) -> None:
    # GIVEN the labelled automated classes WHEN checked THEN the reason usually names the class
    expected = {
        "bounce": {"bounce", "delay_warning", "null_sender"},
        "auto_reply": {"auto_reply"},
        "complaint": {"complaint"},
        "mdn": {"mdn"},
    }
    hits: Counter[bool] = Counter()
    for row in rows():
        if row.label in expected and row.file not in CONTENT_ONLY_SPAM:
            reason = check_message(parse_file(row.path).message, campaign)
            hits[reason is not None and reason.value in expected[row.label]] += 1
    assert hits[True] / sum(hits.values()) > 0.95


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Subject: Out of Office: back Monday\n", "auto_reply"),
        ("Subject: Automatic reply: Your order\n", "auto_reply"),
        ("Subject: Abwesenheitsnotiz: Bestellung\n", "auto_reply"),
        ("Subject: =?utf-8?q?R=C3=A9ponse_automatique?=\n", "auto_reply"),
        ("Subject: =?utf-8?q?Fr=C3=A5nvaro?=\n", "auto_reply"),
        ("Subject: Fuera de la oficina\n", "auto_reply"),
        ("Subject: =?utf-8?q?Respuesta_autom=C3=A1tica?=\n", "auto_reply"),
        ("Subject: Hi\nAuto-Submitted: auto-replied\n", "auto_reply"),
        ("Subject: Hi\nAuto-Submitted: auto-generated; owner-email=x@y\n", "auto_reply"),
        ("Subject: Hi\nX-Autoreply: yes\n", "auto_reply"),
        ("Subject: Hi\nX-Autorespond: yes\n", "auto_reply"),
        ("Subject: Hi\nX-Auto-Response-Suppress: OOF, DR\n", "auto_reply"),
        ("Subject: Hi\nPrecedence: auto_reply\n", "auto_reply"),
        ("Subject: Hi\nList-Id: <news.example.com>\n", "mailing_list"),
        ("Subject: Hi\nList-Unsubscribe: <mailto:u@example.com>\n", "mailing_list"),
        ("Subject: Hi\nPrecedence: bulk\n", "mailing_list"),
        ("Subject: Hi\nPrecedence: junk\n", "mailing_list"),
        ("Subject: Undeliverable: Your order\nReturn-Path: <>\n", "bounce"),
        ("Subject: Mail delivery failed: returning message to sender\n", "bounce"),
        ("Subject: Returned mail: see transcript for details\n", "bounce"),
        ("Subject: Hi\nReturn-Path: <>\n", "null_sender"),
        ("Subject: Hi\nX-Spam-Flag: YES\n", "spam"),
        ("Subject: Hi\nX-Loop: support@demo.replydesk.test\n", "own_mail"),
        ("Subject: Hi\nX-Loop: helpdesk@other.example\n", "auto_reply"),
        ("Subject: Hi\nMessage-ID: <abc@demo.replydesk.test>\n", "own_mail"),
    ],
)
def test_header_and_subject_rules(campaign: Campaign, headers: str, reason: str) -> None:
    # GIVEN an otherwise ordinary mail with one automated marker WHEN checked THEN that reason
    assert check_message(_mail(headers), campaign) == SuppressReason(reason)


@pytest.mark.parametrize(
    "headers",
    [
        "Subject: Where is my order?\nAuto-Submitted: no\n",
        "Subject: Vacation rental gear: can I return it?\n",
        "Subject: My card payment was rejected: why?\n",
        "Subject: Auto parts order\n",
        "Subject: Re: Undeliverable address on my order\n",
        "Subject: Re: [RD-7K3M9Q] my parcel\n",
        "Subject: Re: Out of stock?\nPrecedence: normal\n",
    ],
)
def test_ordinary_mail_is_acked(campaign: Campaign, headers: str) -> None:
    assert check_message(_mail(headers), campaign) is None


def test_reply_in_our_thread_is_not_own_mail(campaign: Campaign) -> None:
    # GIVEN a customer's reply referencing our ack's Message-ID
    msg = _mail("Subject: Re: x\nIn-Reply-To: <ack1@demo.replydesk.test>\nReferences: <ack1@demo.replydesk.test>\n")
    # THEN it is not our own mail
    assert is_own_mail(msg, campaign) is None
    assert check_message(msg, campaign) is None


def test_mail_from_our_own_sender_is_own_mail(campaign: Campaign) -> None:
    raw = b"From: support@demo.replydesk.test\nSubject: Re: x\n\nhi\n"
    assert is_own_mail(parse_bytes(raw).message, campaign) is SuppressReason.OWN_MAIL


@pytest.mark.parametrize(
    ("key", "verdict", "reason"),
    [
        ("spf", "FAIL", "forged_sender"),
        ("dkim", "FAIL", "forged_sender"),
        ("dmarc", "FAIL", "forged_sender"),
        ("spam", "FAIL", "spam"),
        ("virus", "FAIL", "virus"),
    ],
)
def test_ses_verdicts_follow_the_sender_policy(campaign: Campaign, key: str, verdict: str, reason: str) -> None:
    # GIVEN an ordinary mail with one failing SES verdict WHEN checked THEN the policy's reason
    msg = replace(_mail("Subject: Hi\n"), verdicts={key: verdict})
    assert check_message(msg, campaign) == SuppressReason(reason)
    # AND GRAY (the local default) and PASS are accepted
    assert is_forged(replace(msg, verdicts={"spf": "GRAY", "dkim": "PASS"}), campaign) is None


def test_report_types(campaign: Campaign) -> None:
    # GIVEN the corpus' MDN, an ARF complaint, a Boxbe challenge and a DSN
    mdn = parse_file(DATA / "emails_flanker" / "disposition-notification.eml").message
    arf = parse_file(DATA / "bounces_sisimai" / "maildir" / "bsd" / "arf-01.eml").message
    boxbe = parse_file(DATA / "bounces_bounceparser" / "boxbe-cr2.msg").message
    bluebottle = parse_file(DATA / "bounces_bounceparser" / "bluebottle.msg").message
    dsn = parse_file(DATA / "emails_rt" / "multipart-report").message
    # THEN each named check recognises its kind
    assert is_mdn(mdn) is SuppressReason.MDN
    assert is_complaint(arf) is SuppressReason.COMPLAINT
    assert is_challenge_response(boxbe) is SuppressReason.CHALLENGE_RESPONSE
    assert is_challenge_response(bluebottle) is SuppressReason.CHALLENGE_RESPONSE
    assert is_bounce(dsn) is SuppressReason.BOUNCE
    assert is_auto_reply(dsn) is not None or is_bounce(dsn) is not None


def test_delay_dsn_is_a_delay_warning(campaign: Campaign) -> None:
    # GIVEN a DSN whose only action is "delayed"
    msg = parse_file(DATA / "emails_flanker" / "bounce" / "no-mx.eml").message
    # THEN the parser exposed the action and the guard calls it a delay warning
    assert msg.headers[DSN_ACTION_HEADER] == "delayed"
    assert check_message(msg, campaign) is SuppressReason.DELAY_WARNING


@pytest.mark.parametrize("channel", [Channel.SMS, Channel.WEB])
def test_guard_works_for_channels_without_headers(campaign: Campaign, channel: Channel) -> None:
    # GIVEN an SMS or web message (no headers, no subject)
    sender = "+46701234567" if channel is Channel.SMS else "ann@example.com"
    msg = InboundMessage(
        channel=channel,
        source_id="s1",
        raw_key="raw/x",
        received_at=datetime.now(UTC),
        sender=sender,
        text="Out of office? No, where is my order",
    )
    # THEN it is acked, and without a sender it is not
    assert check_message(msg, campaign) is None
    assert check_message(replace(msg, sender=""), campaign) is SuppressReason.NO_SENDER
    assert is_mailing_list(msg) is None


def test_reason_values_are_stable() -> None:
    # Stored in DynamoDB and used as metric dimensions: renaming one breaks history and dashboards.
    assert {r.value for r in SuppressReason} >= {
        "auto_reply",
        "bounce",
        "complaint",
        "mdn",
        "challenge_response",
        "delay_warning",
        "mailing_list",
        "own_mail",
        "forged_sender",
        "spam",
        "virus",
        "suppressed",
        "rate_limited",
        "opted_out",
        "invalid_sender",
        "no_sender",
        "null_sender",
    }
