"""`replydesk lang`: evaluate language detection on a JSONL file of {"lang", "text"} rows."""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    ev = sub.add_parser("evaluate", help="accuracy overall and per language on a JSONL file")
    ev.add_argument("--data", type=Path, required=True, help='JSONL with "lang" (or UDHR "bcp47") and "text"')
    ev.add_argument("--limit", type=int, default=0, help="sample at most N rows per language (0 = all)")
    ev.add_argument("--languages", default="", help="comma-separated candidates (default: the wide set)")
    ev.add_argument(
        "--fallback", action="store_true", help="apply the short-text fallback (count 'default' answers as misses)"
    )
    ev.set_defaults(func=evaluate)
    ex = sub.add_parser("export", help="write py3langid's model as the compact int8 artefact (langid.npz)")
    ex.add_argument("--out", type=Path, default=None)
    ex.set_defaults(func=export)


def _rows(path: Path, limit: int) -> list[tuple[str, str]]:
    by_lang: dict[str, list[str]] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            lang = row.get("lang") or str(row.get("bcp47", "")).split("-")[0]
            by_lang.setdefault(lang, []).append(row["text"])
    rng = random.Random(20250501)
    out: list[tuple[str, str]] = []
    for lang, texts in sorted(by_lang.items()):
        chosen = rng.sample(texts, limit) if 0 < limit < len(texts) else texts
        out.extend((lang, t) for t in chosen)
    return out


def evaluate(ns: argparse.Namespace) -> int:
    from chalicelib.classify import language

    candidates = frozenset(x for x in ns.languages.split(",") if x) or frozenset(language.WIDE_LANGUAGES)
    rows = _rows(ns.data, ns.limit)
    supported = [(lang, t) for lang, t in rows if lang in candidates]
    skipped = len(rows) - len(supported)
    t0 = time.perf_counter()
    language.detect("warm up", candidates)
    load_ms = (time.perf_counter() - t0) * 1000
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    t1 = time.perf_counter()
    for lang, text in supported:
        if ns.fallback:
            got = language.detect_language(text, campaign_languages=("xx", *sorted(candidates)))
            guess = got.language if got.source == "detected" else "?"
        else:
            found = language.detect(text, candidates)
            guess = found.language if found else "?"
        total[lang] += 1
        right[lang] += guess == lang
    elapsed = time.perf_counter() - t1
    n = sum(total.values())
    if not n:
        print(f"no rows in the {len(candidates)} candidate languages ({skipped} rows skipped)")
        return 1
    print(f"rows: {n} in {len(total)} languages ({skipped} rows in unsupported languages skipped)")
    print(f"accuracy: {sum(right.values()) / n:.4f}")
    print(f"load: {load_ms:.0f} ms, {elapsed / n * 1000:.3f} ms/message")
    for lang in sorted(total):
        print(f"  {lang}: {right[lang] / total[lang]:.4f} ({total[lang]})")
    return 0


def export(ns: argparse.Namespace) -> int:
    from chalicelib.classify import language
    from cli.langid_export import export_model

    for path in export_model(ns.out or language.MODEL_DIR):
        print(path)
    return 0
