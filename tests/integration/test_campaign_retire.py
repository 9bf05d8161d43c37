"""`campaign retire`: the dry run lists every step; the archive step exports every customer and day from the stack."""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

import pytest

from cli.main import main
from tests.conftest import post_contact

pytestmark = pytest.mark.integration


def test_dry_run_lists_every_step_and_what_the_stack_deletion_keeps(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the demo campaign WHEN its retirement is dry-run (no stack named)
    assert main(["campaign", "retire", "demo", "--stage", "dev", "--dry-run"]) == 0
    out = capsys.readouterr().out
    # THEN every step is listed in order, each one built
    steps = [line.split(":", 1)[0] for line in out.splitlines() if line[:1].isdigit()]
    assert steps == ["1. stop-intake", "2. open-conversations", "3. archive", "4. delete-stack"]
    assert "[not built yet" not in out
    # AND the closing message in each language, and what happens to open work without options
    assert "sv: Kampanjen Northwind Outdoor är avslutad." in out
    assert "if any is open, stop here" in out
    # AND the deletion names what goes and what the retention policy keeps
    assert "delete IntakeQueue (AWS::SQS::Queue)" in out
    assert "keep RawBucket (AWS::S3::Bucket): kept by the template's DeletionPolicy (retention_days: 365)" in out


def _entry(e: Any) -> dict[str, Any]:
    return dict(e.as_dict() if hasattr(e, "as_dict") else e)


def _submit(stack: Any, email: str, topic: str = "returns") -> str:
    form = {"name": "Ari", "email": email, "topic": topic, "message": "I want to return my jacket.", "consent": True}
    return str(post_contact(stack, form)["reference"])


def test_open_conversations_are_listed_by_queue_and_the_step_refuses_while_any_is_open(
    stack: Any, drain: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a customer's open conversation in the retention queue
    reference = _submit(stack, f"open-{uuid.uuid4().hex[:8]}@customer.test")
    drain()
    base = ["campaign", "retire", "demo", "--stage", "dev", "--endpoint", stack.endpoint]
    # WHEN the dry run is asked with --close against the stack
    assert main([*base, "--dry-run", "--close"]) == 0
    out = capsys.readouterr().out
    # THEN it says what would happen to that conversation: the closing message by email, then closed
    (line,) = [x for x in out.splitlines() if reference in x]
    assert line.strip().startswith(f"- retention: {reference} (new, due ")
    assert line.endswith("told the closing message (en) by email, then closed")
    # WHEN the step runs without an option THEN it lists the conversation and refuses, saying what to do
    assert main([*base, "--step", "open-conversations"]) == 1
    captured = capsys.readouterr()
    assert f"retention: {reference} (new, due " in captured.out
    assert "still open: answer them in the console" in captured.err and "--close" in captured.err


def test_a_closing_request_tells_the_customer_once_and_closes_the_conversation(stack: Any, drain: Any) -> None:
    from chalicelib.campaign.retire import request
    from chalicelib.campaign.winddown import CLOSE_ACTION, CLOSING_KIND
    from chalicelib.models import ConversationModel
    from local.outbox import sent_emails

    # GIVEN an acknowledged open conversation
    email = f"close-{uuid.uuid4().hex[:8]}@customer.test"
    reference = _submit(stack, email)
    drain()
    # WHEN the retire step asks the stack to close it, twice (a rerun), and the events are processed
    for _ in range(2):
        request(stack.sqs, stack.env["EVENTS_QUEUE_URL"], CLOSE_ACTION, [reference])
        drain()
    # THEN the customer got the ack and exactly one closing message, through the reply path, threaded
    mails = [m for m in sent_emails(stack.moto_data()) if email in m["to"]]
    closing = [m for m in mails if "The Northwind Outdoor campaign has ended." in m["text"]]
    assert len(mails) == 2 and len(closing) == 1, [m["subject"] for m in mails]
    assert reference in closing[0]["subject"] and closing[0]["auto_submitted"] == "auto-replied"
    # AND the conversation is closed, the message recorded once on its timeline, and no longer in the queue
    conv = ConversationModel.get(reference, consistent_read=True)
    assert conv.status == "closed" and conv.status_due.startswith("closed#")
    kinds = [_entry(e)["kind"] for e in conv.timeline]
    assert kinds.count(CLOSING_KIND) == 1 and "status_changed" in kinds
    entry = next(_entry(e) for e in conv.timeline if _entry(e)["kind"] == CLOSING_KIND)
    assert entry["detail"] == "campaign retired: closing message sent by email (en)"


def test_a_reassign_request_moves_open_work_to_the_supervisors_queue(stack: Any, drain: Any) -> None:
    from chalicelib.campaign.retire import open_conversations, request
    from chalicelib.campaign.winddown import REASSIGN_ACTION
    from chalicelib.config import load_campaign
    from chalicelib.models import ConversationModel

    # GIVEN an open conversation in the retention queue
    reference = _submit(stack, f"move-{uuid.uuid4().hex[:8]}@customer.test")
    drain()
    # WHEN the retire step asks for it to go to the supervisors' queue and to the supervisor
    request(
        stack.sqs,
        stack.env["EVENTS_QUEUE_URL"],
        REASSIGN_ACTION,
        [reference],
        queue="supervisors",
        assignee="supervisor",
    )
    drain()
    # THEN it is there, still open, with the change on its timeline
    conv = ConversationModel.get(reference, consistent_read=True)
    assert (conv.queue, conv.assignee, conv.status) == ("supervisors", "supervisor", "new")
    details = [_entry(e)["detail"] for e in conv.timeline]
    assert "retention -> supervisors by retire" in details
    # AND the step's listing finds it under that queue
    listed = {c.conversation_id: c.queue for c in open_conversations(load_campaign("demo"))}
    assert listed[reference] == "supervisors"


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


def test_the_whole_retire_stops_while_the_running_stack_still_takes_contacts(
    stack: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil
    from pathlib import Path

    # GIVEN a checkout whose demo campaign file is already closed, while the running stack read it open
    campaigns = tmp_path / "chalicelib" / "campaigns"
    campaigns.mkdir(parents=True)
    repo = Path(__file__).resolve().parents[2] / "chalicelib" / "campaigns"
    shutil.copy(repo / "demo.brief.md", campaigns / "demo.brief.md")
    text = (repo / "demo.yaml").read_text(encoding="utf-8").replace("  closed: false", "  closed: true")
    (campaigns / "demo.yaml").write_text(text, encoding="utf-8")
    base = ["campaign", "retire", "demo", "--stage", "dev", "--root", str(tmp_path), "--endpoint", stack.endpoint]
    # WHEN the whole retire runs with the stack's API to check THEN it stops at stop-intake, saying why
    assert main([*base, "--api", stack.api_url]) == 1
    err = capsys.readouterr().err
    assert f"the stack at {stack.api_url} still takes contacts" in err and "stopped at step stop-intake" in err
    # AND the running stack says so itself
    with urllib.request.urlopen(f"{stack.api_url}/health", timeout=30) as resp:
        assert json.loads(resp.read())["closed"] is False


def test_waiting_for_staff_gives_up_after_the_timeout_and_a_bad_option_is_refused(
    stack: Any, drain: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an open conversation nobody answers
    reference = _submit(stack, f"wait-{uuid.uuid4().hex[:8]}@customer.test")
    drain()
    base = [
        "campaign",
        "retire",
        "demo",
        "--stage",
        "dev",
        "--endpoint",
        stack.endpoint,
        "--step",
        "open-conversations",
    ]
    # WHEN the step waits one second for staff THEN it gives up, still refusing, and names what is open
    assert main([*base, "--wait-until-empty", "--timeout", "1s"]) == 1
    captured = capsys.readouterr()
    assert "waiting up to 1s for staff to answer them" in captured.out and reference in captured.out
    assert "still open after 1s" in captured.out and "still open: answer them in the console" in captured.err
    # WHEN it is asked to move work to a queue the campaign lacks, or a malformed username THEN usage errors
    assert main([*base, "--reassign-to", "nowhere"]) == 2
    assert "is not a queue of the campaign" in capsys.readouterr().err
    assert main([*base, "--assign-to", "a b"]) == 2
    assert "is not a staff username" in capsys.readouterr().err


def test_an_sms_conversation_is_told_in_its_language_and_an_opted_out_one_is_closed_without(
    stack: Any, drain: Any
) -> None:
    import random

    from chalicelib.campaign.retire import request
    from chalicelib.campaign.winddown import CLOSE_ACTION, CLOSING_KIND
    from chalicelib.models import ConversationModel, MessageModel
    from local.outbox import sent_sms
    from local.phone import send_sms

    def conversation_of(phone: str) -> str:
        found = [m.conversation_id for m in MessageModel.scan() if m.direction == "in" and m.sender == phone]
        assert found, phone
        return found[-1]

    # GIVEN a Swedish SMS customer, and another who then opted out with STOP
    swede, stopped = (f"+4670{random.randint(1_000_000, 9_999_999)}" for _ in range(2))
    send_sms(stack, swede, "Hej! Var är min beställning? Jag har väntat i två veckor på paketet.")
    send_sms(stack, stopped, "Where is my order? It has not arrived yet.")
    drain()
    send_sms(stack, stopped, "STOP")
    drain()
    ids = [conversation_of(swede), conversation_of(stopped)]
    before = {p: len([m for m in sent_sms(stack.moto_data()) if m["to"] == p]) for p in (swede, stopped)}
    # WHEN the retire step closes both
    request(stack.sqs, stack.env["EVENTS_QUEUE_URL"], CLOSE_ACTION, ids)
    drain()
    # THEN the Swedish customer got the Swedish closing message by SMS once; the opted-out one nothing
    after = {p: [m["text"] for m in sent_sms(stack.moto_data()) if m["to"] == p] for p in (swede, stopped)}
    assert len(after[swede]) == before[swede] + 1
    assert "Kampanjen Northwind Outdoor är avslutad." in after[swede][-1]
    assert len(after[stopped]) == before[stopped]
    # AND both are closed, each timeline saying what became of its closing message
    details = {}
    for cid in ids:
        conv = ConversationModel.get(cid, consistent_read=True)
        assert conv.status == "closed"
        details[cid] = next(_entry(e)["detail"] for e in conv.timeline if _entry(e)["kind"] == CLOSING_KIND)
    assert details[ids[0]] == "campaign retired: closing message sent by SMS (sv)"
    assert details[ids[1]].startswith("campaign retired: closing message not sent: ")
