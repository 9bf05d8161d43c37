"""Language of a message: py3langid's model (restricted to the campaign's and a wider set), numpy only."""

from __future__ import annotations

import functools
import math
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Languages a message may be detected as besides the campaign's own: the big ones our customers write in.
# Restricting the candidates is what keeps a short Swedish text from coming out as Faroese.
WIDE_LANGUAGES: tuple[str, ...] = (
    "en",
    "sv",
    "de",
    "fr",
    "es",
    "da",
    "nb",
    "nn",
    "fi",
    "nl",
    "it",
    "pt",
    "pl",
    "cs",
    "ru",
    "uk",
    "tr",
    "ar",
    "fa",
    "hi",
    "zh",
    "ja",
    "ko",
    "el",
    "ro",
    "hu",
    "et",
    "lv",
    "lt",
    "is",
    "vi",
    "id",
    "he",
    "uz",
)
# Below these, a detection is not trusted and the customer's stored language (then the campaign
# default) wins: an SMS "ok" or "thanks" says nothing about the language. Calibrated on
# langid_lingua/word_pairs.jsonl (see bench/LANGUAGE.md).
MIN_LETTERS = 8
MIN_CONFIDENCE = 0.80
# Log-prior bonus (nats) for the campaign's own languages: its customers mostly write in them. Measured
# on langid_lingua: +1.5 lifts Swedish word pairs from 80 % to 87 % and costs Danish/Norwegian a little.
CAMPAIGN_PRIOR = 1.5

# What the artefact can detect: the wide set plus languages a campaign may declare. Each language costs
# 100 kB (one int8 column per feature); candidates at run time are the campaign's plus WIDE_LANGUAGES.
EXPORTED_LANGUAGES: tuple[str, ...] = (
    *WIDE_LANGUAGES,
    "sk",
    "sl",
    "hr",
    "sr",
    "bs",
    "bg",
    "mk",
    "sq",
    "ca",
    "eu",
    "gl",
    "ga",
    "cy",
    "lb",
    "mt",
    "be",
    "ka",
    "hy",
    "az",
    "kk",
    "af",
    "sw",
    "ms",
    "tl",
    "th",
    "ur",
    "bn",
    "ta",
)

MODEL_DIR = Path(__file__).parent / "models" / "langid"
MODEL_FILE = "langid.npz"
_NO_ALIAS = {"no": "nb"}  # langid.py says "no" for Bokmål


@dataclass(frozen=True, slots=True)
class Detection:
    language: str
    confidence: float


@dataclass(frozen=True, slots=True)
class LanguageResult:
    language: str
    confidence: float
    source: str  # "detected", "customer" or "default"; stored, never rename


class _LangId:
    """py3langid's naive Bayes model over a fixed candidate set, with its feature automaton as a dict.

    py3langid walks a 39 MB byte DFA; the same features come out of a walk over its trie nodes (the
    longest suffix of the text so far that is a node is the DFA state), which ships as 105 k integer
    keys. Weights are int8 per feature row (centred, scaled): the softmax is unchanged by a constant
    per feature, and int8 keeps the artefact small without moving the measured accuracy.
    """

    def __init__(self, model_dir: Path, candidates: frozenset[str], preferred: frozenset[str]) -> None:
        import numpy as np

        with np.load(model_dir / MODEL_FILE) as data:
            classes = [str(c) for c in data["classes"].tolist()]
            keep = [i for i, c in enumerate(classes) if c in candidates]
            self.ptc = np.ascontiguousarray(data["ptc"][:, keep])
            self.scale = data["scale"].astype(np.float32)
            pc = data["pc"][keep].astype(np.float32)
            self.nodes: dict[int, int] = dict(zip(data["node_keys"].tolist(), data["node_feat"].tolist(), strict=True))
        cols = [classes[i] for i in keep]
        # Some languages have two columns (Uzbek Latin and Cyrillic): their probabilities add up.
        self.classes = sorted(set(cols))
        self.col_class = np.array([self.classes.index(c) for c in cols], dtype=np.intp)
        self.pc = pc + np.array([CAMPAIGN_PRIOR if c in preferred else 0.0 for c in cols], np.float32)
        self._np = np

    def features(self, data: bytes) -> list[int]:
        """Feature rows met walking the bytes, exactly as py3langid's DFA counts them."""
        get, top, mask = self.nodes.get, _TOP, _MASK
        cur, n, feats = 0, 0, []
        for byte in data:
            cur, n = (cur << 8) | byte, n + 1
            while True:
                f = get(cur | top[n])
                if f is not None:
                    if f >= 0:
                        feats.append(f)
                    break
                n -= 1
                if n == 0:
                    cur = 0
                    break
                cur &= mask[n]
        return feats

    def detect(self, text: str) -> Detection | None:
        np = self._np
        if text.isupper():
            text = text.lower()
        data = unicodedata.normalize("NFC", text).encode("utf-8", errors="surrogatepass")
        feats = self.features(data)
        if not feats or not self.classes:
            return None
        counts = Counter(feats)
        idx = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        weights = np.log1p(np.fromiter(counts.values(), dtype=np.float32, count=len(counts))) * self.scale[idx]
        scores = weights @ self.ptc[idx].astype(np.float32) + self.pc
        # py3langid's calibration: temperature sqrt(bytes) keeps the softmax honest across lengths.
        scores = scores / math.sqrt(len(data) or 1)
        scores = np.exp(scores - scores.max())
        probs = np.bincount(self.col_class, weights=scores, minlength=len(self.classes))
        probs /= probs.sum()
        best = int(probs.argmax())
        return Detection(self.classes[best], float(probs[best]))


# Node keys are the node's bytes as a big-endian integer behind a 0x01 byte, so b"a" and b"\0a" differ.
_TOP = [1 << (8 * n) for n in range(9)]
_MASK = [t - 1 for t in _TOP]


def _trie_nodes(nextmove: Any, rowbase: Any) -> dict[int, bytes]:
    """The byte string of every DFA state: breadth first, a state is first reached by its own string."""
    import numpy as np

    depth = np.full(len(rowbase), -1)
    depth[0] = 0
    strings = {0: b""}
    frontier = np.array([0])
    level = 0
    while len(frontier):
        nxt = nextmove[(rowbase[frontier] << 8)[:, None] + np.arange(256)[None, :]]
        parent, byte = np.nonzero(depth[nxt] < 0)
        states, first = np.unique(nxt[parent, byte], return_index=True)
        level += 1
        depth[states] = level
        for s, p, b in zip(states.tolist(), frontier[parent[first]].tolist(), byte[first].tolist(), strict=True):
            strings[s] = strings[p] + bytes([b])
        frontier = states
    return strings


def export_model(out_dir: Path = MODEL_DIR) -> list[Path]:
    """Write py3langid's bundled model as the compact artefact (dev-time step; needs py3langid)."""
    import io
    import lzma

    import numpy as np
    from py3langid.langid import MODEL_DIR as PKG_DIR
    from py3langid.langid import MODEL_FILE as PKG_FILE

    with lzma.open(PKG_DIR / PKG_FILE) as fh, np.load(io.BytesIO(fh.read())) as data:
        classes = [_NO_ALIAS.get(str(c), str(c)) for c in data["classes"].tolist()]
        keep = [i for i, c in enumerate(classes) if c in EXPORTED_LANGUAGES]
        ptc = data["ptc"][:, keep].astype(np.float32)
        pc = data["pc"][keep].astype(np.float32)
        nextmove = data["nextmove"].astype(np.int64)
        rowbase = data["nextmove_row"].astype(np.int64)
        out_feat = data["out_feat"].astype(np.int64)
    ptc -= ptc.mean(axis=1, keepdims=True)
    scale = np.abs(ptc).max(axis=1) / 127
    scale[scale == 0] = 1.0
    quant = np.clip(np.rint(ptc / scale[:, None]), -127, 127).astype(np.int8)
    strings = _trie_nodes(nextmove, rowbase)
    del strings[0]
    states = np.array(sorted(strings), dtype=np.int64)
    keys = np.array([int.from_bytes(b"\x01" + strings[s], "big") for s in states.tolist()], dtype=np.uint64)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / MODEL_FILE
    np.savez(
        path,
        classes=np.array([classes[i] for i in keep]),
        pc=pc,
        ptc=quant,
        scale=scale.astype(np.float16),
        node_keys=keys,
        node_feat=out_feat[states].astype(np.int32),
    )
    return [path]


@functools.cache
def _langid(candidates: frozenset[str], preferred: frozenset[str] = frozenset()) -> _LangId:
    return _LangId(MODEL_DIR, candidates, preferred)


def detect(
    text: str, candidates: frozenset[str] = frozenset(WIDE_LANGUAGES), preferred: frozenset[str] = frozenset()
) -> Detection | None:
    """Best candidate language for `text` with its probability, or None when nothing is recognisable.

    Candidates outside EXPORTED_LANGUAGES cannot be detected; the text then gets the best known one.
    """
    return _langid(candidates, preferred).detect(text)


def letters(text: str) -> int:
    return sum(1 for ch in text if ch.isalpha())


def detect_language(
    text: str,
    *,
    campaign_languages: tuple[str, ...],
    customer_language: str | None = None,
    hint: str | None = None,
) -> LanguageResult:
    """The message's language, falling back to the customer's stored one, then the campaign default."""
    candidates = frozenset(campaign_languages) | frozenset(WIDE_LANGUAGES)
    preferred = frozenset(campaign_languages)
    found = detect(text, candidates, preferred) if letters(text) >= MIN_LETTERS else None
    if found is not None and found.confidence >= MIN_CONFIDENCE:
        return LanguageResult(found.language, round(found.confidence, 4), "detected")
    for known in (customer_language, hint):
        if known:
            return LanguageResult(known, round(found.confidence, 4) if found else 0.0, "customer")
    return LanguageResult(campaign_languages[0], round(found.confidence, 4) if found else 0.0, "default")


def warm_up(campaign_languages: tuple[str, ...]) -> None:
    """Load the models now (cold start) rather than on the first message."""
    preferred = frozenset(campaign_languages)
    detect("warm up", preferred | frozenset(WIDE_LANGUAGES), preferred)
