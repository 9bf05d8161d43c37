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
from tests.conftest import post_contact

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def post_form(stack: Any, data: dict[str, Any]) -> dict[str, Any]:
    return post_contact(stack, data)


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
    # AND a later push of a changed seed leaves the retired template retired, with no new version
    from chalicelib.library.seed import push

    changed = draft({"id": tid, "purpose": "answer", "bodies": {"en": {"text": "Hello v3"}}})
    (pushed,) = push([changed], repo, author="seed")
    assert (pushed.changed, pushed.retired, pushed.version) == (False, True, 2)
    assert [v.version for v in repo.history(tid)] == [1, 2]


# ------------------------------------------------------------------ helpers for conversations


def swedish_returns_conversation(stack: Any, drain: Any, email: str) -> str:
    body = post_form(
        stack,
        {
            "name": "Astrid Lind",
            "email": email,
            "topic": "returns",
            "message": "Hej! Jag vill returnera jackan jag köpte, den är för liten. Hur skickar jag tillbaka den?",
            "consent": True,
        },
    )
    drain()
    return str(body["reference"])


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from cli.main import main

    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


# ------------------------------------------------------------------ CLI


def test_cli_lists_shows_renders_and_shows_history(
    stack: Any, drain: Any, unique_email: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the local stack and a Swedish returns conversation
    reference = swedish_returns_conversation(stack, drain, unique_email("cli"))
    common = ("--campaign", "demo", "--endpoint", stack.endpoint)
    # WHEN the library is listed THEN answers and offers are there
    code, out, _ = cli(capsys, "templates", "list", *common)
    assert code == 0 and "answer-return-instructions.email" in out and "retention-keep-discount.email" in out
    # WHEN a template is shown THEN its Swedish body is printed
    code, out, _ = cli(capsys, "templates", "show", "answer-return-instructions.email", "--lang", "sv", *common)
    assert code == 0 and "Självklart kan du returnera den" in out
    # WHEN an answer is rendered for the conversation without its required input THEN it names the input
    code, _, err = cli(capsys, "templates", "render", "--conversation", reference, "--template",
                       "answer-return-instructions.email", *common)  # fmt: skip
    assert code == 1 and "order_number" in err
    # WHEN it is rendered with the input THEN the exact Swedish reply is printed: thread subject, greeting, body
    code, out, err = cli(capsys, "templates", "render", "--conversation", reference, "--template",
                         "answer-return-instructions.email", "--input", "order_number=NW-1001", "--agent", "Sam",
                         *common)  # fmt: skip
    assert code == 0, err
    assert "Subject: Re: " in out and f"[{reference}]" in out
    assert "Hej Astrid Lind," in out and "order NW-1001" in out and "Med vänliga hälsningar," in out
    assert "in sv" in err
    # AND --lang overrides the conversation's language
    code, out, _ = cli(capsys, "templates", "render", "--conversation", reference, "--template",
                       "answer-return-instructions.email", "--input", "order_number=NW-1001", "--lang", "de",
                       *common)  # fmt: skip
    assert code == 0 and "Guten Tag Astrid Lind," in out
    # WHEN the history is asked for THEN version 1 by the seed push is listed
    code, out, _ = cli(capsys, "templates", "history", "answer-return-instructions.email", "--diff", *common)
    assert code == 0 and out.startswith("v1 ") and "+## sv/text.txt" in out


# ------------------------------------------------------------------ preview, offers, outcome


def test_preview_offers_and_outcome_on_a_returns_conversation(
    stack: Any, drain: Any, unique_email: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from chalicelib.errors import ValidationError
    from chalicelib.library import service
    from chalicelib.runtime import get_runtime

    rt = get_runtime()
    agent = {"username": "sam", "name": "Sam Berg"}
    # GIVEN a Swedish returns conversation
    reference = swedish_returns_conversation(stack, drain, unique_email("offers"))
    # WHEN the eligible offers are asked for
    offers = {o["id"]: o for o in service.conversation_offers(reference, {}, rt=rt)}
    # THEN keep_15 and the exchange are eligible with their templates; the gift needs an order value
    assert offers["keep_15"]["eligible"] and offers["keep_15"]["template"]["id"] == "retention-keep-discount.email"
    assert offers["free_exchange"]["eligible"]
    assert not offers["merino_gift"]["eligible"]
    assert service.conversation_offers(reference, {"order_value": "150"}, rt=rt)[2]["eligible"]
    # WHEN the offer's template is previewed without its input THEN a 400 names the field
    with pytest.raises(ValidationError) as err:
        service.preview(reference, {"template_id": "retention-keep-discount.email", "inputs": {}}, rt=rt, agent=agent)
    assert err.value.field == "order_number"
    # WHEN previewed with it THEN it is Swedish, rendered with the conversation's real context
    shown = service.preview(
        reference,
        {"template_id": "retention-keep-discount.email", "inputs": {"order_number": "NW-2002"}},
        rt=rt,
        agent=agent,
    )
    assert shown["template"]["language"] == "sv" and shown["template"]["version"] >= 1 and not shown["fallback"]
    assert "behåller varan" in shown["text"] and "NW-2002" in shown["text"]
    assert "Hej Astrid Lind," in shown["message"]["text"] and "Sam Berg" in shown["message"]["text"]
    assert shown["subject"].endswith(f"[{reference}]")
    # WHEN the offer is recorded as sent and the outcome as kept
    service.record_offer_sent(reference, "keep_15", message_id="msg_test", rt=rt, agent=agent)
    capsys.readouterr()
    service.record_retention(reference, {"outcome": "kept", "offer_id": "keep_15"}, rt=rt, agent=agent)
    emitted = capsys.readouterr().out
    # THEN the metric RetentionOutcome is emitted by offer and outcome
    blobs = [json.loads(line) for line in emitted.splitlines() if line.startswith("{") and '"_aws"' in line]
    assert any("RetentionOutcome" in b and b.get("offer") == "keep_15" and b.get("outcome") == "kept" for b in blobs)
    # AND the conversation carries the offer and its outcome
    from chalicelib import store

    conv = store.get_conversation(reference)
    assert conv is not None and conv.retention is not None
    assert conv.retention.as_dict()["outcome"] == "kept"
    # AND the same customer, over keep_15's limit of one, no longer sees it on a new returns conversation
    customer_email = store.last_inbound(reference).sender  # type: ignore[union-attr]
    second = swedish_returns_conversation(stack, drain, customer_email)
    assert second != reference
    again = {o["id"]: o for o in service.conversation_offers(second, {}, rt=rt)}
    assert not again["keep_15"]["eligible"] and "limit 1" in again["keep_15"]["reason"]
    assert again["free_exchange"]["eligible"]
    # AND an unknown outcome is a clear 400
    with pytest.raises(ValidationError, match="outcome"):
        service.record_retention(second, {"outcome": "maybe"}, rt=rt, agent=agent)


def test_marketing_is_opt_in_from_the_contact_form_box(stack: Any, drain: Any, unique_email: Any) -> None:
    from chalicelib import store

    # GIVEN two customers, one ticking the optional offers box
    yes, no = unique_email("mkt-yes"), unique_email("mkt-no")
    for email, marketing in ((yes, True), (no, False)):
        post_form(
            stack,
            {"name": "Kim", "email": email, "message": "Where is my parcel?", "consent": True, "marketing": marketing},
        )
    # WHEN they are processed
    drain()
    # THEN only the one who ticked it may get the complementary offer; the other stays opted out
    from chalicelib.models import IdentityModel

    opted = {}
    for email in (yes, no):
        customer = store.get_customer(IdentityModel.get(f"email#{email}").customer_id)
        assert customer is not None
        opted[email] = bool(customer.marketing_opt_out)
    assert opted == {yes: False, no: True}


def test_stats_retention_prints_the_kept_rate_per_offer(
    stack: Any, drain: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests import staffauth

    def exchange_counts() -> dict[str, float]:
        code, out, _ = cli(capsys, "stats", "retention", "--campaign", "demo", "--endpoint", stack.endpoint, "--json")
        assert code == 0
        return dict(json.loads(out)["outcomes"].get("free_exchange", {}))

    before = exchange_counts()
    # GIVEN four returns conversations whose outcome staff record: three kept the item, one was refunded
    agent = staffauth.bearer(staffauth.id_token(stack, "agent"))
    for n, outcome in enumerate(("kept", "kept", "kept", "refunded")):
        ref = swedish_returns_conversation(stack, drain, f"ret-{n}-{uuid.uuid4().hex[:8]}@customer.test")
        req = urllib.request.Request(
            f"{stack.api_url}/api/conversations/{ref}/retention",
            data=json.dumps({"outcome": outcome, "offer_id": "free_exchange"}).encode(),
            method="POST",
            headers=agent,
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200
    # WHEN the operator asks for the retention figures (read from the conversations)
    after = exchange_counts()
    # THEN the exchange offer counts exactly those four more: 3 kept, 1 refunded
    assert after.get("kept", 0) - before.get("kept", 0) == 3
    assert after.get("refunded", 0) - before.get("refunded", 0) == 1
    code, out, _ = cli(capsys, "stats", "retention", "--campaign", "demo", "--endpoint", stack.endpoint)
    assert code == 0
    (row,) = [line for line in out.splitlines() if line.startswith("free_exchange")]
    assert "% of" in row
