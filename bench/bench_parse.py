"""Parse + guard throughput over the whole shared mail corpus: prints figures, asserts nothing."""

from __future__ import annotations

import csv
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from chalicelib.config import load_campaign
from chalicelib.errors import InvalidInput
from chalicelib.guard import check_message
from chalicelib.intake.email import parse_email

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main(rounds: int = 3) -> None:
    campaign = load_campaign("demo")
    with (DATA / "email_labels.csv").open(encoding="utf-8", newline="") as fh:
        files = [DATA / row["file"] for row in csv.DictReader(fh)]
    corpus = [(p.relative_to(DATA).as_posix(), p.read_bytes()) for p in files]
    total_bytes = sum(len(raw) for _, raw in corpus)
    now = datetime.now(UTC)
    best = float("inf")
    slowest: dict[str, float] = {}
    rejected = 0
    for _ in range(rounds):
        rejected = 0
        start = time.perf_counter()
        for name, raw in corpus:
            t0 = time.perf_counter()
            try:
                msg = parse_email(raw, source_id=name, raw_key=name, received_at=now).message
                check_message(msg, campaign)
            except InvalidInput:
                rejected += 1
            elapsed = time.perf_counter() - t0
            slowest[name] = min(slowest.get(name, float("inf")), elapsed)
        best = min(best, time.perf_counter() - start)
    name, worst = max(slowest.items(), key=lambda kv: kv[1])
    per_msg = sorted(slowest.values())
    print(f"corpus:      {len(corpus)} messages, {total_bytes / 1e6:.1f} MB ({rejected} rejected as not email)")
    print(f"cores:       {os.cpu_count()} (single-threaded run; best of {rounds} rounds)")
    print(f"throughput:  {len(corpus) / best:.0f} messages/s, {total_bytes / 1e6 / best:.1f} MB/s ({best:.2f} s)")
    print(
        f"per message: p50 {per_msg[len(per_msg) // 2] * 1000:.2f} ms, "
        f"p95 {per_msg[int(len(per_msg) * 0.95)] * 1000:.2f} ms"
    )
    print(f"slowest:     {name} {worst * 1000:.0f} ms ({len(dict(corpus)[name]) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
