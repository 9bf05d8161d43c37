"""Is a campaign's topic model there and trained from its current topics? (`package` retrains it when not.)

Training itself is dev tooling (cli/campaign_train.py, scikit-learn); the checks receive it as a function.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chalicelib.campaign.layout import CampaignLayout
from chalicelib.config import Campaign

# Written next to the model by `ensure_model`: what it was trained from, so a changed topic list or
# example phrase makes it stale. The model files themselves belong to chalicelib.classify.
TRAINED_FROM = "trained-from.json"


@dataclass(frozen=True, slots=True)
class ModelState:
    """`ok`, or why not: `missing` (no model), `stale` (trained from other topics or examples)."""

    status: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def examples_digest(campaign: Campaign) -> str:
    """A hash of exactly what the model is trained from: each topic's id, label, keywords and examples."""
    rows = [[t.id, t.label, list(t.keywords), list(t.examples)] for t in campaign.topics]
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()


def _read_json(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def model_state(campaign: Campaign, layout: CampaignLayout) -> ModelState:
    meta = _read_json(layout.model_dir / "meta.json")
    if meta is None:
        return ModelState("missing", f"{layout.rel(layout.model_dir)}/meta.json does not exist")
    raw_labels = meta.get("labels")
    labels = sorted(str(x) for x in raw_labels) if isinstance(raw_labels, list) else []
    topics = sorted(campaign.topic_ids())
    if labels != topics:
        return ModelState("stale", f"it knows topics {labels}, the campaign has {topics}")
    recorded = _read_json(layout.model_dir / TRAINED_FROM)
    # Without a record (a model trained by hand with `replydesk topics train`) the labels are all we
    # can compare: retraining it would throw away rows it was trained on besides the campaign's.
    if recorded is not None and recorded.get("examples_sha256") != examples_digest(campaign):
        return ModelState("stale", "the campaign's keywords or examples changed since it was trained")
    try:
        from chalicelib.classify.topic import TopicModel

        TopicModel(layout.model_dir)
    except Exception as exc:  # noqa: BLE001 - any failure to load means processing could not use it
        return ModelState("missing", f"{layout.rel(layout.model_dir)} does not load ({type(exc).__name__})")
    return ModelState("ok")


def record_training(campaign: Campaign, layout: CampaignLayout, rows: int) -> None:
    """Write what the model in `layout.model_dir` was just trained from (the trainer calls this)."""
    record = {"campaign": campaign.name, "examples_sha256": examples_digest(campaign), "rows": rows}
    (layout.model_dir / TRAINED_FROM).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


# What trains a missing or stale model and says so: cli.campaign_train.ensure_model.
Trainer = Callable[[Campaign, CampaignLayout], ModelState]
