"""Topic of a message: hashed word and character n-grams, TF-IDF, a linear model read from an `.npz`."""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.classify import npz

UNKNOWN = "unknown"
N_BUCKETS = 1 << 20
# Dropping the 2-grams was measured: Banking77 CV 0.902 -> 0.901 (C=1) and topic p99 2.80 -> 2.79 ms: kept.
CHAR_NGRAMS = (2, 3, 4, 5)
MODELS_ROOT = Path(__file__).parent / "models"
_TOKEN_RE = re.compile(r"[^\W_]+", re.UNICODE)
_DIGITS_RE = re.compile(r"\d")


def normalise(text: str) -> str:
    # Digits carry no topic (order numbers, amounts) but would each become their own feature.
    return _DIGITS_RE.sub("0", unicodedata.normalize("NFKC", text).lower())


def _hash(gram: str) -> int:
    # crc32 is stable across processes (unlike hash()) and runs in C.
    return zlib.crc32(gram.encode("utf-8")) & (N_BUCKETS - 1)


def word_keys(text: str) -> set[int]:
    """The hashed word unigrams alone: how much of a message the model has vocabulary for."""
    return {_hash(f"w {t}") for t in _TOKEN_RE.findall(normalise(text))}


@functools.lru_cache(maxsize=65536)
def _token_grams(token: str) -> tuple[int, ...]:
    # Cached per container: words repeat across messages, and hashing n-grams is most of the cost.
    padded = f" {token} "
    grams = [f"w {token}"]
    for n in CHAR_NGRAMS:
        grams += [f"c{padded[i : i + n]}" for i in range(len(padded) - n + 1)]
    return tuple(_hash(g) for g in grams)


def features(text: str) -> Counter[int]:
    """Hashed word 1-2-grams and in-word character 2-5-grams; the trainer and Lambda share this."""
    tokens = _TOKEN_RE.findall(normalise(text))
    counts: Counter[int] = Counter()
    for tok in tokens:
        counts.update(_token_grams(tok))
    counts.update(_hash(f"b {a} {b}") for a, b in itertools.pairwise(tokens))
    return counts


@dataclass(frozen=True, slots=True)
class TopicPrediction:
    topic: str
    confidence: float
    best: str  # the best real topic even when `topic` is unknown, for staff and evaluation
    coverage: float  # share of the message's features the model has seen
    source: str  # "text" or "form"


class TopicModel:
    """Inference over the exported arrays in pure Python (the Lambda package ships no numpy)."""

    def __init__(self, model_dir: Path) -> None:
        meta = json.loads((model_dir / "meta.json").read_text(encoding="utf-8"))
        data = npz.load(model_dir / "weights.npz")
        self.labels: list[str] = list(meta["labels"])
        n_labels = len(self.labels)
        # A feature's weights are one row (C order), so its known key maps straight to its offset.
        self.rows: dict[int, int] = {int(k): i for i, k in enumerate(data["buckets"].ints())}
        if data["weights"].fortran or data["weights"].shape[1:] != (n_labels,):
            raise npz.NpzError(f"{model_dir}: weights must be one C-order row of {n_labels} labels per feature")
        self.idf = data["idf"].floats()
        self.weights = data["weights"].floats()
        self.bias = list(data["bias"].floats())
        self.temperature = float(meta["temperature"])
        self.threshold = float(meta["threshold"])
        self.min_coverage = float(meta.get("min_coverage", 0.01))
        self.meta: dict[str, Any] = meta

    def scores(self, text: str) -> tuple[list[float], float]:
        """Softmax probabilities over labels and the share of known features."""
        n_labels = len(self.labels)
        counts = features(text)
        if not counts:
            return [1.0 / n_labels] * n_labels, 0.0
        rows = self.rows
        # Coverage counts words, not character n-grams: gibberish shares bigrams with every language
        # but no words with the training data.
        words = word_keys(text)
        coverage = sum(1 for w in words if w in rows) / len(words) if words else 0.0
        known = [(rows[k], (1.0 + math.log(tf)) * self.idf[rows[k]]) for k, tf in counts.items() if k in rows]
        norm = math.sqrt(sum(x * x for _, x in known))
        raw = list(self.bias)
        if norm:
            weights = self.weights
            for row, x in known:
                x /= norm
                at = row * n_labels
                raw = [r + x * w for r, w in zip(raw, weights[at : at + n_labels], strict=True)]
        z = [r / self.temperature for r in raw]
        top = max(z)
        e = [math.exp(v - top) for v in z]
        total = sum(e)
        return [v / total for v in e], coverage

    def predict(self, text: str, hint: str | None = None, *, hint_override: float = 0.8) -> TopicPrediction:
        probs, coverage = self.scores(text)
        best_i = max(range(len(probs)), key=probs.__getitem__)
        best, conf = self.labels[best_i], probs[best_i]
        if hint and hint in self.labels:
            # A topic the customer picked on the form wins unless the text clearly says something else
            # (a complaint filed under "order status" should still read as a complaint).
            if best != hint and conf >= hint_override and coverage >= self.min_coverage:
                return TopicPrediction(best, round(conf, 4), best, round(coverage, 4), "text")
            return TopicPrediction(hint, 1.0, best, round(coverage, 4), "form")
        if conf < self.threshold or coverage < self.min_coverage:
            return TopicPrediction(UNKNOWN, round(conf, 4), best, round(coverage, 4), "text")
        return TopicPrediction(best, round(conf, 4), best, round(coverage, 4), "text")


def model_dir_for(campaign: str) -> Path:
    return MODELS_ROOT / campaign


@functools.cache
def load_model(model_dir: Path) -> TopicModel:
    """The topic model in `model_dir`, loaded once per container."""
    return TopicModel(model_dir)
