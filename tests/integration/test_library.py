"""The template library on the local stack: seeded versions, edits as new versions, the Swedish ack path."""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from chalicelib.errors import Conflict
from chalicelib.library.model import draft
from chalicelib.library.repository import TemplateRepository
from chalicelib.library.seed import push_seed, read_seed
from local.outbox import sent_emails

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def post_form(stack: Any, data: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        f"{stack.api_url}/contact",
        data=json.dumps(data).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        body: dict[str, Any] = json.loads(resp.read())
    return body


def test_the_seed_is_pushed_as_versions_and_a_second_push_changes_nothing(stack: Any) -> None:
    # GIVEN the local stack, which pushed templates/demo/ when it started
    seed = {d.template_id for d in read_seed(stack.campaign, ROOT / "templates" / "demo")}
    repo = TemplateRepository()
    # WHEN the library is listed
    listed = {t.template_id: t for t in repo.list()}
    # THEN every seed template is there with a version
    assert seed <= set(listed), seed - set(listed)
    assert all(listed[t].version >= 1 for t in seed)
    # AND pushing the unchanged seed again makes no new version
    again = push_seed(stack.campaign, ROOT / "templates" / "demo", author="test", repo=repo)
    assert not [p for p in again if p.changed]


def test_swedish_customer_gets_a_swedish_ack_with_the_swedish_faq(stack: Any, drain: Any, unique_email: Any) -> None:
    # GIVEN a customer writing in Swedish about a return
    email = unique_email("sv-faq")
    body = post_form(
        stack,
        {
            "name": "Astrid",
            "email": email,
            "topic": "returns",
            "message": "Hej! Jag vill returnera jackan jag köpte förra veckan, den är för liten. Hur gör jag?",
            "consent": True,
        },
    )
    # WHEN it is processed
    drain()
    # THEN the ack is Swedish, and so is the FAQ answer in it (from the library's faq-returns snippet)
    (ack,) = [m for m in sent_emails(stack.moto_data()) if email in m["to"]]
    assert ack["language"] == "sv"
    assert body["reference"] in ack["text"]
    assert "Du kan returnera oanvända varor inom 30 dagar" in ack["text"]
    assert "You can return unused items" not in ack["text"]


def test_an_edit_is_a_new_version_with_a_diff_and_the_old_one_stays(stack: Any) -> None:
    # GIVEN a template in the library
    repo = TemplateRepository()
    tid = f"test-edit-{uuid.uuid4().hex[:8]}.email"
    v1 = repo.save(
        draft({"id": tid, "purpose": "answer", "topics": ["returns"], "bodies": {"en": {"text": "Hello v1"}}}),
        author="alice",
    )
    # WHEN an author edits it from version 1
    v2 = repo.save(
        draft({"id": tid, "purpose": "answer", "topics": ["returns"], "bodies": {"en": {"text": "Hello v2"}}}),
        author="bob",
        expected_version=1,
    )
    # THEN it is version 2, by bob, with a diff against version 1
    assert (v1.version, v2.version, v2.author) == (1, 2, "bob")
    assert "-Hello v1" in v2.diff and "+Hello v2" in v2.diff
    # AND version 1 is unchanged and still readable; the history lists both
    assert TemplateRepository().get(tid, 1).bodies["en"]["text"] == "Hello v1"
    assert [v.version for v in repo.history(tid)] == [1, 2]
    # AND an author who edited version 1 too gets a conflict instead of overwriting bob
    with pytest.raises(Conflict):
        repo.save(
            draft({"id": tid, "purpose": "answer", "bodies": {"en": {"text": "stale"}}}),
            author="carol",
            expected_version=1,
        )
    # AND retiring hides it from the list without deleting any version
    repo.retire(tid)
    assert tid not in {t.template_id for t in repo.list()}
    assert TemplateRepository().get(tid, 2).bodies["en"]["text"] == "Hello v2"
