"""`campaign retire`: the dry run lists every step; the archive step exports every customer and day from the stack."""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

import pytest

from cli.main import main

pytestmark = pytest.mark.integration


def test_dry_run_lists_every_step_and_what_the_stack_deletion_keeps(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the demo campaign WHEN its retirement is dry-run
    assert main(["campaign", "retire", "demo", "--stage", "dev", "--dry-run"]) == 0
    out = capsys.readouterr().out
    # THEN every step is listed in order, the unbuilt ones marked as such
    steps = [line.split(":", 1)[0] for line in out.splitlines() if line[:1].isdigit()]
    assert steps == ["1. stop-intake", "2. open-conversations", "3. archive", "4. delete-stack"]
    assert out.count("[not built yet") == 1
    # AND the deletion names what goes and what the retention policy keeps
    assert "delete IntakeQueue (AWS::SQS::Queue)" in out
    assert "keep RawBucket (AWS::S3::Bucket): kept by the template's DeletionPolicy (retention_days: 365)" in out


def test_retire_without_a_built_step_refuses_and_says_what_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN nothing but the command WHEN a full retire is asked for THEN it refuses, saying which steps are not built
    assert main(["campaign", "retire", "demo", "--stage", "dev"]) == 2
    assert "handling open conversations is not built" in capsys.readouterr().err


def test_archive_step_exports_each_customer_and_each_day_into_the_archive_bucket(
    stack: Any, drain: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a customer who wrote through the form
    email = f"archive-{uuid.uuid4().hex[:8]}@customer.test"
    form = {
        "name": "Ari",
        "email": email,
        "topic": "returns",
        "message": "I want to return my jacket.",
        "consent": True,
    }
    req = urllib.request.Request(
        f"{stack.api_url}/contact",
        data=json.dumps(form).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        reference = json.loads(resp.read())["reference"]
    drain()
    # WHEN the archive step runs against the local stack
    assert (
        main(["campaign", "retire", "demo", "--stage", "dev", "--step", "archive", "--endpoint", stack.endpoint]) == 0
    )
    assert "archived campaign 'demo' into s3://replydesk-demo-dev-archive-" in capsys.readouterr().out
    # THEN the archive bucket holds that customer's GDPR export with the conversation, and the manifest
    s3 = stack.client("s3")
    bucket = next(
        b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("replydesk-demo-dev-archive-")
    )
    from chalicelib.models import IdentityModel

    customer_id = IdentityModel.get(f"email#{email}").customer_id
    document = json.loads(s3.get_object(Bucket=bucket, Key=f"gdpr/{customer_id}.json")["Body"].read())
    assert [c["conversation_id"] for c in document["conversations"]] == [reference]
    manifest = json.loads(s3.get_object(Bucket=bucket, Key="manifest.json")["Body"].read())
    assert manifest["customers"] >= 1 and manifest["conversations"] >= 1
    # AND the analytics export of that day, with the conversation in it
    day = document["conversations"][0]["updated_at"][:10]
    assert day in manifest["days"]
    rows = s3.get_object(Bucket=bucket, Key=f"analytics/conversations/dt={day}/part-00000.jsonl")["Body"].read()
    assert reference in rows.decode()
