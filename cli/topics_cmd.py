"""`replydesk topics`: train a topic classifier (from a campaign file or a CSV) and evaluate it."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.config import Campaign

REJECT_LABELS = ("unknown", "oos")


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    tr = sub.add_parser("train", help="train from --campaign NAME and/or --data FILE.csv (text,label)")
    tr.add_argument("--campaign", help="campaign: train on its topics (and --data rows, if given)")
    tr.add_argument("--data", type=Path, help="CSV with text and label columns (added to campaign rows)")
    where = tr.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, help="output directory for the model")
    where.add_argument(
        "--in-place",
        action="store_true",
        help="with --campaign: replace the campaign's packaged model (chalicelib/classify/models/NAME)",
    )
    tr.add_argument("-C", type=float, default=1.0, help="LinearSVC regularisation (default 1.0, by CV on Banking77)")
    tr.set_defaults(func=train)
    ev = sub.add_parser("evaluate", help="accuracy, macro-F1 and unknown rejection on a labelled CSV")
    ev.add_argument("--model", type=Path, required=True)
    ev.add_argument("--data", type=Path, required=True)
    ev.add_argument("--limit", type=int, default=0, help="evaluate the first N rows only")
    ev.set_defaults(func=evaluate)


def train(ns: argparse.Namespace) -> int:
    from chalicelib.classify import topic
    from chalicelib.config import load_campaign
    from cli.topic_training import campaign_examples, read_csv
    from cli.topic_training import train as fit

    texts: list[str] = []
    labels: list[str] = []
    if ns.campaign:
        campaign = load_campaign(ns.campaign)
        texts, labels = campaign_examples(campaign)
    if ns.data:
        more_texts, more_labels = read_csv(ns.data)
        texts += more_texts
        labels += more_labels
    if not texts:
        print("replydesk topics train: give --campaign NAME and/or --data FILE.csv", file=sys.stderr)
        return 2
    # The packaged model is part of the repository: replacing it is only ever asked for explicitly.
    if ns.in_place and not ns.campaign:
        print("replydesk topics train: --in-place needs --campaign NAME", file=sys.stderr)
        return 2
    out = topic.model_dir_for(ns.campaign) if ns.in_place else ns.out
    if out is None:
        hint = f" (or --in-place to replace {topic.model_dir_for(ns.campaign)})" if ns.campaign else ""
        print(f"replydesk topics train: give --out DIR{hint}", file=sys.stderr)
        return 2
    if ns.campaign:
        # Staff relabels from the console, read only once the arguments are known to be good.
        more_texts, more_labels = _staff_relabels(campaign)
        texts += more_texts
        labels += more_labels
    t0 = time.perf_counter()
    source = " + ".join(
        x for x in (f"campaign {ns.campaign}" if ns.campaign else "", ns.data.name if ns.data else "") if x
    )
    model = fit(texts, labels, out, c=ns.C, source=source)
    print(
        f"trained on {model.n_train} rows, {len(model.labels)} topics, {model.n_features} features "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    print(f"temperature {model.temperature:.4f}, unknown below {model.threshold:.3f}")
    print(f"wrote {out} ({model.size_bytes / 1e6:.2f} MB)")
    return 0


def _staff_relabels(campaign: Campaign) -> tuple[list[str], list[str]]:
    """Topic changes staff made in the console, when the environment names the campaign's stack."""
    from chalicelib import aws
    from chalicelib.config import get_settings
    from chalicelib.console.relabels import staff_relabels
    from chalicelib.errors import ConfigError
    from chalicelib.models import bind_models

    try:
        settings = get_settings()
    except ConfigError:
        print("no stack settings in the environment: staff relabels not included")
        return [], []
    bind_models(settings)
    texts, labels = staff_relabels(
        s3=aws.s3(),
        bucket=settings.raw_bucket,
        topics=set(campaign.topic_ids()),
    )
    print(f"staff relabels: {len(texts)} rows from the {settings.stage} stack")
    return texts, labels


def evaluate(ns: argparse.Namespace) -> int:
    from chalicelib.classify.topic import UNKNOWN, TopicModel
    from cli.topic_training import read_csv

    model = TopicModel(ns.model)
    texts, labels = read_csv(ns.data)
    if ns.limit:
        texts, labels = texts[: ns.limit], labels[: ns.limit]
    t0 = time.perf_counter()
    preds = [model.predict(t) for t in texts]
    ms = (time.perf_counter() - t0) * 1000 / max(len(texts), 1)
    known = [(p, y) for p, y in zip(preds, labels, strict=True) if y not in REJECT_LABELS]
    oos = [p for p, y in zip(preds, labels, strict=True) if y in REJECT_LABELS]
    unseen = {y for _, y in known} - set(model.labels)
    print(f"rows: {len(texts)} ({len(known)} in-domain, {len(oos)} labelled unknown/oos); {ms:.2f} ms/row")
    if unseen:
        print(f"warning: {len(unseen)} labels in the data are not in the model: {sorted(unseen)[:5]}")
    if known:
        top1 = sum(p.best == y for p, y in known) / len(known)
        acc = sum(p.topic == y for p, y in known) / len(known)
        rejected = sum(p.topic == UNKNOWN for p, _ in known)
        print(f"accuracy (top-1): {top1:.4f}")
        print(f"accuracy with unknown rejection: {acc:.4f} ({rejected} in-domain rows rejected)")
        print(f"macro-F1: {macro_f1([y for _, y in known], [p.topic for p, _ in known]):.4f}")
    if oos:
        hit = sum(p.topic == UNKNOWN for p in oos)
        print(f"unknown/oos rejected as unknown: {hit}/{len(oos)} ({hit / len(oos):.4f})")
    return 0


def macro_f1(gold: list[str], pred: list[str]) -> float:
    """Mean F1 over the gold labels (a prediction of `unknown` counts as a miss)."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for g, p in zip(gold, pred, strict=True):
        if g == p:
            tp[g] += 1
        else:
            fn[g] += 1
            fp[p] += 1
    scores = []
    for label in set(gold):
        denom = 2 * tp[label] + fp[label] + fn[label]
        scores.append(2 * tp[label] / denom if denom else 0.0)
    return sum(scores) / len(scores) if scores else 0.0
