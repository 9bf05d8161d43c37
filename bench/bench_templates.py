"""Template rendering on the staff reply path: p50/p95 cold and warm, and the DynamoDB calls loading costs.

On a fresh local stack (the seed pushed into its templates table), a Swedish answer template
(answer-order-tracking.email, two inputs) is rendered with a conversation's full context, the way the
composer's preview and the reply do: the answer, then the reply wrapper's text and HTML around it.

- cold: a new container each time (empty version cache, no compiled templates): latest pointer and
  version are read from DynamoDB, every part is compiled;
- warm: the same container again (versions cached for good, the pointer within its TTL);
- after the pointer's TTL: only the pointer is read again (versions never change).

    .venv/bin/python bench/bench_templates.py [--runs 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchlib import percentile  # noqa: E402

# Cold is 4 GetItems on the local emulator (on DynamoDB each is single-digit ms) plus compiling 3 parts.
TARGETS = {"cold_p95_ms": 250.0, "warm_p95_ms": 5.0, "calls_cold": 4, "calls_warm": 0, "calls_after_ttl": 2}


def context(campaign: Any) -> dict[str, Any]:
    from chalicelib.library.context import sample_context

    ctx = sample_context(campaign, language="sv")
    ctx["customer"] = {"name": "Astrid Lind", "first_name": "Astrid", "language": "sv", "tags": ["vip"]}
    return ctx


def reply_path(store: Any, ctx: dict[str, Any]) -> None:
    """What one staff answer renders: the answer (preview and send), then the wrapper's text and HTML."""
    answer = store.render_template(
        "answer-order-tracking.email",
        language="sv",
        context=ctx,
        inputs={"carrier": "PostNord", "tracking_number": "00370712345678901234"},
    )
    wrapped = {**ctx, "reply": {"text": answer.text, "sent_by": "Sam"}}
    store.render("reply", "email", "txt", answer.language, wrapped)
    store.render("reply", "email", "html", answer.language, wrapped)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()

    from chalicelib.library import rendering
    from chalicelib.library.repository import TemplateRepository
    from chalicelib.render import TemplateStore
    from local.stack import LocalStack

    stack = LocalStack(pump_threads=False, forward_metrics=False).start()
    try:
        campaign = stack.campaign
        ctx = context(campaign)
        cold: list[float] = []
        cold_calls: list[int] = []
        for _ in range(args.runs):
            rendering._compiled.cache_clear()
            repo = TemplateRepository()
            store = TemplateStore(repo, campaign.default_language)
            t0 = time.perf_counter()
            reply_path(store, ctx)
            cold.append((time.perf_counter() - t0) * 1000)
            cold_calls.append(repo.calls)
        repo = TemplateRepository()
        store = TemplateStore(repo, campaign.default_language)
        reply_path(store, ctx)
        before = repo.calls
        warm: list[float] = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            reply_path(store, ctx)
            warm.append((time.perf_counter() - t0) * 1000)
        warm_calls = (repo.calls - before) / args.runs
        # Past the pointer's TTL: the clock jumps, the versions stay cached.
        now = [time.monotonic()]
        aged = TemplateRepository(clock=lambda: now[0])
        aged_store = TemplateStore(aged, campaign.default_language)
        reply_path(aged_store, ctx)
        now[0] += 3600
        first = aged.calls
        reply_path(aged_store, ctx)
        after_ttl = aged.calls - first
    finally:
        stack.stop()

    cores = os.cpu_count()
    print(f"template rendering on the staff reply path ({args.runs} runs, {cores} cores, local emulator)")
    print("  one answer (Swedish, 2 inputs, full context) + reply wrapper text and HTML")
    rows = [
        ("cold p50 ms", statistics.median(cold), None),
        ("cold p95 ms", percentile(cold, 95), TARGETS["cold_p95_ms"]),
        ("warm p50 ms", statistics.median(warm), None),
        ("warm p95 ms", percentile(warm, 95), TARGETS["warm_p95_ms"]),
        ("DynamoDB calls, cold container", statistics.median(cold_calls), TARGETS["calls_cold"]),
        ("DynamoDB calls, warm (per reply)", warm_calls, TARGETS["calls_warm"]),
        ("DynamoDB calls, after the 30 s pointer TTL", after_ttl, TARGETS["calls_after_ttl"]),
    ]
    for name, value, target in rows:
        goal = f"target <= {target:g}" if target is not None else ""
        print(f"  {name:<44} {value:>8.2f}   {goal}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
