"""Train a topic model (scikit-learn and numpy: dev tools, never in the Lambda package) for `topic.TopicModel`."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.classify.topic import CHAR_NGRAMS, N_BUCKETS, features
from chalicelib.config import Campaign

FORMAT_VERSION = 1
TEXT_COLUMNS = ("text", "utterance", "instruction")
LABEL_COLUMNS = ("label", "intent", "category")
# Rejection threshold: the out-of-fold confidence below which this share of in-domain messages falls.
# Small on purpose: a rejected message goes to a human, it is not lost.
REJECT_QUANTILE = 0.02


@dataclass(frozen=True, slots=True)
class TrainedModel:
    out_dir: Path
    labels: tuple[str, ...]
    n_train: int
    n_features: int
    temperature: float
    threshold: float
    size_bytes: int


def read_csv(path: Path) -> tuple[list[str], list[str]]:
    """(texts, labels) from a CSV with a text and a label column (names tried in a fixed order)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        text_col = next((c for c in TEXT_COLUMNS if c in cols), None)
        label_col = next((c for c in LABEL_COLUMNS if c in cols), None)
        if text_col is None or label_col is None:
            raise ValueError(
                f"{path}: needs a text column ({'/'.join(TEXT_COLUMNS)}) and a label "
                f"column ({'/'.join(LABEL_COLUMNS)}); found {cols}"
            )
        texts, labels = [], []
        for row in reader:
            text, label = (row.get(text_col) or "").strip(), (row.get(label_col) or "").strip()
            if text and label:
                texts.append(text)
                labels.append(label)
    return texts, labels


def campaign_examples(campaign: Campaign) -> tuple[list[str], list[str]]:
    """Training rows from the campaign file: every example phrase, every keyword, and the label."""
    texts, labels = [], []
    for topic in campaign.topics:
        for text in (*topic.examples, *topic.keywords, topic.label):
            texts.append(text)
            labels.append(topic.id)
    return texts, labels


class Vectoriser:
    """Sublinear TF-IDF over the hashed features, with the vocabulary the training set uses."""

    def __init__(self, texts: Sequence[str], min_df: int = 1) -> None:
        import numpy as np

        self.rows = [features(t) for t in texts]
        df: dict[int, int] = {}
        for row in self.rows:
            for key in row:
                df[key] = df.get(key, 0) + 1
        self.buckets = np.array(sorted(k for k, v in df.items() if v >= min_df), dtype=np.int64)
        self.index = {int(k): i for i, k in enumerate(self.buckets)}
        n = len(texts)
        self.idf = np.array([np.log((1 + n) / (1 + df[int(k)])) + 1.0 for k in self.buckets], np.float32)

    def transform(self, texts: Sequence[str] | None = None) -> Any:
        import numpy as np
        from scipy.sparse import csr_matrix

        rows = self.rows if texts is None else [features(t) for t in texts]
        index = self.index
        indptr: list[int] = [0]
        indices: list[int] = []
        counts: list[int] = []
        for row in rows:
            for k, v in row.items():
                i = index.get(k)
                if i is not None:
                    indices.append(i)
                    counts.append(v)
            indptr.append(len(indices))
        # Vectorised over the whole matrix: per-element numpy calls made training minutes slower.
        cols = np.array(indices, dtype=np.int64)
        vals = (1.0 + np.log(np.array(counts, dtype=np.float32))) * self.idf[cols]
        ptr = np.array(indptr, dtype=np.int64)
        row_of = np.repeat(np.arange(len(rows)), np.diff(ptr))
        norms = np.sqrt(np.bincount(row_of, weights=vals * vals, minlength=len(rows)))
        norms[norms == 0] = 1.0  # a row with no known feature stays all zero
        vals = vals / norms[row_of]
        return csr_matrix((vals.astype(np.float32), cols, ptr), shape=(len(rows), len(self.buckets)), dtype=np.float32)


def _fit(x: Any, y: Any, c: float) -> Any:
    from sklearn.svm import LinearSVC

    return LinearSVC(C=c, class_weight="balanced").fit(x, y)


def _decision(model: Any, x: Any) -> Any:
    import numpy as np

    scores = model.decision_function(x)
    if scores.ndim == 1:  # two classes: sklearn returns one column
        scores = np.stack([-scores, scores], axis=1) / 2
    return scores


# C by 5-fold CV on Banking77 (top-1): 0.25 -> 0.890, 0.5 -> 0.899, 1.0 -> 0.902, 2.0 -> 0.904 (slower to
# converge). 1.0 is where the curve flattens; class weighting "balanced" vs none: 0.899 vs 0.900 at 0.5.
def train(
    texts: Sequence[str],
    labels: Sequence[str],
    out_dir: Path,
    *,
    c: float = 1.0,
    calibration_folds: int = 3,
    source: str = "",
) -> TrainedModel:
    """Fit, calibrate the softmax temperature and the unknown threshold out of fold, and export."""
    import numpy as np

    label_list = sorted(set(labels))
    if len(label_list) < 2:
        raise ValueError("need at least two labels to train a topic model")
    y = np.array([label_list.index(lab) for lab in labels])
    vec = Vectoriser(texts, min_df=vec_min_df(len(texts)))
    x = vec.transform()
    model = _fit(x, y, c)

    # Out-of-fold scores say how confident the model is on text it has not seen.
    smallest = int(np.bincount(y).min())
    folds = min(calibration_folds, smallest)
    temperature, threshold = 0.1, 1.5 / len(label_list)
    if folds >= 2:
        from sklearn.model_selection import StratifiedKFold

        oof = np.zeros((len(y), len(label_list)), np.float32)
        for tr, te in StratifiedKFold(folds, shuffle=True, random_state=0).split(x, y):
            sub_vec = Vectoriser([texts[i] for i in tr], min_df=vec_min_df(len(tr)))
            sub = _fit(sub_vec.transform(), y[tr], c)
            oof[te] = _decision(sub, sub_vec.transform([texts[i] for i in te]))
        grid = [0.02 * 1.25**i for i in range(20)]
        temperature = min(grid, key=lambda t: softmax_nll(oof, y, t))
        z = np.exp((oof - oof.max(axis=1, keepdims=True)) / temperature)
        maxp = (z / z.sum(axis=1, keepdims=True)).max(axis=1)
        threshold = max(float(np.quantile(maxp, REJECT_QUANTILE)), 1.5 / len(label_list))

    weights = model.coef_.T
    bias = model.intercept_
    if weights.shape[1] == 1:
        weights = np.concatenate([-weights, weights], axis=1) / 2
        bias = np.array([-bias[0], bias[0]]) / 2
    # Features whose weights are all tiny change no decision; dropping them keeps the artefact small.
    keep = np.abs(weights).max(axis=1) >= 1e-3
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out_dir / "weights.npz",
        buckets=vec.buckets[keep].astype(np.int32),
        idf=vec.idf[keep].astype(np.float16),
        weights=weights[keep].astype(np.float16),
        bias=bias.astype(np.float32),
    )
    meta = {
        "format": FORMAT_VERSION,
        "labels": label_list,
        "temperature": round(temperature, 5),
        "threshold": round(threshold, 5),
        "min_coverage": 0.01,  # at least one known word
        "n_train": len(texts),
        "n_features": int(keep.sum()),
        "features": {"buckets": N_BUCKETS, "char_ngrams": list(CHAR_NGRAMS), "word_ngrams": [1, 2]},
        "model": f"LinearSVC(C={c}, class_weight=balanced), TF-IDF sublinear",
        "source": source,
    }
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    size = sum(p.stat().st_size for p in out_dir.iterdir() if p.is_file())
    return TrainedModel(out_dir, tuple(label_list), len(texts), int(keep.sum()), temperature, threshold, size)


def vec_min_df(n: int) -> int:
    return 2 if n >= 2000 else 1


def softmax_nll(scores: Any, y: Any, temperature: float) -> float:
    import numpy as np

    z = scores / temperature
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())
