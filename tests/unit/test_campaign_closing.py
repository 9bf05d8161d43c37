"""A retired campaign: `retire --step stop-intake` closes it; the page, the acks and the SMS answer say so."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chalicelib.campaign.checks import check_campaign
from chalicelib.campaign.layout import CampaignLayout
from chalicelib.config import load_campaign, parse_campaign
from chalicelib.errors import ConfigError
from cli.main import main

pytestmark = pytest.mark.unit


@pytest.fixture
def closed(tmp_path: Path) -> CampaignLayout:
    """A scaffolded campaign (en, sv) closed by the retire step."""
    assert main(["campaign", "new", "omega", "--root", str(tmp_path), "--languages", "en,sv", "--brand", "Omega"]) == 0
    assert main(["campaign", "retire", "omega", "--root", str(tmp_path), "--step", "stop-intake"]) == 0
    return CampaignLayout("omega", tmp_path)


def test_stop_intake_sets_closed_keeping_the_file_and_is_idempotent(
    closed: CampaignLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a campaign the stop-intake step ran on
    campaign = load_campaign("omega", closed.campaigns_dir)
    # THEN it is closed with the scaffold's closing message, the file's comments are kept, and it is complete
    assert campaign.closing.closed is True
    assert campaign.closing.message == "The Omega campaign has ended. Thank you for writing to us."
    assert "# A retired campaign" in closed.campaign_file.read_text(encoding="utf-8")
    assert check_campaign("omega", closed).ok
    # WHEN it runs again THEN nothing changes and it says so
    capsys.readouterr()
    assert main(["campaign", "retire", "omega", "--root", str(closed.root), "--step", "stop-intake"]) == 0
    assert "closing.closed is already true" in capsys.readouterr().out


def test_a_closed_campaigns_acks_carry_the_closing_message_in_every_channel(closed: CampaignLayout) -> None:
    from chalicelib.acknowledge import template_context
    from chalicelib.library.seed import SeedSource
    from chalicelib.render import TemplateStore

    # GIVEN the closed campaign's library
    campaign = load_campaign("omega", closed.campaigns_dir)
    store = TemplateStore(SeedSource(campaign, closed.templates_dir), campaign.default_language)
    ctx = template_context(campaign=campaign, customer_name="Sven", reference="RD-ABC123", language="sv", topic=None)
    # WHEN the mail and SMS acks are rendered in Swedish
    text = store.render("acknowledge", "email", "txt", "sv", ctx).text
    html = store.render("acknowledge", "email", "html", "sv", ctx).text
    subject = store.render("acknowledge-subject", "email", "txt", "sv", ctx).text
    sms = store.render("acknowledge", "sms", "txt", "sv", ctx).text
    # THEN each carries the Swedish closing message instead of the usual acknowledgement
    message = campaign.closing.message_for("sv")
    assert message == "Kampanjen Omega är avslutad. Tack för att du skrev till oss."
    assert message in text and message in html and message in sms
    assert "Den här kampanjen är avslutad [RD-ABC123]" in subject
    assert "Tack för att du kontaktade" not in text


def test_the_contact_page_of_a_closed_campaign_shows_the_message_and_no_form(closed: CampaignLayout) -> None:
    from chalicelib.pages import render_contact_page

    # GIVEN the closed campaign WHEN its contact page is rendered THEN it has the message and no form
    page = render_contact_page(load_campaign("omega", closed.campaigns_dir), {})
    assert "The Omega campaign has ended." in page
    assert "<form" not in page


def test_closed_needs_a_message_and_an_https_next_url() -> None:
    # GIVEN the demo campaign's data with a closing section lacking a message and with a plain-http URL
    import yaml

    data = yaml.safe_load((Path(__file__).resolve().parents[2] / "chalicelib/campaigns/demo.yaml").read_text())
    data["closing"] = {"closed": True, "next_url": "http://shop.example.com"}
    # WHEN it is validated THEN both fields are named
    with pytest.raises(ConfigError) as err:
        parse_campaign(data)
    assert any(p.startswith("closing.message: is required") for p in err.value.problems)
    assert any(p.startswith("closing.next_url: must be an https URL") for p in err.value.problems)


def test_a_closed_campaign_whose_ack_ignores_the_closing_is_named(closed: CampaignLayout) -> None:
    # GIVEN the closed campaign's Swedish SMS ack rewritten without the closed branch
    (closed.templates_dir / "sv" / "acknowledge.sms.txt").write_text("{{ campaign.brand }}: tack!\n", encoding="utf-8")
    # WHEN checked THEN that file is named
    problems = check_campaign("omega", closed).problems
    assert problems == [
        "templates/omega/sv/acknowledge.sms.txt: does not branch on campaign.closed (closing.closed is true, "
        "so customers would get the usual acknowledgement)"
    ]


def _demo_data() -> dict[str, Any]:
    import yaml

    path = Path(__file__).resolve().parents[2] / "chalicelib/campaigns/demo.yaml"
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def test_the_closing_message_is_per_language_and_a_plain_string_is_the_default_languages() -> None:
    # GIVEN the demo (en, sv, de, fr, es) closed with a message in English and Swedish only
    data = _demo_data()
    data["closing"] = {"closed": True, "message": {"en": "Ended.", "sv": "Avslutad."}}
    closing = parse_campaign(data).closing
    # THEN each language gets its own text, and a language without one the default language's
    assert (closing.message, closing.message_for("sv"), closing.message_for("de")) == ("Ended.", "Avslutad.", "Ended.")
    # WHEN the message is a plain string THEN it is the default language's
    data["closing"] = {"closed": True, "message": "Ended."}
    assert parse_campaign(data).closing.messages == {"en": "Ended."}
    # WHEN a mapping names a language the campaign lacks, or lacks the default one THEN both are named
    data["closing"] = {"closed": True, "message": {"sv": "Avslutad.", "it": "Finita."}}
    with pytest.raises(ConfigError) as err:
        parse_campaign(data)
    assert any(p.startswith("closing.message.it: is not one of the campaign's languages") for p in err.value.problems)
    assert any(p.startswith("closing.message.en: is required when closing.closed") for p in err.value.problems)


def test_check_names_a_language_without_a_closing_message(closed: CampaignLayout) -> None:
    # GIVEN the closed en+sv campaign whose file lost its Swedish closing message
    path = closed.campaign_file
    text = path.read_text(encoding="utf-8")
    path.write_text("\n".join(x for x in text.splitlines() if not x.strip().startswith("sv: ")) + "\n")
    # WHEN checked THEN the missing language is named with the file and field
    assert check_campaign("omega", closed).problems == [
        "chalicelib/campaigns/omega.yaml: closing.message has no text in sv (customers writing in sv would be "
        "told the en one)"
    ]


def test_the_closed_contact_page_carries_every_languages_message_for_the_browser_to_pick(
    closed: CampaignLayout,
) -> None:
    from chalicelib.pages import render_contact_page

    # GIVEN the closed en+sv campaign WHEN its page is rendered
    page = render_contact_page(load_campaign("omega", closed.campaigns_dir), {})
    # THEN the default language's message is shown, and the Swedish one is there for a Swedish browser
    assert '<p id="closing-message" lang="en">The Omega campaign has ended.' in page
    assert '"sv": "Kampanjen Omega \\u00e4r avslutad.' in page or '"sv": "Kampanjen Omega är avslutad.' in page


def test_a_closed_campaign_that_bounces_mail_adds_the_ses_bounce_action_and_never_acks_mail() -> None:
    from chalicelib.config import ClosingMail
    from chalicelib.guard import SuppressReason, check_message
    from chalicelib.inbound import Channel, InboundMessage
    from cli.template import merge_template

    # GIVEN the demo closed with closing.mail: bounce, and the same campaign auto-replying
    data = _demo_data()
    data["closing"] = {**data["closing"], "closed": True, "mail": "bounce"}
    bouncing = parse_campaign(data)
    assert bouncing.closing.mail is ClosingMail.BOUNCE
    data["closing"]["mail"] = "auto_reply"
    replying = parse_campaign(data)
    # WHEN their templates are merged
    actions = merge_template(bouncing, "dev")["Resources"]["ReceiptRule"]["Properties"]["Rule"]["Actions"]
    # THEN the bouncing one's receipt rule stores the mail first, then bounces it with the closing message
    assert [next(iter(a)) for a in actions] == ["S3Action", "BounceAction"]
    assert actions[1]["BounceAction"] == {
        "SmtpReplyCode": "550",
        "StatusCode": "5.7.1",
        "Message": "The Northwind Outdoor campaign has ended. Thank you for writing to us.",
        "Sender": bouncing.sender_email,
    }
    replying_actions = merge_template(replying, "dev")["Resources"]["ReceiptRule"]["Properties"]["Rule"]["Actions"]
    assert [next(iter(a)) for a in replying_actions] == ["S3Action"]
    # AND the guard gives a bounced mail no ack (SES bounced it), while SMS still gets the closing text
    mail = InboundMessage(
        channel=Channel.EMAIL,
        source_id="m1",
        raw_key="raw/email/m1",
        received_at=datetime.now(UTC),
        sender="ann@example.com",
        text="Where is my order?",
    )
    sms = InboundMessage(
        channel=Channel.SMS,
        source_id="s1",
        raw_key="raw/sms/s1",
        received_at=datetime.now(UTC),
        sender="+46701234567",
        text="Where is my order?",
    )
    assert check_message(mail, bouncing) is SuppressReason.CAMPAIGN_CLOSED
    assert check_message(mail, replying) is None
    assert check_message(sms, bouncing) is None


def test_the_410_of_a_closed_form_speaks_the_browsers_first_campaign_language() -> None:
    from chalicelib.pages import preferred_language

    langs = ("en", "sv", "de")
    # GIVEN Accept-Language headers WHEN matched to the campaign's languages THEN the highest q wins
    assert preferred_language("sv-SE,sv;q=0.9,en;q=0.8", langs) == "sv"
    assert preferred_language("fr-FR, de;q=0.7, en;q=0.9", langs) == "en"
    assert preferred_language("ja, zh;q=0.5", langs) is None
    assert preferred_language("", langs) is None
    assert preferred_language("de;q=bad, sv;q=0.1", langs) == "sv"
