"""Settings and campaign files are validated at start-up, naming every bad field at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import yaml

from chalicelib.config import CAMPAIGN_DIR, load_campaign, load_settings, parse_campaign, parse_duration
from chalicelib.errors import ConfigError

pytestmark = pytest.mark.unit


def demo_data() -> dict[str, Any]:
    with open(CAMPAIGN_DIR / "demo.yaml", encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    return data


def test_demo_campaign_loads_with_short_slas() -> None:
    campaign = load_campaign("demo")
    assert campaign.default_language == "en"
    assert set(campaign.languages) >= {"en", "sv", "de", "fr", "es"}
    assert campaign.queues["urgent"].sla.first_response["urgent"] <= timedelta(minutes=1)
    assert campaign.routing[0].queue == "urgent"


def test_every_bad_field_is_named_at_once() -> None:
    # GIVEN a campaign with several mistakes
    data = demo_data()
    data["sender"]["email"] = "not-an-address"
    data["languages"] = ["english"]
    data["routing"]["default_queue"] = "nowhere"
    data["queues"][0]["sla"]["first_response"].pop("urgent")
    # WHEN it is validated
    with pytest.raises(ConfigError) as err:
        parse_campaign(data, source="demo.yaml")
    # THEN each problem is listed with its field path
    text = str(err.value)
    for path in ("sender.email", "languages[0]", "routing.default_queue", "queues[0].sla.first_response.urgent"):
        assert path in text, text


def test_unknown_time_zone_and_bad_duration_are_rejected() -> None:
    data = demo_data()
    data["business_hours"]["timezone"] = "Mars/Olympus"
    data["ack"]["rate_limit"]["per"] = "a day"
    with pytest.raises(ConfigError) as err:
        parse_campaign(data)
    assert "business_hours.timezone" in str(err.value) and "ack.rate_limit.per" in str(err.value)


def test_missing_campaign_file_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="campaign file not found"):
        load_campaign("nosuchcampaign")


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("5m", 300), ("2h", 7200), ("3d", 259200), (45, 45)])
def test_durations(text: Any, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_settings_name_every_missing_variable() -> None:
    # GIVEN an environment with only the campaign and stage
    env = {"REPLYDESK_CAMPAIGN": "demo", "REPLYDESK_STAGE": "dev", "AWS_REGION": "eu-west-1"}
    # WHEN settings are built
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    # THEN every missing variable is named, not a KeyError later
    for var in ("RAW_BUCKET", "INTAKE_QUEUE_URL", "CONVERSATIONS_TABLE", "SLA_STATE_MACHINE_ARN", "COGNITO_ISSUER"):
        assert f"{var} is not set" in str(err.value)


def test_settings_reject_malformed_values_and_accept_an_override() -> None:
    env = dict.fromkeys(
        (
            "RAW_BUCKET",
            "TEMPLATE_BUCKET",
            "CUSTOMERS_TABLE",
            "IDENTITIES_TABLE",
            "CONVERSATIONS_TABLE",
            "MESSAGES_TABLE",
            "SUPPRESSIONS_TABLE",
            "IDEMPOTENCY_TABLE",
            "TEMPLATES_TABLE",
            "PRESENCE_TABLE",
            "SEARCH_TABLE",
            "OUTBOX_TABLE",
            "RATE_LIMITS_TABLE",
        ),
        "x",
    )
    env["CSAT_SECRET"] = "s" * 32
    env |= dict.fromkeys(("INTAKE_QUEUE_URL", "INTAKE_DLQ_URL", "EVENTS_QUEUE_URL"), "https://sqs/q")
    env |= dict.fromkeys(
        (
            "INBOUND_EMAIL_TOPIC_ARN",
            "INBOUND_SMS_TOPIC_ARN",
            "SES_FEEDBACK_TOPIC_ARN",
            "ESCALATION_TOPIC_ARN",
            "SLA_STATE_MACHINE_ARN",
            "FOLLOWUP_STATE_MACHINE_ARN",
        ),
        "arn:aws:x",
    )
    env |= {"REPLYDESK_CAMPAIGN": "demo", "REPLYDESK_STAGE": "dev", "AWS_REGION": "eu-west-1"}
    env |= {
        "COGNITO_USER_POOL_ID": "eu-west-1_AbC123",
        "COGNITO_CLIENT_ID": "client",
        "COGNITO_ISSUER": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123",
        "COGNITO_JWKS_URL": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123/.well-known/jwks.json",
    }
    assert load_settings(env).endpoint_url is None
    with pytest.raises(ConfigError, match="AWS_ENDPOINT_URL must be an http"):
        load_settings(env, aws_endpoint_url="localhost:5000")
    assert load_settings(env, raw_bucket="other").raw_bucket == "other"
    with pytest.raises(ConfigError, match="CSAT_SECRET must be at least 32"):
        load_settings(env, csat_secret="short")
    # AND the staff pool's issuer must belong to the pool, or every token would be refused
    with pytest.raises(ConfigError, match="COGNITO_ISSUER must end with the user pool id"):
        load_settings(env, cognito_issuer="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other")
    with pytest.raises(ConfigError, match="COGNITO_JWKS_URL must be an http"):
        load_settings(env, cognito_jwks_url="jwks.json")


def test_a_topic_label_is_one_text_or_one_per_campaign_language() -> None:
    # GIVEN the demo campaign, whose topics carry a label per language, and one topic with a plain text
    data = demo_data()
    data["topics"][1]["label"] = "Returns"
    campaign = parse_campaign(data, source="demo.yaml")
    by_id = {t.id: t for t in campaign.topics}
    # THEN a per-language label answers in that language, the default language's otherwise
    assert by_id["order_status"].label == "Where is my order?"
    assert by_id["order_status"].label_for("sv") == "Var är min beställning?"
    assert by_id["order_status"].label_for("pt") == "Where is my order?"
    assert campaign.topic_label("order_status", "de") == "Wo ist meine Bestellung?"
    # AND a plain text is the label in every language
    assert by_id["returns"].label_for("sv") == "Returns"
    assert campaign.topic_label("no_such_topic", "sv") == ""


def test_a_per_language_topic_label_names_a_bad_language_or_a_missing_default() -> None:
    # GIVEN one label in a language the campaign does not speak, and one without the default language's
    data = demo_data()
    data["topics"][0]["label"] = {"en": "Where is my order?", "pt": "Onde está o meu pedido?"}
    data["topics"][1]["label"] = {"sv": "Returer"}
    # WHEN it is validated
    with pytest.raises(ConfigError) as err:
        parse_campaign(data, source="demo.yaml")
    # THEN both are named
    assert "topics[0].label.pt" in str(err.value)
    assert "topics[1].label.en" in str(err.value)
