"""The operator commands run on small samples of the shared data and print their figures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cli.main import main

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def sample_csv(tmp_path: Path, n_labels: int = 4, per_label: int = 25) -> Path:
    rows: dict[str, list[str]] = {}
    with (DATA / "intent_banking77" / "train.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if len(rows) < n_labels or row["category"] in rows:
                rows.setdefault(row["category"], []).append(row["text"])
    path = tmp_path / "sample.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        for label, texts in rows.items():
            for t in texts[:per_label]:
                w.writerow([t, label])
        w.writerow(["what is the weather like on mars", "oos"])
    return path


def test_topics_train_and_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a small labelled sample of banking77
    data = sample_csv(tmp_path)
    # WHEN a model is trained and evaluated with the CLI
    assert main(["topics", "train", "--data", str(data), "--out", str(tmp_path / "model")]) == 0
    assert main(["topics", "evaluate", "--model", str(tmp_path / "model"), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    # THEN the artefact exists and the figures are printed
    assert (tmp_path / "model" / "weights.npz").exists()
    assert "accuracy (top-1):" in out
    assert "macro-F1:" in out
    assert "unknown/oos rejected as unknown:" in out


def test_topics_train_for_a_campaign_never_replaces_the_packaged_model_unasked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the demo campaign's packaged model
    from chalicelib.classify.topic import model_dir_for

    packaged = model_dir_for("demo")
    before = {p.name: p.read_bytes() for p in packaged.iterdir() if p.is_file()}
    # WHEN it is trained without --out or --in-place
    rc = main(["topics", "train", "--campaign", "demo"])
    # THEN it refuses, says how to ask for either, and the packaged files are unchanged
    assert rc == 2
    err = capsys.readouterr().err
    assert "--out DIR" in err
    assert "--in-place" in err
    assert {p.name: p.read_bytes() for p in packaged.iterdir() if p.is_file()} == before
    # WHEN it is trained with --out THEN the model is written there
    assert main(["topics", "train", "--campaign", "demo", "--out", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / "weights.npz").exists()


def test_lang_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN 20 sentences in each of Swedish and German
    rows = []
    with (DATA / "langid_lingua" / "sentences.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r["lang"] in ("sv", "de") and sum(x["lang"] == r["lang"] for x in rows) < 20:
                rows.append(r)
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    # WHEN evaluated  THEN overall and per-language accuracy are printed
    assert main(["lang", "evaluate", "--data", str(path), "--limit", "10"]) == 0
    out = capsys.readouterr().out
    assert "accuracy:" in out
    assert "  sv:" in out
    assert "  de:" in out
