"""`replydesk campaign new` scaffolds a campaign that `campaign check` passes; each missing piece is named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from chalicelib.campaign.checks import check_campaign
from chalicelib.campaign.layout import CampaignLayout
from chalicelib.config import load_campaign
from cli.main import main

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One scaffold (with its trained model) per module; each test works on a copy of it."""
    root = tmp_path_factory.mktemp("project")
    argv = ["campaign", "new", "acme", "--root", str(root), "--languages", "en,sv", "--brand", "Acme Bikes"]
    assert main(argv) == 0
    return root


@pytest.fixture
def root(scaffolded: Path, tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(scaffolded, tmp_path / "p")
    return tmp_path / "p"


def edit_campaign(root: Path, change: object) -> None:
    path = CampaignLayout("acme", root).campaign_file
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def problems(root: Path, *, train: bool = False) -> list[str]:
    from cli.campaign_train import ensure_model

    return check_campaign("acme", CampaignLayout("acme", root), train=ensure_model if train else None).problems


def test_new_campaign_is_complete_with_every_field_commented(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a campaign just scaffolded with two languages
    layout = CampaignLayout("acme", root)
    # WHEN it is checked from the command line
    rc = main(["campaign", "check", "acme", "--root", str(root)])
    # THEN nothing is missing, and it loads as a campaign with those languages and brand
    assert rc == 0, capsys.readouterr().err
    campaign = load_campaign("acme", layout.campaigns_dir)
    assert campaign.languages == ("en", "sv") and campaign.brand == "Acme Bikes"
    # AND every top-level field of the file has a comment right above it
    lines = layout.campaign_file.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[a-z_]+:", line):
            assert lines[i - 1].startswith("#"), f"field without a comment: {line}"
    # AND each language has the system templates, a starter answer per topic, and the brief exists
    for lang in ("en", "sv"):
        names = {p.name for p in (layout.templates_dir / lang).iterdir()}
        assert {"acknowledge.email.txt", "acknowledge.sms.txt", "reply.email.html", "follow_up.sms.txt"} <= names
        assert {f"answer-{t.replace('_', '-')}.email.txt" for t in campaign.topic_ids()} <= names
    assert "## What staff may offer" in layout.brief_file.read_text(encoding="utf-8")
    assert (layout.model_dir / "meta.json").is_file()


def test_the_demo_campaign_in_the_repo_is_complete() -> None:
    # GIVEN the repository's demo campaign WHEN it is checked THEN nothing is missing
    report = check_campaign("demo")
    assert report.ok, report.text()


def test_a_language_missing_one_template_is_named_by_file(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN one language lacks its SMS acknowledgement
    (root / "templates" / "acme" / "sv" / "acknowledge.sms.txt").unlink()
    # WHEN the campaign is checked
    rc = main(["campaign", "check", "acme", "--root", str(root)])
    # THEN it fails and names the file, the language and what it is for
    err = capsys.readouterr().err
    assert rc == 1
    assert "templates/acme/sv/acknowledge.sms.txt is missing (the acknowledgement of an SMS, language sv)" in err


def test_a_queue_a_rule_refers_to_is_named_by_field(root: Path) -> None:
    # GIVEN the queue the urgent rule routes to is removed
    edit_campaign(root, lambda d: d.update(queues=[q for q in d["queues"] if q["id"] != "supervisors"]))
    # WHEN the campaign is checked THEN the rule's queue field is named in the campaign file
    found = problems(root)
    assert "chalicelib/campaigns/acme.yaml: routing.rules[0].queue: names unknown queue 'supervisors'" in found


def test_changed_examples_make_the_model_stale_and_train_refreshes_it(root: Path) -> None:
    # GIVEN a new example phrase for a topic
    edit_campaign(root, lambda d: d["topics"][0]["examples"].append("The courier never came."))
    # WHEN checked THEN the model is stale
    assert any("topic model stale" in p for p in problems(root))
    # WHEN checked with training THEN it is retrained and the next check passes
    assert problems(root, train=True) == []
    assert problems(root) == []


def test_a_new_topic_without_a_model_label_is_stale(root: Path) -> None:
    # GIVEN a topic added to the campaign
    edit_campaign(root, lambda d: d["topics"].append({"id": "billing", "label": "Invoices", "examples": ["invoice"]}))
    # WHEN checked THEN the model is named as not knowing that topic
    assert any("topic model stale: it knows topics" in p and "billing" in p for p in problems(root))


def test_missing_model_offer_template_help_text_and_sender_are_each_named(root: Path) -> None:
    # GIVEN no model, an offer naming a template the library lacks, a long HELP text, a sender not received
    layout = CampaignLayout("acme", root)
    for p in layout.model_dir.iterdir():
        p.unlink()

    def change(d: dict[str, object]) -> None:
        d["offers"] = [{"id": "keep_10", "label": "Keep it", "gives": "10% back", "template": "keep.email"}]
        d["sms"]["help_text"] = "Acme Bikes help. " * 30  # type: ignore[index]
        d["sender"]["email"] = "hello@acme-bikes.test"  # type: ignore[index]

    edit_campaign(root, change)
    # WHEN checked
    found = "\n".join(problems(root))
    # THEN each is named with its file and field
    assert "chalicelib/classify/models/acme: topic model missing" in found
    assert "acme.yaml: offers[0].template: 'keep.email' is not in templates/acme/library.yaml" in found
    assert re.search(r"acme.yaml: sms.help_text: needs \d+ GSM-7 segments, sms.segment_budget is 2", found)
    assert "acme.yaml: sender.email: 'hello@acme-bikes.test' is not one of inbound.addresses" in found


def test_a_language_the_scaffold_cannot_write_is_named_until_translated(tmp_path: Path) -> None:
    # GIVEN a campaign scaffolded with a language the starter library has no text for
    rc = main(["campaign", "new", "ita", "--root", str(tmp_path), "--languages", "en,it", "--no-train"])
    assert rc == 0
    # WHEN checked
    found = check_campaign("ita", CampaignLayout("ita", tmp_path)).problems
    # THEN every Italian file is named as not translated, and the model as missing
    assert "templates/ita/it/acknowledge.email.txt: not translated yet (then delete the replydesk:translate line)" in (
        found
    )
    assert not any("/en/" in p for p in found)
    assert any("topic model missing" in p for p in found)


def test_new_refuses_to_overwrite_an_existing_campaign(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a campaign that exists WHEN scaffolded again THEN it refuses and names what exists
    assert main(["campaign", "new", "acme", "--root", str(root)]) == 2
    assert "chalicelib/campaigns/acme.yaml already exists" in capsys.readouterr().err
