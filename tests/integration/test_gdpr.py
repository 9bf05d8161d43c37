"""GDPR on the local stack: export a customer with email, SMS and web history, then erase them everywhere."""

from __future__ import annotations

import json
import uuid
import zipfile
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest

from cli.main import main
from local.phone import inbound_payload, replies_for, send_sms
from local.smtp import receipt_notification, ses_message_id
from tests.conftest import post_contact

pytestmark = pytest.mark.integration


def fresh_phone() -> str:
    tail = f"{uuid.uuid4().int % 10000:04d}"
    return "+1206555" + (tail[:-2] + "12" if tail.endswith("99") else tail)


def mail_with_attachment(stack: Any, sender: str, name: str, body: str, attachment: bytes) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>"
    msg["To"] = stack.campaign.inbound_addresses[0]
    msg["Subject"] = "My blender broke"
    msg["Date"] = "Fri, 01 May 2026 12:00:00 +0000"
    msg["Message-ID"] = make_msgid(domain="customer.test")
    msg.set_content(body)
    msg.add_attachment(attachment, maintype="application", subtype="pdf", filename="receipt.pdf")
    return msg.as_bytes()


def deliver_email(stack: Any, raw: bytes, sender: str) -> str:
    ses_id = ses_message_id()
    key = f"raw/email/{ses_id}"
    topic = stack.env["INBOUND_EMAIL_TOPIC_ARN"]
    stack.client("s3").put_object(Bucket=stack.env["RAW_BUCKET"], Key=key, Body=raw)
    note = receipt_notification(
        raw,
        mail_from=sender,
        recipients=[stack.campaign.inbound_addresses[0]],
        message_id=ses_id,
        bucket=stack.env["RAW_BUCKET"],
        key=key,
        topic_arn=topic,
        now=datetime.now(UTC),
    )
    stack.client("sns").publish(TopicArn=topic, Message=json.dumps(note))
    return ses_id


def submit_form(stack: Any, **form: Any) -> dict[str, Any]:
    return post_contact(stack, {"topic": "order_status", "consent": True, **form})


def cli(stack: Any, capsys: Any, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([*args, "--endpoint", stack.endpoint])
    out = capsys.readouterr()
    return rc, out.out, out.err


def table_items(stack: Any) -> dict[str, list[str]]:
    """Every item of every table of the stack, as JSON text (a Scan: fine in a test)."""
    ddb = stack.client("dynamodb")
    prefix = f"replydesk-{stack.campaign_name}-{stack.stage}-"
    out: dict[str, list[str]] = {}
    for table in ddb.list_tables()["TableNames"]:
        if not table.startswith(prefix):
            continue
        items = []
        for page in ddb.get_paginator("scan").paginate(TableName=table):
            items.extend(json.dumps(i, ensure_ascii=False) for i in page.get("Items", []))
        out[table] = items
    return out


def bucket_objects(stack: Any) -> dict[str, bytes]:
    """Every object of the raw and analytics buckets."""
    s3 = stack.client("s3")
    out = {}
    for bucket in (stack.env["RAW_BUCKET"], stack.env["RAW_BUCKET"].replace("-raw-", "-analytics-")):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                out[f"{bucket}/{obj['Key']}"] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


def analytics_conversation_ids(stack: Any) -> set[str]:
    s3 = stack.client("s3")
    bucket = stack.env["RAW_BUCKET"].replace("-raw-", "-analytics-")
    ids = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="analytics/conversations/"):
        for obj in page.get("Contents", []):
            for line in s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode().splitlines():
                if line:
                    ids.add(json.loads(line)["conversation_id"])
    return ids


def dlq_bodies(stack: Any) -> list[str]:
    from chalicelib.ops.dlq import DlqClient, DlqName
    from chalicelib.ops.stack import StackNames

    names = StackNames(stack.campaign_name, stack.stage, stack.region, stack.env["RAW_BUCKET"].rsplit("-", 1)[-1])
    dlq = DlqClient(sqs=stack.client("sqs"), s3=stack.client("s3"), names=names)
    bodies = []
    for queue in (DlqName.INTAKE, DlqName.EVENTS):
        held = dlq.hold(queue)
        dlq.release(queue, held)
        bodies.extend(h.body for h in held)
    return bodies


def _staff_merge(keep_identity: str, merge_identity: str) -> None:
    """What a supervisor does in the console (POST /api/customers/merge) when two customers are one person."""
    from datetime import UTC, datetime

    from chalicelib import aws
    from chalicelib.auth import Staff
    from chalicelib.console.merge import merge_customers
    from chalicelib.models import IdentityModel

    keep = IdentityModel.get(keep_identity).customer_id
    merge = IdentityModel.get(merge_identity).customer_id
    if keep != merge:
        supervisor = Staff(sub="s", username="supervisor", email="", name="Sam", groups=("supervisor",))
        merge_customers({"keep": keep, "merge": merge}, staff=supervisor, ddb=aws.dynamodb(), now=datetime.now(UTC))


def test_export_then_erase_a_customer_with_email_sms_and_web_history(
    stack: Any, drain: Any, capsys: Any, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:10]
    email = f"gdpr-{tag}@customer.test"
    phone = fresh_phone()
    name = f"Zed Gdpr{tag}"
    bodies = {
        "email": f"EMAILBODY{tag} the blender smokes",
        "web": f"WEBBODY{tag} where is my order",
        "sms": f"SMSBODY{tag} parcel never came",
        "dlq": f"DLQBODY{tag} this one got stuck",
    }
    attachment = f"%PDF-1.4 ATTACHMENT{tag}".encode()
    # GIVEN a customer who wrote by email (with an attachment), by the web form (giving their phone) and by SMS
    deliver_email(stack, mail_with_attachment(stack, email, name, bodies["email"], attachment), email)
    drain()
    submit_form(stack, name=name, email=email, phone=phone, message=bodies["web"])
    drain()
    send_sms(stack, phone, bodies["sms"])
    drain()
    # AND staff joined the SMS customer to the email one (a phone typed on the form is no proof)
    _staff_merge(f"email#{email}", f"phone#{phone}")
    # AND then sent STOP from that phone
    send_sms(stack, phone, "STOP")
    drain()
    # AND staff answered their email (the rendered reply goes through the outbox)
    from chalicelib import reply, runtime, store
    from chalicelib.models import IdentityModel

    customer_id = IdentityModel.get(f"email#{email}").customer_id
    email_conv = next(c for c in store.customer_conversations(customer_id) if c.channel == "email")
    answer = f"REPLYBODY{tag} a new blender is on its way"
    sent = reply.staff_reply(
        email_conv.conversation_id, answer, sent_by="sam", idempotency_key=f"r-{tag}", rt=runtime.get_runtime()
    )
    assert sent["sent"], sent
    drain()
    sms_before = len(replies_for(stack.moto_data(), phone))
    assert sms_before == 2  # the ack, then the one opt-out confirmation
    # AND one of their SMS sits in the intake DLQ (redriven after repeated failures, original body)
    payload = inbound_payload(phone, bodies["dlq"], destination=stack.campaign.sms.number)
    stack.sqs.send_message(
        QueueUrl=stack.env["INTAKE_DLQ_URL"],
        MessageBody=json.dumps(
            {
                "Type": "Notification",
                "MessageId": str(uuid.uuid4()),
                "TopicArn": stack.env["INBOUND_SMS_TOPIC_ARN"],
                "Message": json.dumps(payload),
            }
        ),
    )

    # WHEN the operator exports the customer, as JSON and as a zip with the objects
    out = tmp_path / "export.json"
    rc, _, err = cli(stack, capsys, "customer", "export", "--email", email.upper(), "--out", str(out))
    assert rc == 0, err
    zipped = tmp_path / "export.zip"
    rc, _, err = cli(stack, capsys, "customer", "export", "--phone", phone, "--zip", str(zipped))
    assert rc == 0, err
    # THEN the export holds the customer, both identities, every conversation and message, the attachment
    # and the opt-out
    doc = json.loads(out.read_text())
    assert doc["customer"]["name"] == name
    assert {i["identity"] for i in doc["identities"]} == {f"email#{email}", f"phone#{phone}"}
    assert {c["channel"] for c in doc["conversations"]} == {"email", "web", "sms"}
    texts = " ".join(m.get("text", "") for c in doc["conversations"] for m in c["messages"])
    for channel in ("email", "web", "sms"):
        assert bodies[channel] in texts
    assert "STOP" in texts and answer in texts
    assert [a["filename"] for a in doc["attachments"]] == ["receipt.pdf"]
    assert [(s["address"], s["reason"]) for s in doc["suppressions"]] == [(f"phone#{phone}", "opt_out")]
    assert len(doc["raw_objects"]) >= 4  # email, web, two SMS
    # AND the zip holds the attachment's bytes and the raw objects
    with zipfile.ZipFile(zipped) as zf:
        names = zf.namelist()
        assert f"objects/{doc['attachments'][0]['s3_key']}" in names
        assert zf.read(f"objects/{doc['attachments'][0]['s3_key']}") == attachment
        assert all(f"objects/{k}" in names for k in doc["raw_objects"])
        assert json.loads(zf.read("export.json"))["customer"]["customer_id"] == doc["customer"]["customer_id"]

    # AND the console's search index has their words
    from chalicelib.models import SearchTokenModel

    assert list(SearchTokenModel.query(f"w#emailbody{tag}")) and list(SearchTokenModel.query(f"w#webbody{tag}"))
    # AND the day's analytics export holds their conversations' rows
    rc, _, err = cli(stack, capsys, "analytics", "export")
    assert rc == 0, err
    conv_ids = {c["conversation_id"] for c in doc["conversations"]}
    assert conv_ids <= analytics_conversation_ids(stack)

    # WHEN the operator erases the customer
    rc, printed, err = cli(stack, capsys, "customer", "erase", "--email", email, "--by", "dpo@operator.test", "--yes")
    assert rc == 0, err
    tombstone = json.loads(printed)
    # THEN the tombstone says what was removed, per step
    assert tombstone["status"] == "complete"
    steps = tombstone["steps"]
    assert steps["customer"] == 1 and steps["identities"] == 2 and steps["conversations"] == 3
    assert steps["messages"] >= 6 and steps["attachments"] == 1 and steps["dlq"] == 1 and steps["suppressions"] == 1
    assert steps["raw_objects"] >= 4 and steps["outbox"] >= 1 and steps["search"] >= 1
    # AND no item, object or DLQ entry anywhere still holds the address, the phone, the name or a body
    needles = [email, phone, name, *bodies.values(), answer, f"ATTACHMENT{tag}"]
    items = table_items(stack)
    assert f"replydesk-{stack.campaign_name}-{stack.stage}-audit" in items
    lowered = [n.lower() for n in needles]  # the search index stores case-folded words
    for table, rows in items.items():
        for row in rows:
            assert not [n for n in lowered if n in row.lower()], (table, row[:300])
    for key, body in bucket_objects(stack).items():
        assert not [n for n in needles if n.encode() in body], key
    for body in dlq_bodies(stack):
        assert not [n for n in needles if n in body]
    # AND the analytics files no longer hold their conversations
    assert steps["analytics"] >= 3 and not conv_ids & analytics_conversation_ids(stack)
    # AND the tombstone is in the audit table with the hashed identities only
    from chalicelib.gdpr.audit import AuditModel
    from chalicelib.gdpr.hashing import hashed_identity

    stored = list(AuditModel.query(f"erasure#{tombstone['customer_id']}"))
    assert len(stored) == 1
    assert stored[0].actor == "dpo@operator.test"
    assert hashed_identity(f"phone#{phone}") in stored[0].identity_hashes
    assert hashed_identity(f"email#{email}") in stored[0].identity_hashes
    # AND those hashes are keyed with the stack's own secret: the unkeyed hash of the number is not there
    import hashlib
    import hmac

    from chalicelib.gdpr.hashing import legacy_hashed_identity

    secret = stack.client("secretsmanager").get_secret_value(SecretId=stack.env["ERASURE_KEY_SECRET"])
    keyed = hmac.new(secret["SecretString"].encode(), f"phone#{phone}".encode(), hashlib.sha256).hexdigest()
    assert f"erased#k1#{keyed}" in stored[0].identity_hashes
    assert legacy_hashed_identity(f"phone#{phone}") not in stored[0].identity_hashes
    assert not [h for h in stored[0].identity_hashes if not h.startswith("erased#k1#")]

    # WHEN the erasure is run again
    rc, printed, err = cli(stack, capsys, "customer", "erase", "--phone", phone, "--by", "dpo@operator.test", "--yes")
    # THEN it changes nothing and reports the same tombstone
    assert rc == 0, err
    again = json.loads(printed)
    assert again["started_at"] == tombstone["started_at"] and again["status"] == "complete"
    assert len(list(AuditModel.query(f"erasure#{tombstone['customer_id']}"))) == 1

    # WHEN the erased number writes again, having sent STOP before its erasure
    send_sms(stack, phone, "Hello? Anyone there?")
    drain()
    # THEN it still gets no message at all
    assert len(replies_for(stack.moto_data(), phone)) == sms_before
    # AND a STOP from it now is not confirmed a second time (it was, once, before the erasure)
    send_sms(stack, phone, "STOP")
    drain()
    assert len(replies_for(stack.moto_data(), phone)) == sms_before


def test_an_interrupted_erasure_continues_where_it_stopped(stack: Any, drain: Any) -> None:
    from chalicelib.errors import TransientError
    from chalicelib.gdpr.audit import AuditModel
    from chalicelib.gdpr.erase import STEPS, Clients, Step, erase_customer
    from chalicelib.gdpr.subject import find_subject
    from chalicelib.models import CustomerModel, MessageModel
    from chalicelib.ops.stack import StackNames, bind_models_to

    names = StackNames(stack.campaign_name, stack.stage, stack.region, stack.env["RAW_BUCKET"].rsplit("-", 1)[-1])
    bind_models_to(names, endpoint=stack.endpoint, region=stack.region)
    clients = Clients(
        s3=stack.client("s3"),
        sqs=stack.client("sqs"),
        dynamodb=stack.client("dynamodb"),
        sfn=stack.client("stepfunctions"),
        names=names,
    )
    # GIVEN a customer with one web submission
    email = f"resume-{uuid.uuid4().hex[:10]}@customer.test"
    accepted = submit_form(stack, name="Rita Resume", email=email, message="Please delete me afterwards.")
    drain()
    subject = find_subject(email=email)
    conv_id = accepted["reference"]
    assert list(MessageModel.query(conv_id))

    # WHEN the erasure fails at its conversations step (a throttled delete, a crashed container)
    def crash(_job: Any) -> int:
        raise TransientError("throttled")

    crashing = tuple(Step(s.name, s.what, crash) if s.name == "conversations" else s for s in STEPS)
    with pytest.raises(TransientError):
        erase_customer(subject, actor="ops", now=datetime.now(UTC), clients=clients, steps=crashing)
    # THEN the tombstone records the steps that finished and says the job is still running
    (item,) = list(AuditModel.query(f"erasure#{subject.customer_id}"))
    assert item.status == "running"
    assert "messages" in item.steps and "conversations" not in item.steps
    assert not list(MessageModel.query(conv_id))

    # WHEN it is run again
    tombstone = erase_customer(subject, actor="ops", now=datetime.now(UTC), clients=clients)
    # THEN it continues from the failed step, completes, and removes the rest
    assert tombstone.resumed and tombstone.status == "complete"
    assert set(tombstone.steps) == {s.name for s in STEPS}
    assert tombstone.steps["messages"] == item.steps["messages"]  # not run twice
    assert tombstone.steps["conversations"] == 1
    assert CustomerModel.count(subject.customer_id) == 0
    assert len(list(AuditModel.query(f"erasure#{subject.customer_id}"))) == 1


def test_conversations_and_messages_expire_after_the_campaigns_retention_days(stack: Any, drain: Any) -> None:
    from chalicelib.models import ConversationModel, MessageModel

    # GIVEN the stack's conversations and messages tables
    ddb = stack.client("dynamodb")
    for table in ("conversations", "messages"):
        ttl = ddb.describe_time_to_live(TableName=f"replydesk-{stack.campaign_name}-{stack.stage}-{table}")
        # THEN DynamoDB expires their items by the expires_at attribute
        assert ttl["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    # WHEN a customer writes
    accepted = submit_form(stack, name="Tess Ttl", email=f"ttl-{uuid.uuid4().hex[:10]}@customer.test", message="Hi")
    drain()
    # THEN the conversation and each of its messages (inbound and the ack) carry a TTL retention_days after
    # they were written
    retention = stack.campaign.retention_days * 86400
    conv = ConversationModel.get(accepted["reference"], consistent_read=True)
    messages = list(MessageModel.query(accepted["reference"], consistent_read=True))
    assert {m.direction for m in messages} == {"in", "out"}
    for created, expires in [(conv.created_at, conv.expires_at), *((m.created_at, m.expires_at) for m in messages)]:
        assert expires is not None
        written = datetime.fromisoformat(created).timestamp()
        # created_at is the customer's submission time; the item is written moments later
        assert retention - 1 <= expires - written <= retention + 120  # TTL is whole seconds


def test_export_and_erase_through_the_console_api_need_the_admin_role(stack: Any, drain: Any) -> None:
    from chalice.test import Client

    from chalicelib.models import IdentityModel
    from tests import staffauth

    # GIVEN a customer who used the web form
    email = f"api-{uuid.uuid4().hex[:10]}@customer.test"
    submit_form(stack, name="Api Person", email=email, message="Erase me through the API please.")
    drain()
    customer_id = IdentityModel.get(f"email#{email}").customer_id
    agent = staffauth.bearer(staffauth.id_token(stack, "agent"))
    admin = staffauth.bearer(staffauth.id_token(stack, "admin"))
    with Client(stack.app_module.app) as client:
        # WHEN an agent asks for the export or the erasure
        # THEN both are refused with 403
        assert client.http.get(f"/api/customers/{customer_id}/export", headers=agent).status_code == 403
        body = json.dumps({"confirm": customer_id})
        assert client.http.post(f"/api/customers/{customer_id}/erase", headers=agent, body=body).status_code == 403
        # WHEN an admin asks for the export
        resp = client.http.get(f"/api/customers/{customer_id}/export", headers=admin)
        # THEN it is the customer's document
        assert resp.status_code == 200, resp.body
        assert resp.json_body["customer"]["customer_id"] == customer_id
        assert [i["identity"] for i in resp.json_body["identities"]] == [f"email#{email}"]
        # AND an erasure without the confirmation is a 400 that erases nothing
        no = client.http.post(f"/api/customers/{customer_id}/erase", headers=admin, body="{}")
        assert no.status_code == 400 and IdentityModel.count(f"email#{email}") == 1
        # WHEN the admin confirms
        done = client.http.post(f"/api/customers/{customer_id}/erase", headers=admin, body=body)
        # THEN the customer is erased, and the tombstone names the admin from the token
        assert done.status_code == 200, done.body
        assert done.json_body["status"] == "complete" and done.json_body["actor"] == "admin"
        assert IdentityModel.count(f"email#{email}") == 0
        # AND the export now finds nothing
        assert client.http.get(f"/api/customers/{customer_id}/export", headers=admin).status_code == 404


def test_the_erasure_key_is_read_from_the_stacks_secret_and_a_short_one_is_refused(stack: Any) -> None:
    from chalicelib.errors import ConfigError
    from chalicelib.gdpr.hashing import read_key

    sm = stack.client("secretsmanager")
    # GIVEN the stack's generated secret WHEN read THEN it is the key (64 characters)
    assert len(read_key(sm, stack.env["ERASURE_KEY_SECRET"])) == 64
    # GIVEN a secret too short to key anything, and a missing one WHEN read THEN each is a clear error
    name = f"replydesk-test-{uuid.uuid4().hex[:8]}-erasure-key"
    sm.create_secret(Name=name, SecretString="short")
    with pytest.raises(ConfigError, match="fewer than 32 bytes"):
        read_key(sm, name)
    with pytest.raises(ConfigError, match="cannot be read"):
        read_key(sm, name + "-missing")
