"""Two campaigns side by side in one emulator (one account and region): `replydesk local --endpoint`.

The demo campaign runs as `replydesk local`, a second campaign scaffolded with `campaign new` joins its
emulator with `replydesk local --campaign acme --endpoint ...`; each is a process of its own, in a
copy of the code in tmp (the repository never gains a campaign). Mail to both goes through the first
stack's SMTP server, which, as SES inbound, hands each message to the rule of the shared receipt rule
set that names its recipient.
"""

from __future__ import annotations

import json
import smtplib
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.outbox import sent_emails
from local.stack import free_port
from tests.integration.checkout import copy_checkout, replydesk, start_local, stop

pytestmark = pytest.mark.integration

PORTS = ("moto", "api", "smtp", "phone", "dashboard")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's code and the demo's seed library, plus a second campaign `acme`."""
    root = copy_checkout(tmp_path_factory.mktemp("two-campaigns"))
    done = replydesk(root, "campaign", "new", "acme", "--root", str(root), "--brand", "Acme Bikes", timeout=180)
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture(scope="module")
def two(project: Path) -> Iterator[dict[str, Any]]:
    """demo owns the emulator; acme joins it. Yields the first stack's ports and the second's banner."""
    ports = {name: free_port() for name in PORTS}
    first, _ = start_local(project, "--campaign", "demo", *(f"--{n}-port={p}" for n, p in ports.items()))
    try:
        endpoint = f"http://127.0.0.1:{ports['moto']}"
        second, banner = start_local(project, "--campaign", "acme", "--endpoint", endpoint)
        try:
            yield {**ports, "endpoint": endpoint, "acme_banner": banner}
        finally:
            stop(second)
    finally:
        stop(first)


def client(endpoint: str, service: str) -> Any:
    session: Any = boto3.session.Session()
    return session.client(
        service,
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def moto_data(endpoint: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=30) as resp:
        data: dict[str, Any] = json.loads(resp.read())
    return data


def acks_to(endpoint: str, address: str, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in sent_emails(moto_data(endpoint)) if address in m["to"]]
        if found:
            return found
        time.sleep(0.5)
    pytest.fail(f"no ack to {address} within {timeout} s")


def mail(to: str, sender: str, n: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, "Where is my order?"
    msg["Message-ID"] = f"<two-{n}@customer.test>"
    msg.set_content("Hello, my order has not arrived yet. Could you check the delivery for me, please?")
    return msg


def test_two_campaigns_in_one_emulator_each_ack_only_their_own_mail(two: dict[str, Any]) -> None:
    endpoint = two["endpoint"]
    assert "campaign 'acme'" in two["acme_banner"] and endpoint in two["acme_banner"]
    ses, s3 = client(endpoint, "ses"), client(endpoint, "s3")
    # GIVEN both campaigns' rules in the one active receipt rule set, each naming its own addresses
    active = ses.describe_active_receipt_rule_set()
    rules = {r["Name"]: {a.lower() for a in r["Recipients"]} for r in active["Rules"]}
    assert set(rules) == {"replydesk-demo-dev-store", "replydesk-acme-dev-store"}
    assert rules["replydesk-demo-dev-store"].isdisjoint(rules["replydesk-acme-dev-store"])
    demo_to = sorted(rules["replydesk-demo-dev-store"])[0]
    acme_to = sorted(rules["replydesk-acme-dev-store"])[0]

    # WHEN one customer writes to each campaign, both through the first stack's SMTP server
    with smtplib.SMTP("127.0.0.1", two["smtp"], timeout=60) as smtp:
        smtp.send_message(mail(demo_to, "dora@customer.test", 1))
        smtp.send_message(mail(acme_to, "arne@customer.test", 2))

    # THEN each gets one ack, from its own campaign's sender
    demo_ack = acks_to(endpoint, "dora@customer.test")
    acme_ack = acks_to(endpoint, "arne@customer.test")
    assert "demo.replydesk.test" in str(demo_ack[0]["source"])
    assert "acme" in str(acme_ack[0]["source"]) and "Acme Bikes" in acme_ack[0]["text"]
    # ... and each message was stored by its own campaign's rule only, in its own raw bucket
    account = client(endpoint, "sts").get_caller_identity()["Account"]
    for campaign, to in (("demo", demo_to), ("acme", acme_to)):
        objects = s3.list_objects_v2(Bucket=f"replydesk-{campaign}-dev-raw-{account}", Prefix="raw/email/")
        bodies = [
            s3.get_object(Bucket=f"replydesk-{campaign}-dev-raw-{account}", Key=o["Key"])["Body"].read()
            for o in objects.get("Contents", [])
        ]
        assert len(bodies) == 1 and f"To: {to}".encode() in bodies[0], (campaign, len(bodies))

    # ... and their metrics are apart: one AckSent each, under its own campaign dimension
    cw = client(endpoint, "cloudwatch")
    now = datetime.now(UTC)

    def acks_counted(campaign: str) -> float:
        dims = [{"Name": "campaign", "Value": campaign}, {"Name": "stage", "Value": "dev"}]
        stats = cw.get_metric_statistics(
            Namespace="replydesk",
            MetricName="AckSent",
            Dimensions=dims,
            StartTime=now - timedelta(hours=1),
            EndTime=now + timedelta(minutes=5),
            Period=3600,
            Statistics=["Sum"],
        )
        return sum(p["Sum"] for p in stats["Datapoints"])

    deadline = time.monotonic() + 30
    while (acks_counted("demo"), acks_counted("acme")) != (1.0, 1.0) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert (acks_counted("demo"), acks_counted("acme")) == (1.0, 1.0)
    # ... and no campaign acked the other's customer as well (counted again, well after both acks)
    assert len(acks_to(endpoint, "dora@customer.test")) == 1
    assert len(acks_to(endpoint, "arne@customer.test")) == 1
    # ... and so are their alarms and pools, each named and dimensioned for its own stack
    alarms = cw.describe_alarms(AlarmNamePrefix="replydesk-acme-dev-")["MetricAlarms"]
    assert alarms and all(
        {"Name": "campaign", "Value": "acme"} in a["Dimensions"] for a in alarms if a["Namespace"] == "replydesk"
    )
    pools = [p["Name"] for p in client(endpoint, "cognito-idp").list_user_pools(MaxResults=60)["UserPools"]]
    assert sorted(pools) == ["replydesk-acme-dev-staff", "replydesk-demo-dev-staff"]
