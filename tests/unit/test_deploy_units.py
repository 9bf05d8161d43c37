"""Pure parts of `replydesk deploy` and of the stack-scoped local names."""

from __future__ import annotations

import pytest

from cli.deploy import DnsRecord, emulator_template, present
from local.bootstrap import role_name, stack_name

pytestmark = pytest.mark.unit


def test_role_names_are_scoped_to_the_stack_and_fit_iam() -> None:
    # GIVEN two campaigns' stacks WHEN they name the same role THEN the names differ
    assert role_name("AppRole", {}, stack_name("a", "dev")) == "replydesk-a-dev-AppRole"
    assert role_name("AppRole", {}, stack_name("b", "dev")) == "replydesk-b-dev-AppRole"
    # ... a RoleName given in the template is kept
    assert role_name("AppRole", {"RoleName": "fixed"}, "replydesk-a-dev") == "fixed"
    # ... and a long one is cut to IAM's 64 characters, still distinct per stack
    long_a = role_name("AnalyticsExportRole", {}, stack_name("a" * 30, "s" * 30))
    long_b = role_name("AnalyticsExportRole", {}, stack_name("a" * 30, "t" * 30))
    assert len(long_a) == len(long_b) == 64 and long_a != long_b


def test_the_emulator_template_leaves_out_sam_and_whatever_refers_to_what_is_left_out() -> None:
    sam = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Parameters": {"Stage": {"Type": "String"}},
        "Resources": {
            "Fn": {"Type": "AWS::Serverless::Function", "Properties": {}},
            "Pool": {"Type": "AWS::Cognito::UserPool", "Properties": {}},
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Ref": "Stage"}}},
            "NeedsPool": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Ref": "Pool"}}},
            "NeedsQueue": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Fn::GetAtt": ["Queue", "Arn"]}}},
        },
    }
    out = emulator_template(sam)
    assert set(out["Resources"]) == {"Queue", "NeedsQueue"}
    assert "Transform" not in out and out["Parameters"] == sam["Parameters"]


@pytest.mark.parametrize(
    ("record", "found", "ok"),
    [
        (
            DnsRecord("d.test", "TXT", "v=spf1 include:amazonses.com ~all", ""),
            ['"v=spf1 mx include:amazonses.com -all"'],
            True,
        ),
        (DnsRecord("d.test", "TXT", "v=spf1 include:amazonses.com ~all", ""), ["v=spf1 mx -all"], False),
        (
            DnsRecord("_dmarc.d.test", "TXT", "v=DMARC1; p=quarantine", ""),
            ["v=DMARC1; p=reject; rua=mailto:x@d.test"],
            True,
        ),
        (
            DnsRecord("d.test", "MX", "10 inbound-smtp.us-east-1.amazonaws.com", ""),
            ["20 inbound-smtp.us-east-1.amazonaws.com."],
            True,
        ),
        (DnsRecord("d.test", "MX", "10 inbound-smtp.us-east-1.amazonaws.com", ""), ["10 mx.other.test"], False),
        (DnsRecord("k._domainkey.d.test", "CNAME", "k.dkim.amazonses.com", ""), ["K.dkim.amazonses.com."], True),
        (DnsRecord("_amazonses.d.test", "TXT", "Tok+en=", ""), [], False),
        (DnsRecord("_amazonses.d.test", "TXT", "Tok+en=", ""), ['"Tok+en="'], True),
        (DnsRecord("_amazonses.d.test", "TXT", "Tok+en=", ""), ["tok+en="], False),
    ],
)
def test_a_record_is_present_when_dns_answers_with_what_it_needs(record: DnsRecord, found: list[str], ok: bool) -> None:
    assert present(record, found) is ok


def test_sender_notifications_are_set_once_and_a_takeover_is_named() -> None:
    import boto3
    from botocore.stub import Stubber

    from cli.deploy import sender_notifications

    ours, theirs = "arn:aws:sns:us-east-1:1:replydesk-a-prod-ses-feedback", "arn:aws:sns:us-east-1:1:other"
    ses = boto3.client("ses", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(ses) as stub:
        # GIVEN a domain whose bounces go to another stack's topic and whose complaints go nowhere
        stub.add_response(
            "get_identity_notification_attributes",
            {
                "NotificationAttributes": {
                    "a.test": {
                        "BounceTopic": theirs,
                        "ComplaintTopic": "",
                        "DeliveryTopic": "",
                        "ForwardingEnabled": True,
                    }
                }
            },
            {"Identities": ["a.test"]},
        )
        for kind in ("Bounce", "Complaint"):
            stub.add_response(
                "set_identity_notification_topic",
                {},
                {"Identity": "a.test", "NotificationType": kind, "SnsTopic": ours},
            )
        # WHEN they are pointed at this stack's topic THEN both are set and the takeover is said
        line = sender_notifications(ses, "a.test", ours)
        stub.assert_no_pending_responses()
    assert line.endswith(f"warning: they went to {theirs}; stacks sending from one domain share them")
    with Stubber(ses) as stub:
        # ... and a rerun finds both set and sets nothing
        stub.add_response(
            "get_identity_notification_attributes",
            {
                "NotificationAttributes": {
                    "a.test": {
                        "BounceTopic": ours,
                        "ComplaintTopic": ours,
                        "DeliveryTopic": "",
                        "ForwardingEnabled": True,
                    }
                }
            },
            {"Identities": ["a.test"]},
        )
        assert sender_notifications(ses, "a.test", ours).endswith("(already set)")


def test_moto_cloudformation_knows_every_type_the_emulator_stack_holds() -> None:
    from moto.cloudformation.parsing import get_model_map

    from cli.deploy import EMULATOR_STACK_TYPES

    assert not EMULATOR_STACK_TYPES - set(get_model_map())


def test_on_aws_the_functions_code_is_the_uploaded_zip_and_an_update_keeps_the_secret() -> None:
    from cli.deploy import parameters, with_code_in_s3

    sam = {
        "Parameters": {"CsatSecret": {}, "PublicUrl": {}, "ReceiptRuleSetName": {}, "Stage": {"Default": "prod"}},
        "Resources": {
            "ProcessIntake": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "./deployment.zip"}},
            "IntakeQueue": {"Type": "AWS::SQS::Queue", "Properties": {}},
        },
    }
    # GIVEN the packaged template WHEN its code is uploaded THEN each function points at the zip in S3
    out = with_code_in_s3(sam, "replydesk-deploy-1-eu-west-1", "replydesk-a-prod/deployment.zip/abc")
    code = out["Resources"]["ProcessIntake"]["Properties"]["CodeUri"]
    assert code == "s3://replydesk-deploy-1-eu-west-1/replydesk-a-prod/deployment.zip/abc"
    assert sam["Resources"]["ProcessIntake"]["Properties"]["CodeUri"] == "./deployment.zip"  # input untouched
    # ... and an update passes the rule set, keeps the secret and the URL, and leaves defaults to the template
    keep = ("CsatSecret", "PublicUrl")
    assert parameters(sam, {"ReceiptRuleSetName": "shared"}, updating=True, keep=keep) == [
        {"ParameterKey": "CsatSecret", "UsePreviousValue": True},
        {"ParameterKey": "PublicUrl", "UsePreviousValue": True},
        {"ParameterKey": "ReceiptRuleSetName", "ParameterValue": "shared"},
    ]
    created = parameters(sam, {"ReceiptRuleSetName": "shared", "CsatSecret": "s" * 64}, updating=False, keep=keep)
    assert [p["ParameterKey"] for p in created] == ["CsatSecret", "ReceiptRuleSetName"]
