"""The packaged campaign template: cfn-lint clean, and every resource of it present in the local stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local.bootstrap import RUN_BY_HARNESS

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`replydesk package --campaign demo` exactly as an operator runs it (offline apart from PyPI)."""
    out = tmp_path_factory.mktemp("package")
    subprocess.run(
        [
            str(Path(sys.executable).with_name("replydesk")),
            "package",
            "--campaign",
            "demo",
            "--stage",
            "dev",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    template: dict[str, Any] = json.loads((out / "package" / "sam.json").read_text())
    template["_path"] = str(out / "package" / "sam.json")
    return template


def test_packaged_template_passes_cfn_lint(packaged: dict[str, Any]) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), packaged["_path"]], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_intake_mapping_reports_batch_item_failures(packaged: dict[str, Any]) -> None:
    for fn in ("ProcessIntake", "ProcessEvents"):
        events = packaged["Resources"][fn]["Properties"]["Events"]
        (source,) = events.values()
        assert source["Type"] == "SQS"
        assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def _exists(stack: Any, res_type: str, props: dict[str, Any], created: Any) -> bool:
    ref = created.ref
    if res_type == "AWS::DynamoDB::Table":
        desc = stack.client("dynamodb").describe_table(TableName=ref)["Table"]
        want = {g["IndexName"] for g in props.get("GlobalSecondaryIndexes", [])}
        return want <= {g["IndexName"] for g in desc.get("GlobalSecondaryIndexes", [])}
    if res_type == "AWS::S3::Bucket":
        stack.client("s3").head_bucket(Bucket=ref)
        return True
    if res_type == "AWS::S3::BucketPolicy":
        return bool(stack.client("s3").get_bucket_policy(Bucket=ref)["Policy"])
    if res_type == "AWS::SNS::Topic":
        return bool(stack.client("sns").get_topic_attributes(TopicArn=ref)["Attributes"])
    if res_type == "AWS::SNS::TopicPolicy":
        return True  # checked with its topics below
    if res_type == "AWS::SNS::Subscription":
        subs = stack.client("sns").list_subscriptions()["Subscriptions"]
        return any(s["SubscriptionArn"] == ref for s in subs)
    if res_type == "AWS::SQS::Queue":
        attrs = stack.client("sqs").get_queue_attributes(QueueUrl=ref, AttributeNames=["All"])["Attributes"]
        return ("RedrivePolicy" in attrs) == ("RedrivePolicy" in props)
    if res_type == "AWS::SQS::QueuePolicy":
        return True
    if res_type == "AWS::IAM::Role":
        return bool(stack.client("iam").get_role(RoleName=ref)["Role"])
    if res_type == "AWS::StepFunctions::StateMachine":
        return bool(stack.client("stepfunctions").describe_state_machine(stateMachineArn=ref)["definition"])
    if res_type == "AWS::SES::ReceiptRuleSet":
        return stack.client("ses").describe_active_receipt_rule_set()["Metadata"]["Name"] == ref
    if res_type == "AWS::SES::ReceiptRule":
        rules = stack.client("ses").describe_active_receipt_rule_set()["Rules"]
        return any(r["Name"] == ref for r in rules)
    if res_type == "AWS::CloudWatch::Alarm":
        return bool(stack.client("cloudwatch").describe_alarms(AlarmNames=[ref])["MetricAlarms"])
    if res_type == "AWS::CloudWatch::Dashboard":
        return bool(stack.client("cloudwatch").get_dashboard(DashboardName=ref)["DashboardBody"])
    if res_type == "AWS::Glue::Database":
        return stack.client("glue").get_database(Name=ref)["Database"]["Name"] == ref
    if res_type == "AWS::Glue::Table":
        database, table = ref.split("|")
        got = stack.client("glue").get_table(DatabaseName=database, Name=table)["Table"]
        want = [c["Name"] for c in props["TableInput"]["StorageDescriptor"]["Columns"]]
        return [c["Name"] for c in got["StorageDescriptor"]["Columns"]] == want
    if res_type == "AWS::Athena::WorkGroup":
        return stack.client("athena").get_work_group(WorkGroup=ref)["WorkGroup"]["Name"] == ref
    if res_type == "AWS::Cognito::UserPool":
        return stack.client("cognito-idp").describe_user_pool(UserPoolId=ref)["UserPool"]["Id"] == ref
    if res_type == "AWS::Cognito::UserPoolClient":
        client = stack.client("cognito-idp").describe_user_pool_client(
            UserPoolId=stack.env["COGNITO_USER_POOL_ID"], ClientId=ref
        )["UserPoolClient"]
        return set(props["ExplicitAuthFlows"]) <= set(client.get("ExplicitAuthFlows", []))
    if res_type == "AWS::Cognito::UserPoolGroup":
        groups = stack.client("cognito-idp").list_groups(UserPoolId=stack.env["COGNITO_USER_POOL_ID"])["Groups"]
        return any(g["GroupName"] == ref for g in groups)
    if res_type == "AWS::SecretsManager::Secret":
        return len(stack.client("secretsmanager").get_secret_value(SecretId=ref)["SecretString"]) >= 32
        raise AssertionError(f"no existence check for {res_type}")


def test_every_packaged_resource_exists_in_the_local_stack(stack: Any, packaged: dict[str, Any]) -> None:
    # GIVEN the template an operator deploys, and the local stack built from infra/
    missing = []
    for logical_id, res in packaged["Resources"].items():
        res_type = res["Type"]
        if res_type in RUN_BY_HARNESS:
            continue  # checked below: the harness runs these
        created = stack.resources.get(logical_id)
        # THEN every other resource was created locally, under the same logical id and type
        if (
            created is None
            or created.type != res_type
            or not _exists(stack, res_type, res.get("Properties", {}), created)
        ):
            missing.append(f"{logical_id} ({res_type})")
    assert not missing, f"resources of the template missing locally: {missing}"


def test_every_function_of_the_template_is_run_by_the_harness(stack: Any, packaged: dict[str, Any]) -> None:
    mapped = {m.queue_arn.rsplit(":", 1)[1]: m for m in stack.pump.mappings}
    for logical_id, res in packaged["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        handler = res["Properties"]["Handler"].split(".", 1)[1]
        assert callable(getattr(stack.app_module, handler)), logical_id
        for event in res["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                queue_name = event["Properties"]["Queue"]["Fn::Sub"].rsplit(":", 1)[1]
                # the pump polls exactly the queue the deployed mapping would
                assert queue_name in mapped, f"{logical_id}: no local mapping for {queue_name}"
                assert mapped[queue_name].handler is getattr(stack.app_module, handler)
            if event["Type"] == "Schedule":
                expression = event["Properties"]["Schedule"]
                runs = [s for s in stack.scheduler.schedules if s.handler is getattr(stack.app_module, handler)]
                if expression.startswith("cron("):
                    # cron is not emulated locally (local/scheduler.py): such a job has an on-demand command
                    assert not runs, f"{logical_id}: a cron schedule the harness claims to run"
                    continue
                # the harness's scheduler runs the scheduled function on the rate the template deploys
                n, unit = expression.removeprefix("rate(").removesuffix(")").split()
                seconds = (
                    int(n)
                    * {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}[unit]
                )
                assert runs, f"{logical_id}: no local schedule for {expression}"
                assert runs[0].every_seconds == seconds, (logical_id, expression)
