"""A new campaign end to end in a copy of the project: new → check → local → form and mail acked in its language.

Each test runs the operator commands as a user would, in a checkout of its own (a copy of the code in
tmp), so the repository never gains a campaign; its local stack is a process of its own on free ports.
"""

from __future__ import annotations

import json
import smtplib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from local.outbox import sent_emails
from local.stack import free_port
from tests.integration.checkout import copy_checkout, env_for, replydesk, start_local, stop

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_checkout(tmp_path_factory.mktemp("checkout"))


def new_campaign(root: Path, name: str, *extra: str) -> None:
    done = replydesk(root, "campaign", "new", name, "--root", str(root), *extra)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def acme(project: Path) -> Path:
    """A campaign scaffolded with English (default) and Swedish, and a brand of its own."""
    new_campaign(project, "acme", "--languages", "en,sv", "--brand", "Acme Cykel", "--domain", "acme.replydesk.test")
    return project


@pytest.fixture(scope="module")
def local_stack(acme: Path) -> Iterator[dict[str, Any]]:
    """`replydesk local --campaign acme` as a process; yields its ports once the banner is out."""
    ports = {name: free_port() for name in ("moto", "api", "smtp", "phone", "dashboard")}
    proc, banner = start_local(acme, "--campaign", "acme", *(f"--{name}-port={port}" for name, port in ports.items()))
    try:
        yield {**ports, "banner": banner}
    finally:
        stop(proc)


def moto_data(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/data.json", timeout=30) as resp:
        data: dict[str, Any] = json.loads(resp.read())
    return data


def wait_for_mail(port: int, address: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in sent_emails(moto_data(port)) if address in m["to"]]
        if found:
            return found[0]
        time.sleep(0.5)
    pytest.fail(f"no ack to {address} within {timeout} s; sent: {[m['to'] for m in sent_emails(moto_data(port))]}")


SWEDISH = (
    "Hej! Var är min beställning? Jag beställde en cykel för två veckor sedan och den har fortfarande inte kommit "
    "fram. Kan ni kontrollera leveransen åt mig?"
)


def test_a_new_campaign_passes_check(acme: Path) -> None:
    # GIVEN a campaign just scaffolded WHEN it is checked THEN nothing is missing
    check = replydesk(acme, "campaign", "check", "acme")
    assert check.returncode == 0, check.stderr
    assert "campaign 'acme': complete" in check.stdout


def test_the_new_campaign_acks_a_form_and_a_mail_in_swedish_with_its_brand(
    project: Path, local_stack: dict[str, Any]
) -> None:
    # GIVEN the new campaign's own local stack (started by `replydesk local --campaign acme`)
    assert "campaign 'acme'" in local_stack["banner"]
    # WHEN a customer writes in Swedish through the form
    form = {"name": "Sven", "email": "sven@kund.test", "topic": "order_status", "message": SWEDISH, "consent": True}
    req = urllib.request.Request(
        f"http://127.0.0.1:{local_stack['api']}/contact",
        data=json.dumps(form).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 202
    # AND another by mail to the campaign's address
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "karin@kund.test", "support@acme.replydesk.test", "Min beställning"
    mail["Message-ID"] = "<karin-1@kund.test>"
    mail.set_content(SWEDISH)
    with smtplib.SMTP("127.0.0.1", local_stack["smtp"], timeout=60) as smtp:
        smtp.send_message(mail)
    # THEN each gets one ack, in Swedish, from the campaign's sender, with its brand
    # (a mail's ack keeps the customer's subject, a form's is the template's)
    for address, subject in (("sven@kund.test", "Vi har tagit emot ditt meddelande"), ("karin@kund.test", "Re: Min")):
        ack = wait_for_mail(local_stack["moto"], address)
        assert ack["language"] == "sv", ack["language"]
        assert "Tack för att du kontaktade Acme Cykel" in ack["text"]
        assert ack["subject"].startswith(subject), ack["subject"]
        assert "support@acme.replydesk.test" in str(ack["source"])


def test_retiring_the_running_campaign_archives_it_then_deletes_its_stack(
    acme: Path, local_stack: dict[str, Any]
) -> None:
    # GIVEN the running local stack of the campaign whose customers wrote above
    endpoint = f"http://127.0.0.1:{local_stack['moto']}"
    base = ("campaign", "retire", "acme", "--stage", "dev", "--endpoint", endpoint)
    # WHEN the stack deletion is asked for before any archive THEN it is refused
    refused = replydesk(acme, *base, "--step", "delete-stack")
    assert refused.returncode == 1 and "run `--step archive` first" in refused.stderr
    # WHEN the whole retire runs in one command, closing what is still open
    first = replydesk(acme, *base, "--close", "--settle", "60s")
    # THEN it stops after setting closing.closed: the running stack reads it when it restarts
    assert first.returncode == 1 and "stopped at step stop-intake" in first.stderr, first.stderr
    # WHEN it runs again (each step is idempotent)
    done = replydesk(acme, *base, "--close", "--settle", "60s", timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    # THEN both open conversations were listed, told the closing message in Swedish and closed, then
    # the campaign archived and its stack deleted
    assert "open-conversations: 2 open" in done.stdout and "every conversation is closed" in done.stdout
    assert "is retired" in done.stdout
    sent = sent_emails(moto_data(local_stack["moto"]))
    closing = [m for m in sent if "Kampanjen Acme Cykel är avslutad" in m["text"]]
    assert sorted(m["to"][0] for m in closing) == ["karin@kund.test", "sven@kund.test"], [m["text"] for m in sent]
    assert {m["language"] for m in closing} == {"sv"}
    # THEN the archive holds the manifest, each customer's GDPR export and the day's analytics
    import boto3

    def client(service: str) -> Any:
        return boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    s3 = client("s3")
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("replydesk-acme-dev-archive"))
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert "manifest.json" in keys and len([k for k in keys if k.startswith("gdpr/cus_")]) == 2
    assert any(k.startswith("analytics/conversations/dt=") for k in keys)
    # AND nothing of the stack runs in the emulator: no queue, state machine, topic; retained tables stay
    assert client("sqs").list_queues().get("QueueUrls", []) == []
    assert client("stepfunctions").list_state_machines()["stateMachines"] == []
    assert client("sns").list_topics()["Topics"] == []
    tables = set(client("dynamodb").list_tables()["TableNames"])
    assert {"replydesk-acme-dev-customers", "replydesk-acme-dev-messages"} <= tables
    assert "replydesk-acme-dev-idempotency" not in tables
    # AND a second run finds nothing left to delete
    again = replydesk(acme, *base, "--step", "delete-stack")
    assert again.returncode == 0 and "deleted 0 resources" in again.stdout


def test_check_package_and_local_refuse_a_missing_template_or_queue_and_start_nothing(project: Path) -> None:
    # GIVEN a complete campaign
    new_campaign(project, "beta", "--languages", "en,sv")
    template = project / "templates" / "beta" / "sv" / "acknowledge.sms.txt"
    saved = template.read_bytes()
    # WHEN one language's template is removed, THEN check, package and local all fail naming the file
    template.unlink()
    named = "templates/beta/sv/acknowledge.sms.txt is missing"
    out = project / "build"
    for args in (
        ("campaign", "check", "beta"),
        ("package", "--campaign", "beta", "--out", str(out)),
        ("local", "--campaign", "beta", "--moto-port", "0", "--api-port", "0", "--smtp-port", "0"),
    ):
        done = replydesk(project, *args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert named in done.stderr, (args, done.stderr)
    # AND nothing was packaged or started
    assert not out.exists()
    # WHEN instead the queue a routing rule refers to is removed
    template.write_bytes(saved)
    cfile = project / "chalicelib" / "campaigns" / "beta.yaml"
    text = cfile.read_text(encoding="utf-8")
    start = text.index("  - id: supervisors")
    cfile.write_text(text[:start] + text[text.index("# First matching rule") :], encoding="utf-8")
    # THEN all three name the rule's queue field
    for args in (("campaign", "check", "beta"), ("package", "--campaign", "beta", "--out", str(out))):
        done = replydesk(project, *args)
        assert done.returncode == 1
        assert "beta.yaml: routing.rules[0].queue: names unknown queue 'supervisors'" in done.stderr, done.stderr
    done = replydesk(project, "local", "--campaign", "beta", "--moto-port", "0", "--api-port", "0")
    assert done.returncode == 1 and "routing.rules[0].queue" in done.stderr
    assert not out.exists()


DRIVER = """
import json, urllib.request
from local.stack import LocalStack
s = LocalStack(campaign_name="gamma", pump_threads=False, forward_metrics=False).start()
try:
    form = {"name": "Ann", "email": "ann@kund.test", "topic": "returns", "message": "I want to return my bike.",
            "consent": True}
    req = urllib.request.Request(s.api_url + "/contact", data=json.dumps(form).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Accept": "application/json"})
    status = urllib.request.urlopen(req, timeout=30).status
    for _ in range(3):
        s.pump.drain()
    attrs = s.sqs.get_queue_attributes(QueueUrl=s.env["INTAKE_QUEUE_URL"], AttributeNames=["All"])["Attributes"]
    parked = s.sqs.receive_message(QueueUrl=s.env["INTAKE_DLQ_URL"], MaxNumberOfMessages=10,
                                   MessageAttributeNames=["All"])["Messages"]
    left = int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
    sent = len(s.moto_data().get("ses", {}).get("RawMessage", []))
    print(json.dumps({"status": status, "left": left, "parked": [m["Body"] for m in parked], "sent": sent}))
finally:
    s.stop()
"""


def test_a_stack_that_somehow_lacks_its_topic_model_parks_each_message_once(project: Path) -> None:
    # GIVEN a campaign whose topic model is missing, started on a local stack without the CLI's check
    new_campaign(project, "gamma", "--no-train")
    assert not (project / "chalicelib" / "classify" / "models" / "gamma").exists()
    # WHEN a customer submits the form and the queue is drained three times
    done = subprocess.run(
        [sys.executable, "-c", DRIVER], cwd=project, env=env_for(project), capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # THEN the form was taken, the message is parked once with the reason, not retried, and no ack went out
    assert result["status"] == 202
    assert result["left"] == 0
    assert len(result["parked"]) == 1, result["parked"]
    body = json.loads(result["parked"][0])
    assert body["reason"] == "missing_artefact: topic model of campaign gamma"
    assert body["channel"] == "web" and body["raw_key"]
    assert result["sent"] == 0


CLOSED_DRIVER = """
import json, smtplib, urllib.error, urllib.request
from email.message import EmailMessage
from local.outbox import sent_emails, sent_sms
from local.phone import send_sms
from local.stack import LocalStack
s = LocalStack(campaign_name="omega", pump_threads=False, forward_metrics=False).start()
try:
    page = urllib.request.urlopen(s.api_url + "/", timeout=30).read().decode()
    form = {"name": "Ann", "email": "ann@kund.test", "topic": "returns", "message": "Can I return it?", "consent": True}
    req = urllib.request.Request(s.api_url + "/contact", data=json.dumps(form).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Accept": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=30)
        post = (202, {})
    except urllib.error.HTTPError as exc:
        post = (exc.code, json.loads(exc.read() or b"{}"))
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "bo@kund.test", "support@omega.replydesk.test", "My order"
    mail.set_content("Hello, where is my order? It has not arrived yet and I am waiting for it.")
    with smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=60) as smtp:
        smtp.send_message(mail)
    send_sms(s, "+46701234567", "Hello, where is my order?")
    for _ in range(3):
        s.pump.drain()
    data = s.moto_data()
    print(json.dumps({"page": page, "post": post, "mail": [m for m in sent_emails(data)],
                      "sms": sent_sms(data)}, default=str))
finally:
    s.stop()
"""


def test_a_closed_campaign_tells_form_mail_and_sms_customers_it_has_ended(project: Path) -> None:
    # GIVEN a campaign retired by the stop-intake step, then started
    new_campaign(project, "omega", "--brand", "Omega")
    closed = replydesk(project, "campaign", "retire", "omega", "--step", "stop-intake")
    assert closed.returncode == 0 and "closing.closed is now true" in closed.stdout
    # WHEN a customer opens the contact page and posts it, another mails and a third sends an SMS
    done = subprocess.run(
        [sys.executable, "-c", CLOSED_DRIVER],
        cwd=project,
        env=env_for(project),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    message = "The Omega campaign has ended. Thank you for writing to us."
    # THEN the page shows the closing message and no form, and the post is refused with 410 and the message
    assert message in result["page"] and "<form" not in result["page"]
    assert result["post"][0] == 410 and result["post"][1]["Message"] == message
    # AND the mail gets the closing message as its final auto-reply, the SMS as its answer
    (mail,) = [m for m in result["mail"] if "bo@kund.test" in m["to"]]
    assert message in mail["text"] and mail["auto_submitted"] == "auto-replied"
    (sms,) = [m for m in result["sms"] if m["to"] == "+46701234567"]
    assert sms["text"] == f"Omega: {message}"


BOUNCE_DRIVER = """
import json, smtplib, urllib.error, urllib.request
from email.message import EmailMessage
from local.outbox import sent_emails, sent_sms
from local.phone import send_sms
from local.stack import LocalStack
s = LocalStack(campaign_name="sigma", pump_threads=False, forward_metrics=False).start()
try:
    rules = s.client("ses").describe_active_receipt_rule_set()["Rules"]
    form = {"name": "Ann", "email": "ann@kund.test", "topic": "returns", "message": "Can I return it?", "consent": True}
    req = urllib.request.Request(s.api_url + "/contact", data=json.dumps(form).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Accept": "application/json",
                                          "Accept-Language": "sv-SE,sv;q=0.9,en;q=0.8"})
    try:
        urllib.request.urlopen(req, timeout=30)
        post = (202, {})
    except urllib.error.HTTPError as exc:
        post = (exc.code, json.loads(exc.read() or b"{}"))
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "bo@kund.test", "support@sigma.replydesk.test", "My order"
    mail.set_content("Hello, where is my order? It has not arrived yet and I am waiting for it.")
    with smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=60) as smtp:
        smtp.send_message(mail)
    send_sms(s, "+46701234568", "Hello, where is my order?")
    for _ in range(3):
        s.pump.drain()
    from chalicelib.models import MessageModel
    stored = [m.suppressed_reason for m in MessageModel.scan() if m.direction == "in" and m.channel == "email"]
    data = s.moto_data()
    print(json.dumps({"rules": rules, "mail": sent_emails(data), "sms": sent_sms(data), "stored": stored,
                      "post": post}, default=str))
finally:
    s.stop()
"""


def test_a_closed_campaign_that_bounces_mail_has_the_ses_bounce_rule_and_acks_no_mail(project: Path) -> None:
    # GIVEN a campaign retired by the stop-intake step with closing.mail set to bounce, then started
    new_campaign(project, "sigma", "--brand", "Sigma", "--languages", "en,sv")
    closed = replydesk(project, "campaign", "retire", "sigma", "--step", "stop-intake")
    assert closed.returncode == 0, closed.stderr
    path = project / "chalicelib" / "campaigns" / "sigma.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("mail: auto_reply", "mail: bounce"), encoding="utf-8")
    # WHEN a customer mails the campaign and another sends an SMS
    done = subprocess.run(
        [sys.executable, "-c", BOUNCE_DRIVER],
        cwd=project,
        env=env_for(project),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # THEN the active receipt rule in the emulator stores the mail, then bounces it with the closing message
    (rule,) = result["rules"]
    assert [next(iter(a)) for a in rule["Actions"]] == ["S3Action", "BounceAction"]
    bounce = rule["Actions"][1]["BounceAction"]
    assert bounce["SmtpReplyCode"] == "550" and bounce["Sender"] == "support@sigma.replydesk.test"
    assert bounce["Message"] == "The Sigma campaign has ended. Thank you for writing to us."
    # AND the mail is stored, with no ack sent (reason campaign_closed), while the SMS gets the closing text
    assert result["stored"] == ["campaign_closed"]
    assert [m for m in result["mail"] if "bo@kund.test" in m["to"]] == []
    (sms,) = [m for m in result["sms"] if m["to"] == "+46701234568"]
    assert sms["text"] == "Sigma: The Sigma campaign has ended. Thank you for writing to us."
    # AND a Swedish browser's form post is refused with the Swedish closing message
    assert result["post"] == [
        410,
        {"Code": "GoneError", "Message": "Kampanjen Sigma är avslutad. Tack för att du skrev till oss."},
    ]
