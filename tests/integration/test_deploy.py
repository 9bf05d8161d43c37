"""`replydesk deploy` against a moto server of its own: the stack by change set, then every post-deploy step; twice.

The moto server runs as a process of its own, so nothing of the session's local stack (same
campaign, other stage) is in it, and the region's receipt rule set starts out as an account's own.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.config import load_campaign
from cli.deploy import DeployError, Plan, Request, Where, check_dns, deploy
from cli.template import ROOT
from local.stack import free_port

pytestmark = pytest.mark.integration

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


@pytest.fixture(scope="module")
def bare_moto() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/data.json", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("moto server did not start")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def where(bare_moto: str) -> Where:
    session: Any = boto3.session.Session()

    def client(service: str) -> Any:
        return session.client(
            service,
            region_name=REGION,
            endpoint_url=bare_moto,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return Where(client, REGION, ACCOUNT, bare_moto)


def request(tmp: Path, stage: str, lines: list[str], **kw: Any) -> Request:
    kw.setdefault("confirm", lambda plan: True)
    return Request("demo", stage, tmp / f"pkg-{stage}", say=lines.append, poll=0.1, **kw)


def test_deploy_runs_the_post_deploy_steps_and_a_rerun_changes_nothing(where: Where, tmp_path: Path) -> None:
    # GIVEN a region whose active receipt rule set holds a rule of the account's own
    ses = where.client("ses")
    ses.create_receipt_rule_set(RuleSetName="account-rules")
    ses.create_receipt_rule(
        RuleSetName="account-rules", Rule={"Name": "account-own", "Enabled": True, "Recipients": ["x@other.test"]}
    )
    ses.set_active_receipt_rule_set(RuleSetName="account-rules")

    # ... and this process's models bound as they are (the session's local stack may be serving from them)
    from chalicelib.gdpr import hashing
    from chalicelib.models import TemplateModel

    bound = (TemplateModel.Meta.table_name, getattr(TemplateModel.Meta, "host", None), hashing._source)

    # WHEN the demo campaign is deployed with an admin
    lines: list[str] = []
    plans: list[Plan] = []
    req = request(
        tmp_path, "deploytest", lines, admin_email="boss@example.com", confirm=lambda p: plans.append(p) or True
    )
    records = deploy(req, where, root=ROOT)

    # THEN the change set was shown (every table to add) before it ran, and the stack exists
    assert (TemplateModel.Meta.table_name, getattr(TemplateModel.Meta, "host", None), hashing._source) == bound
    cf = where.client("cloudformation")
    stack = cf.describe_stacks(StackName="replydesk-demo-deploytest")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert len(plans) == 1 and plans[0].kind == "CREATE"
    # (moto's CloudFormation was given no SAM type and none of those it skips: the bootstrap made those)
    body = cf.get_template(StackName="replydesk-demo-deploytest")["TemplateBody"]
    kinds = {r["Type"] for r in (body if isinstance(body, dict) else json.loads(body))["Resources"].values()}
    assert not [
        k for k in kinds if k.startswith(("AWS::Serverless::", "AWS::Lambda::", "AWS::Cognito::", "AWS::SES::"))
    ]
    assert any("AWS::DynamoDB::Table" in c and "ConversationsTable" in c for c in plans[0].changes)
    assert lines.index(plans[0].text()) < next(i for i, line in enumerate(lines) if line.startswith("stack "))
    # ... the campaign's rule joined the active set beside the account's own
    active = ses.describe_active_receipt_rule_set()
    assert active["Metadata"]["Name"] == "account-rules"
    by_name = {r["Name"]: r for r in active["Rules"]}
    assert set(by_name) == {"account-own", "replydesk-demo-deploytest-store"}
    rule = by_name["replydesk-demo-deploytest-store"]
    assert sorted(r.lower() for r in rule["Recipients"]) == sorted(load_campaign("demo").inbound_addresses)
    assert rule["Actions"][0]["S3Action"]["BucketName"] == f"replydesk-demo-deploytest-raw-{ACCOUNT}"
    # ... the sender identity's bounces and complaints go to the stack's feedback topic
    #     (moto does not read the topics back, but it does publish its simulator's bounce to them)
    ses.send_email(
        Source=load_campaign("demo").sender_email,
        Destination={"ToAddresses": ["bounce@simulator.amazonses.com"]},
        Message={"Subject": {"Data": "probe"}, "Body": {"Text": {"Data": "probe"}}},
    )
    sqs = where.client("sqs")
    events = sqs.get_queue_url(QueueName="replydesk-demo-deploytest-events")["QueueUrl"]
    got = sqs.receive_message(QueueUrl=events, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    envelopes = [json.loads(m["Body"]) for m in got]
    assert [e["TopicArn"] for e in envelopes] == [
        f"arn:aws:sns:{REGION}:{ACCOUNT}:replydesk-demo-deploytest-ses-feedback"
    ]
    message = envelopes[0]["Message"]  # moto's feedback is a JSON object in the envelope, SES's a string
    assert (message if isinstance(message, dict) else json.loads(message))["bounce"]["bounceType"] == "Permanent"
    # ... the admin exists, in the admin group, in the stack's pool
    idp = where.client("cognito-idp")
    pool = next(
        p["Id"]
        for p in idp.list_user_pools(MaxResults=60)["UserPools"]
        if p["Name"] == "replydesk-demo-deploytest-staff"
    )
    user = idp.admin_get_user(UserPoolId=pool, Username="boss")
    assert {"Name": "email", "Value": "boss@example.com"} in user["UserAttributes"]
    groups = idp.admin_list_groups_for_user(UserPoolId=pool, Username="boss")["Groups"]
    assert [g["GroupName"] for g in groups] == ["admin"]
    # ... the seed library is in the templates table (one version 1 per seed template)
    items = where.client("dynamodb").scan(TableName="replydesk-demo-deploytest-templates")["Items"]
    ids = {i["template_id"]["S"] for i in items}
    assert "acknowledge.email" in ids
    assert ids == {i["template_id"]["S"] for i in items if i["version"]["N"] == "1"}  # each at its first version
    pushed = next(line for line in lines if line.startswith("template library pushed"))
    assert pushed == f"template library pushed: {len(ids)} of {len(ids)} templates new or changed"
    # ... and the DNS records name the domains and SES's DKIM tokens
    kinds = {(r.type, r.name) for r in records}
    assert ("MX", "demo.replydesk.test") in kinds and ("TXT", "_dmarc.demo.replydesk.test") in kinds
    dkim = ses.verify_domain_dkim(Domain="demo.replydesk.test")["DkimTokens"]
    assert {f"{t}._domainkey.demo.replydesk.test" for t in dkim} <= {r.name for r in records}

    # WHEN it is deployed again, unchanged
    again: list[str] = []
    asked: list[Plan] = []
    deploy(request(tmp_path, "deploytest", again, confirm=lambda p: asked.append(p) or True), where, root=ROOT)

    # THEN the change set is empty (nothing to confirm or execute) and every step finds its work done
    assert "stack replydesk-demo-deploytest: no changes" in again
    assert asked == []
    assert cf.describe_stacks(StackName="replydesk-demo-deploytest")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    assert f"template library pushed: 0 of {len(ids)} templates new or changed" in again
    assert "emulator: what moto's CloudFormation skips exists already" in again
    rules = ses.describe_active_receipt_rule_set()["Rules"]
    assert sorted(r["Name"] for r in rules) == ["account-own", "replydesk-demo-deploytest-store"]


def test_a_change_set_not_confirmed_is_not_executed_and_a_later_deploy_creates_the_stack(
    where: Where, tmp_path: Path
) -> None:
    # GIVEN a stage never deployed, WHEN its change set is refused
    lines: list[str] = []
    with pytest.raises(DeployError, match="not executed"):
        deploy(request(tmp_path, "refused", lines, confirm=lambda p: False), where, root=ROOT)
    # THEN it was shown, and none of its resources exists
    assert any(line.startswith("change set ") for line in lines)
    tables = where.client("dynamodb").list_tables()["TableNames"]
    assert not [t for t in tables if t.startswith("replydesk-demo-refused-")]
    # WHEN it is deployed again and confirmed THEN the stack left under review is created after all
    again: list[str] = []
    deploy(request(tmp_path, "refused", again), where, root=ROOT)
    assert "stack replydesk-demo-refused: CREATE_COMPLETE" in again
    tables = where.client("dynamodb").list_tables()["TableNames"]
    assert "replydesk-demo-refused-conversations" in tables


def test_check_dns_names_the_records_still_missing(where: Where, tmp_path: Path) -> None:
    # GIVEN the records of a deployed campaign, and a DNS that has the MX and an SPF policy only
    from cli.deploy import dns_records, domain_tokens

    token, dkim = domain_tokens(where.client("ses"), "demo.replydesk.test")
    records = dns_records(load_campaign("demo"), REGION, verification_token=token, dkim_tokens=dkim)
    zone = {
        ("demo.replydesk.test", "MX"): ["10 inbound-smtp.us-east-1.amazonaws.com"],
        ("demo.replydesk.test", "TXT"): ['"v=spf1 include:_spf.example.net include:amazonses.com -all"'],
    }
    # WHEN checked
    missing = check_dns(records, lambda name, rtype: zone.get((name, rtype), []))
    # THEN everything but those two is reported missing
    assert {(r.type, r.name) for r in records} - {(r.type, r.name) for r in missing} == {
        ("MX", "demo.replydesk.test"),
        ("TXT", "demo.replydesk.test"),
    }
    assert len(missing) == len(records) - 2


def test_without_a_terminal_deploy_refuses_to_confirm(monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.deploy_cmd import _confirm

    class NoTty:
        def isatty(self) -> bool:
            return False

    monkeypatch.setattr(sys, "stdin", NoTty())
    plan = Plan("replydesk-demo-x", "cs", "CREATE", ["Add AWS::SQS::Queue IntakeQueue"])
    assert _confirm(False)(plan) is False  # type: ignore[operator]
    assert _confirm(True)(plan) is True  # type: ignore[operator]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REPLYDESK_", "MOTO_"))}
    env |= {"PYTHONPATH": str(ROOT), "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "deploy", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_command_deploys_then_reports_the_dns_records_still_missing(bare_moto: str, tmp_path: Path) -> None:
    # GIVEN the demo campaign deployed by the command (a no-op if the test above deployed it already)
    base = ("--campaign", "demo", "--stage", "deploytest", "--endpoint", bare_moto)
    done = cli(*base, "--yes", "--out", str(tmp_path / "pkg"))
    assert done.returncode == 0, done.stderr
    assert "DNS records the domain owner must add" in done.stdout
    assert "10 inbound-smtp.us-east-1.amazonaws.com" in done.stdout
    # WHEN its DNS is checked against a name server that has the MX and an SPF policy only
    zone = {
        ("demo.replydesk.test.", "MX"): ["10 inbound-smtp.us-east-1.amazonaws.com."],
        ("demo.replydesk.test.", "TXT"): ['"v=spf1 include:amazonses.com ~all"'],
    }
    with dns_server(zone) as nameserver:
        check = cli(*base, "--check-dns", "--nameserver", nameserver)
    # THEN the five others are reported missing, exit 1
    assert check.returncode == 1, check.stderr
    lines = check.stdout.splitlines()
    assert [line.split()[1:3] for line in lines if line.strip().startswith("ok")] == [
        ["demo.replydesk.test", "TXT"],
        ["demo.replydesk.test", "MX"],
    ]
    assert "5 of 7 records missing" in check.stdout


@contextlib.contextmanager
def dns_server(zone: dict[tuple[str, str], list[str]]) -> Iterator[str]:
    """A UDP name server on a free port answering from `zone`; NXDOMAIN for a name it does not hold."""
    import dns.message
    import dns.rcode
    import dns.rdatatype
    import dns.rrset

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                wire, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(wire)
            answer = dns.message.make_response(query)
            question = query.question[0]
            name, rtype = question.name.to_text().lower(), dns.rdatatype.to_text(question.rdtype)
            if (name, rtype) in zone:
                answer.answer.append(dns.rrset.from_text_list(name, 60, "IN", rtype, zone[(name, rtype)]))
            elif not any(n == name for n, _ in zone):
                answer.set_rcode(dns.rcode.NXDOMAIN)
            sock.sendto(answer.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stopping.set()
        thread.join(timeout=5)
        sock.close()


def test_the_command_says_where_to_deploy_and_refuses_an_unknown_campaign(bare_moto: str) -> None:
    nowhere = cli("--campaign", "demo", "--stage", "x")
    assert nowhere.returncode == 2 and "--endpoint URL" in nowhere.stderr
    unknown = cli("--campaign", "nosuch", "--stage", "x", "--endpoint", bare_moto, "--yes")
    assert unknown.returncode == 1 and "nothing deployed" in unknown.stderr and "nosuch" in unknown.stderr


def test_a_redeploy_recreates_what_the_api_replaces_and_refuses_other_changes(where: Where, tmp_path: Path) -> None:
    from cli.deploy import adopt, create_rest_on_emulator, stack_resources

    # GIVEN demo deployed to a stage of its own, and what moto's CloudFormation made of it
    deploy(request(tmp_path, "update", []), where, root=ROOT)
    merge = json.loads((tmp_path / "pkg-update" / "merge.json").read_text(encoding="utf-8"))
    stack = "replydesk-demo-update"
    made_by_stack = {
        lid: adopt(lid, kind, physical, region=REGION, account=ACCOUNT)
        for lid, kind, physical in stack_resources(where.client("cloudformation"), stack)
    }
    rest = {"client": where.client, "bucket": f"replydesk-deploy-{ACCOUNT}-{REGION}", "stack": stack}
    alarm = next(lid for lid, r in merge["Resources"].items() if r.get("Type") == "AWS::CloudWatch::Alarm")

    # WHEN one alarm's threshold changes
    merge["Resources"][alarm]["Properties"]["Threshold"] = 12345
    _, made = create_rest_on_emulator(where.endpoint or "", REGION, merge, made_by_stack, **rest)

    # THEN that alarm alone is made again, now with the new threshold
    assert made == [alarm]
    alarms = where.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{stack}-")["MetricAlarms"]
    assert [a["Threshold"] for a in alarms].count(12345.0) == 1
    # ... and unchanged, nothing is made
    assert create_rest_on_emulator(where.endpoint or "", REGION, merge, made_by_stack, **rest)[1] == []

    # WHEN the staff pool's definition changes THEN the deploy refuses, naming it: moto cannot update a pool
    merge["Resources"]["StaffUserPool"]["Properties"]["Policies"]["PasswordPolicy"]["MinimumLength"] = 14
    with pytest.raises(DeployError, match="StaffUserPool AWS::Cognito::UserPool"):
        create_rest_on_emulator(where.endpoint or "", REGION, merge, made_by_stack, **rest)


def test_a_new_stack_whose_tables_are_left_over_is_refused_before_anything(where: Where, tmp_path: Path) -> None:
    # GIVEN a table a deleted stack of this campaign and stage retained
    ddb = where.client("dynamodb")
    ddb.create_table(
        TableName="replydesk-demo-leftover-customers",
        AttributeDefinitions=[{"AttributeName": "customer_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "customer_id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    # WHEN it is deployed THEN it is refused, the table named, and nothing is packaged or created
    with pytest.raises(DeployError, match="replydesk-demo-leftover-customers"):
        deploy(request(tmp_path, "leftover", []), where, root=ROOT)
    assert not (tmp_path / "pkg-leftover").exists()
    assert cf_status(where, "replydesk-demo-leftover") is None


def cf_status(where: Where, stack: str) -> str | None:
    from cli.deploy import stack_status

    return stack_status(where.client("cloudformation"), stack)
