"""No-ack precision and recall per label over the whole shared mail corpus, bounces in other scripts: prints figures."""

from __future__ import annotations

import csv
import os
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

from chalicelib.config import load_campaign
from chalicelib.errors import InvalidInput
from chalicelib.guard import check_message
from chalicelib.intake.email import parse_email

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NO_ACK_LABELS = frozenset({"bounce", "auto_reply", "complaint", "challenge_response", "delay_warning", "mdn", "spam"})
ACK_LABELS = frozenset({"reply", "not_bounce", "other"})
TARGETS = {"recall_no_ack": 0.99, "precision_no_ack": 0.98}


def _reason(raw: bytes, name: str, campaign: object) -> tuple[str | None, bool]:
    """The no-ack reason (None: ack) and whether the mail's text is not plain English ASCII."""
    msg = parse_email(raw, source_id=name, raw_key=name, received_at=datetime.now(UTC)).message
    reason = check_message(msg, campaign)  # type: ignore[arg-type]
    foreign = any(ord(c) > 127 for c in msg.subject + msg.text[:5000])
    return (reason.value if reason else None), foreign


def _header_facts_say_automated(row: dict[str, str]) -> bool:
    auto = row["auto_submitted"].strip().lower()
    bulk = row["precedence"].strip().lower() in ("bulk", "list", "junk")
    return bool(row["list_id"]) or bulk or auto not in ("", "no")


def main(verbose: bool = False) -> None:
    campaign = load_campaign("demo")
    per_label: dict[str, Counter[str]] = defaultdict(Counter)
    missed: list[tuple[str, str]] = []
    suppressed_ack: list[tuple[str, str, str]] = []
    tp = fp = fn = 0
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    foreign_bounces: Counter[bool] = Counter()
    with (DATA / "email_labels.csv").open(encoding="utf-8", newline="") as fh:
        labelled = list(csv.DictReader(fh))
    for row in labelled:
        label = row["label"]
        try:
            reason, foreign = _reason((DATA / row["file"]).read_bytes(), row["file"], campaign)
        except InvalidInput:
            per_label[label]["rejected (not an email)"] += 1
            continue
        expect_no_ack = label in NO_ACK_LABELS or _header_facts_say_automated(row)
        per_label[label]["total"] += 1
        per_label[label]["no ack" if reason else "ack"] += 1
        reasons[label][reason or "ack"] += 1
        if label == "bounce" and foreign:
            foreign_bounces[bool(reason)] += 1
        if reason and expect_no_ack:
            tp += 1
        elif reason:
            fp += 1
            suppressed_ack.append((row["file"], label, reason))
        elif expect_no_ack:
            fn += 1
            missed.append((row["file"], label))

    print(f"corpus: {len(labelled)} labelled files, {os.cpu_count()} cores")
    print(f"{'label':<20}{'files':>7}{'no ack':>8}{'ack':>6}  no-ack rate")
    for label in sorted(per_label):
        c = per_label[label]
        total = c["total"]
        rate = f"{c['no ack'] / total:.3f}" if total else "-"
        rejected = f"  (+{c['rejected (not an email)']} not email)" if c["rejected (not an email)"] else ""
        print(f"{label:<20}{total:>7}{c['no ack']:>8}{c['ack']:>6}  {rate}{rejected}")
    recall = tp / (tp + fn) if tp + fn else 1.0
    precision = tp / (tp + fp) if tp + fp else 1.0
    print(f"no-ack recall (labelled automated + header facts): {recall:.4f}  target >= {TARGETS['recall_no_ack']}")
    target = TARGETS["precision_no_ack"]
    print(f"no-ack precision (vs ack-expected labels):         {precision:.4f}  target >= {target}")
    print("  ('other' is 'no claim' in SOURCES.md: its no-acks include mail without a usable From and spam samples)")
    nobody = sum(1 for _, _, r in suppressed_ack if r in ("no_sender", "invalid_sender"))
    strict = tp / (tp + fp - nobody) if tp + fp - nobody else 1.0
    print(f"  without mail that has no usable sender (nobody to ack):  {strict:.4f}")
    n_foreign = foreign_bounces[True] + foreign_bounces[False]
    print(
        f"bounces in other languages/scripts (non-ASCII text): {foreign_bounces[True]}/{n_foreign} no ack"
        f" = {foreign_bounces[True] / max(1, n_foreign):.4f}  target 1.0"
    )
    for label in sorted(reasons):
        print(f"  {label}: {dict(reasons[label].most_common())}")
    print(f"suppressed ack-expected mail by reason: {dict(Counter(r for _, _, r in suppressed_ack))}")
    if verbose:
        for item in missed:
            print("  missed:", *item)
        for item in suppressed_ack:
            print("  suppressed:", *item)


if __name__ == "__main__":
    main(verbose="-v" in sys.argv)
