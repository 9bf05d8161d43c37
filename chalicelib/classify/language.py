"""Language of a message: py3langid's model (restricted to the campaign's and a wider set), pure Python."""

from __future__ import annotations

import functools
import math
import operator
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from chalicelib.classify import npz

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
    per feature, and int8 keeps the artefact small without moving the measured accuracy. Scoring is
    pure Python over memoryviews of the file (no numpy in the Lambda package): the weight matrix is
    stored column by column, so each candidate language is one contiguous int8 view.
    """

    def __init__(self, model_dir: Path, candidates: frozenset[str], preferred: frozenset[str]) -> None:
        data = npz.load(model_dir / MODEL_FILE)
        classes = list(data["classes"].strings())
        keep = [i for i, c in enumerate(classes) if c in candidates]
        ptc = data["ptc"]
        n_feat = ptc.shape[0]
        values = ptc.ints()
        if ptc.fortran:  # column-major, as the exporter writes it: column i is one contiguous view
            self.columns = [values[i * n_feat : (i + 1) * n_feat] for i in keep]
        else:
            self.columns = [values[i :: ptc.shape[1]] for i in keep]
        self.scale = data["scale"].floats()
        pc = data["pc"].floats()
        self.nodes: dict[int, int] = dict(zip(data["node_keys"].ints(), data["node_feat"].ints(), strict=True))
        cols = [classes[i] for i in keep]
        # Some languages have two columns (Uzbek Latin and Cyrillic): their probabilities add up.
        self.classes = sorted(set(cols))
        self.col_class = [self.classes.index(c) for c in cols]
        self.pc = [float(pc[i]) + (CAMPAIGN_PRIOR if c in preferred else 0.0) for i, c in zip(keep, cols, strict=True)]

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
        if text.isupper():
            text = text.lower()
        data = unicodedata.normalize("NFC", text).encode("utf-8", errors="surrogatepass")
        feats = self.features(data)
        if not feats or not self.classes:
            return None
        counts = Counter(feats)
        idx = list(counts)
        scale = self.scale
        weights = [math.log1p(n) * scale[f] for f, n in counts.items()]
        # py3langid's calibration: temperature sqrt(bytes) keeps the softmax honest across lengths.
        temperature = math.sqrt(len(data) or 1)
        scores = [
            (pc + sum(map(operator.mul, weights, map(col.__getitem__, idx)))) / temperature
            for col, pc in zip(self.columns, self.pc, strict=True)
        ]
        top_score = max(scores)
        probs = [0.0] * len(self.classes)
        for cls, score in zip(self.col_class, scores, strict=True):
            probs[cls] += math.exp(score - top_score)
        total = sum(probs)
        best = max(range(len(probs)), key=probs.__getitem__)
        return Detection(self.classes[best], probs[best] / total)


# Node keys are the node's bytes as a big-endian integer behind a 0x01 byte, so b"a" and b"\0a" differ.
_TOP = [1 << (8 * n) for n in range(9)]
_MASK = [t - 1 for t in _TOP]


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
