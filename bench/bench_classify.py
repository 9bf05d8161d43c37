"""Classification figures: topic CV accuracy, language accuracy, per-message latency, cold load, sizes."""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
CAMPAIGN_LANGS = ("en", "sv", "de", "fr", "es")
# Sampled so `make bench` stays within a few minutes on 2 cores; the sizes are printed with each figure.
LANG_PER_LANG = 300


def topic_cv() -> None:
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from chalicelib.classify.topic import UNKNOWN, TopicModel
    from cli.topic_training import read_csv, train

    texts, labels = read_csv(DATA / "intent_banking77" / "train.csv")
    y = np.array(labels)
    top1, with_unknown, rejected = [], [], []
    t0 = time.perf_counter()
    for k, (tr, te) in enumerate(StratifiedKFold(5, shuffle=True, random_state=42).split(texts, y)):
        with tempfile.TemporaryDirectory() as tmp:
            train([texts[i] for i in tr], [labels[i] for i in tr], Path(tmp), calibration_folds=2)
            model = TopicModel(Path(tmp))
            preds = [model.predict(texts[i]) for i in te]
        top1.append(np.mean([p.best == labels[i] for p, i in zip(preds, te, strict=True)]))
        with_unknown.append(np.mean([p.topic == labels[i] for p, i in zip(preds, te, strict=True)]))
        rejected.append(np.mean([p.topic == UNKNOWN for p in preds]))
        print(f"  fold {k}: top-1 {top1[-1]:.4f}", flush=True)
    print(
        f"banking77 5-fold CV ({len(texts)} rows): top-1 {np.mean(top1):.4f} ± {np.std(top1):.4f}; "
        f"with unknown rejection {np.mean(with_unknown):.4f} (rejected {np.mean(rejected):.3%}); "
        f"{time.perf_counter() - t0:.0f} s"
    )

    # Bitext: train on the 20K utterances, test on the separate 4.5K LLM set (same 27 intents).
    tr_t, tr_l = read_csv(DATA / "intent_bitext" / "bitext_customer_support_20k_utterances.csv")
    te_t, te_l = read_csv(DATA / "intent_bitext" / "bitext_customer_support_llm_train_4514.csv")
    with tempfile.TemporaryDirectory() as tmp:
        train(tr_t, tr_l, Path(tmp), calibration_folds=2)
        model = TopicModel(Path(tmp))
        preds = [model.predict(t) for t in te_t]
    acc = np.mean([p.best == lab for p, lab in zip(preds, te_l, strict=True)])
    print(f"bitext: train 20k utterances ({len(tr_t)}), test llm set ({len(te_t)}): top-1 {acc:.4f}")


def language() -> None:
    from chalicelib.classify import language as lang

    wide = frozenset(lang.WIDE_LANGUAGES)
    preferred = frozenset(CAMPAIGN_LANGS)
    rng = random.Random(20250501)
    for name in ("sentences", "word_pairs", "single_words"):
        rows: dict[str, list[str]] = {}
        with (DATA / "langid_lingua" / f"{name}.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                r = json.loads(line)
                if r["lang"] in wide:
                    rows.setdefault(r["lang"], []).append(r["text"])
        for label, langs in (("campaign 5", CAMPAIGN_LANGS), ("wide set", sorted(rows))):
            sample = [(la, t) for la in langs for t in rng.sample(rows[la], min(LANG_PER_LANG, len(rows[la])))]
            ok = 0
            for la, t in sample:
                d = lang.detect(t, wide, preferred)
                ok += d is not None and d.language == la
            print(f"language {name} [{label}, {len(sample)} rows]: {ok / len(sample):.4f}")
    with (DATA / "langid_udhr" / "udhr_paragraphs.jsonl").open(encoding="utf-8") as fh:
        udhr = [json.loads(x) for x in fh]
    for code, la in (("swe", "sv"), ("uzn_latn", "uz")):
        paras = [r["text"] for r in udhr if r["code"] == code and len(r["text"].split()) >= 4]
        ok = sum((d := lang.detect(t, wide, preferred)) is not None and d.language == la for t in paras)
        print(f"language udhr {code} ({len(paras)} paragraphs of 4+ words): {ok / len(paras):.4f}")


def latency() -> None:
    from chalicelib.classify import classify, warm_up
    from chalicelib.config import load_campaign
    from chalicelib.inbound import Channel, InboundMessage

    campaign = load_campaign("demo")
    warm_up(campaign)
    texts: list[str] = []
    with (DATA / "langid_lingua" / "sentences.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r["lang"] in CAMPAIGN_LANGS:
                texts.append(r["text"])
    rng = random.Random(1)
    texts = rng.sample(texts, 1000)
    # Emails are longer: join a few sentences for a third of the sample.
    texts = [t if i % 3 else " ".join(rng.sample(texts, 6)) for i, t in enumerate(texts)]
    times, cpu = [], []
    for t in texts:
        msg = InboundMessage(
            channel=Channel.EMAIL,
            source_id="s",
            raw_key="k",
            received_at=datetime.now(UTC),
            sender="c@example.com",
            text=t,
        )
        c0, t0 = time.thread_time(), time.perf_counter()
        classify(msg, campaign, customer_language=None, customer_tags=frozenset(), recent_inbound_count=0)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
    times.sort()
    cpu.sort()
    # CPU time is what the message costs; wall time also counts other processes on a shared machine.
    p50, p99 = len(cpu) // 2, int(len(cpu) * 0.99)
    mean_chars = statistics.mean(len(t) for t in texts)
    print(f"classify() CPU time per message: p50 {cpu[p50]:.3f} ms, p99 {cpu[p99]:.3f} ms")
    print(
        f"classify() wall time per message ({len(times)} messages, mean {mean_chars:.0f} chars): "
        f"p50 {times[p50]:.3f} ms, p99 {times[p99]:.3f} ms"
    )


COLD = """
import time; t0 = time.perf_counter()
from chalicelib.classify import warm_up
from chalicelib.config import load_campaign
c = load_campaign("demo"); t1 = time.perf_counter()
warm_up(c); t2 = time.perf_counter()
print(f"{(t1 - t0) * 1000:.0f} {(t2 - t1) * 1000:.0f}")
"""


def cold() -> None:
    runs = [
        subprocess.run(
            [sys.executable, "-c", COLD], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
        for _ in range(3)
    ]
    imp = sorted(float(r[0]) for r in runs)[1]
    load = sorted(float(r[1]) for r in runs)[1]
    print(f"cold load (median of 3 fresh processes): imports {imp:.0f} ms, all models {load:.0f} ms")
    models = ROOT / "chalicelib" / "classify" / "models"
    for sub in sorted(p for p in models.iterdir() if p.is_dir()):
        size = sum(f.stat().st_size for f in sub.iterdir())
        print(f"artefact {sub.relative_to(ROOT)}: {size / 1e6:.2f} MB on disk")
    with tempfile.TemporaryDirectory() as tmp:
        import shutil

        zipped = shutil.make_archive(str(Path(tmp) / "models"), "zip", models)
        print(f"artefacts zipped (as in the deployment package): {Path(zipped).stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    print(f"cores: {os.cpu_count()}")
    parts = sys.argv[1:] or ["cold", "latency", "language", "topic"]
    for part in parts:
        t_part = time.perf_counter()
        {"cold": cold, "latency": latency, "language": language, "topic": topic_cv}[part]()
        print(f"[{part}: {time.perf_counter() - t_part:.0f} s]", flush=True)
