"""Language of a message: py3langid (restricted to the campaign's and a wider set) plus CLD3 for the rest."""

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
    "en", "sv", "de", "fr", "es", "da", "nb", "nn", "fi", "nl", "it", "pt", "pl", "cs", "ru", "uk",
    "tr", "ar", "fa", "hi", "zh", "ja", "ko", "el", "ro", "hu", "et", "lv", "lt", "is", "vi", "id",
    "he", "uz",
)
# Below these, a detection is not trusted and the customer's stored language (then the campaign
# default) wins: an SMS "ok" or "thanks" says nothing about the language. Calibrated on
# langid_lingua/word_pairs.jsonl (see bench/LANGUAGE.md).
MIN_LETTERS = 8
MIN_CONFIDENCE = 0.80
# CLD3 only decides languages py3langid does not know (Uzbek), and only when it is sure.
CLD3_MIN_PROBABILITY = 0.90
# Log-prior bonus (nats) for the campaign's own languages: its customers mostly write in them. Measured
# on langid_lingua: +1.5 lifts Swedish word pairs from 80 % to 87 % and costs Danish/Norwegian a little.
CAMPAIGN_PRIOR = 1.5

MODEL_DIR = Path(__file__).parent / "models" / "langid"
_NO_ALIAS = {"no": "nb"}  # langid.py and CLD3 say "no" for Bokmål


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
    """The py3langid naive Bayes model over a fixed candidate set, read from uncompressed .npy files.

    py3langid's own loader decompresses 68 MB of LZMA (≈800 ms); the exported arrays load in a few
    milliseconds with the big DFA table memory-mapped.
    """

    def __init__(self, model_dir: Path, candidates: frozenset[str], preferred: frozenset[str]) -> None:
        from array import array

        import numpy as np

        classes = [str(c) for c in np.load(model_dir / "classes.npy").tolist()]
        keep = [i for i, c in enumerate(classes) if _NO_ALIAS.get(c, c) in candidates]
        self.classes = [_NO_ALIAS.get(classes[i], classes[i]) for i in keep]
        ptc = np.load(model_dir / "ptc.npy", mmap_mode="r")
        self.ptc = np.ascontiguousarray(ptc[:, keep], dtype=np.float32)
        self.pc = np.load(model_dir / "pc.npy")[keep].astype(np.float32)
        self.pc += np.array([CAMPAIGN_PRIOR if c in preferred else 0.0 for c in self.classes], np.float32)
        # A stdlib array indexes about 4x faster than numpy from a Python loop.
        table = np.load(model_dir / "nextmove.npy")
        self.nextmove = array("I")
        self.nextmove.frombytes(table.astype(np.uint32, copy=False).tobytes())
        self.rowbase = [int(r) << 8 for r in np.load(model_dir / "nextmove_row.npy").tolist()]
        self.out = np.load(model_dir / "out_feat.npy").tolist()
        self._np = np

    def detect(self, text: str) -> Detection | None:
        np = self._np
        if text.isupper():
            text = text.lower()
        data = unicodedata.normalize("NFC", text).encode("utf-8", errors="surrogatepass")
        nm, rowbase, out = self.nextmove, self.rowbase, self.out
        state, feats = 0, []
        for byte in data:
            state = nm[rowbase[state] + byte]
            f = out[state]
            if f >= 0:
                feats.append(f)
        if not feats or not self.classes:
            return None
        counts = Counter(feats)
        idx = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        weights = np.log1p(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))
        scores = weights @ self.ptc[idx] + self.pc
        # py3langid's calibration: temperature sqrt(bytes) keeps the softmax honest across lengths.
        scores = scores / math.sqrt(len(data) or 1)
        scores = np.exp(scores - scores.max())
        scores /= scores.sum()
        best = int(scores.argmax())
        return Detection(self.classes[best], float(scores[best]))


def export_model(out_dir: Path = MODEL_DIR) -> list[Path]:
    """Write py3langid's bundled model as plain .npy files (dev-time step; needs py3langid installed)."""
    import io
    import lzma

    import numpy as np
    from py3langid.langid import MODEL_DIR as PKG_DIR
    from py3langid.langid import MODEL_FILE

    with lzma.open(PKG_DIR / MODEL_FILE) as fh, np.load(io.BytesIO(fh.read())) as data:
        classes = [str(c) for c in data["classes"].tolist()]
        keep = [i for i, c in enumerate(classes) if _NO_ALIAS.get(c, c) in WIDE_LANGUAGES]
        arrays: dict[str, Any] = {
            "classes": np.array([classes[i] for i in keep]),
            "ptc": np.ascontiguousarray(data["ptc"][:, keep]),
            "pc": data["pc"][keep],
            "nextmove": data["nextmove"],
            "nextmove_row": data["nextmove_row"],
            "out_feat": data["out_feat"],
        }
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, arr in arrays.items():
        path = out_dir / f"{name}.npy"
        np.save(path, arr)
        paths.append(path)
    return paths


@functools.cache
def _langid(candidates: frozenset[str], preferred: frozenset[str] = frozenset()) -> _LangId:
    return _LangId(MODEL_DIR, candidates, preferred)


@functools.cache
def _cld3() -> Any:
    import gcld3

    return gcld3.NNetLanguageIdentifier(min_num_bytes=0, max_num_bytes=1000)


def detect(text: str, candidates: frozenset[str] = frozenset(WIDE_LANGUAGES),
           preferred: frozenset[str] = frozenset()) -> Detection | None:
    """Best candidate language for `text` with its probability, or None when nothing is recognisable."""
    model = _langid(candidates, preferred)
    best = model.detect(text)
    extra = candidates - set(model.classes)
    if extra:
        pred = _cld3().FindLanguage(text)
        code = _NO_ALIAS.get(pred.language, pred.language)
        if code in extra and pred.is_reliable and pred.probability >= CLD3_MIN_PROBABILITY:
            return Detection(code, float(pred.probability))
    return best


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
