"""Local dashboard page load on a fresh local stack after a flow with metrics; asserts nothing.

1. Server side: GET / of the dashboard page over HTTP (the stored dashboard read, one
   get_metric_data call per widget against moto, SVG drawn), timed N times: p50/p95/max, page size.
2. Browser: Debian's chromium (Playwright) loads the page until `load`, timed N times: p50/p95/max.

    .venv/bin/python bench/bench_dashboard.py [--count 20]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
import urllib.request
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchlib import percentile  # noqa: E402

TARGET_SERVER_P95_S = 2.0
TARGET_BROWSER_P95_S = 3.0


def line(name: str, values: list[float], target: float) -> str:
    p95 = percentile(values, 95)
    verdict = "ok" if p95 <= target else "OVER"
    return (
        f"{name:<28} p50 {statistics.median(values) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  "
        f"max {max(values) * 1000:7.1f} ms   target p95 <= {target * 1000:.0f} ms  [{verdict}]"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    ns = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    from local.stack import LocalStack
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
    from tests.integration.opsflow import run_flow

    stack = LocalStack(pump_threads=False, forward_metrics=False).start()
    try:
        sink = open(os.devnull, "w")  # noqa: SIM115 - the handlers' EMF and log lines, for the flow only
        real = sys.stdout
        sys.stdout = sink
        try:
            flow = run_flow(stack)
        finally:
            sys.stdout = real
        url = f"{stack.dashboard_url}/?minutes=30"
        server: list[float] = []
        size = 0
        for _ in range(ns.count):
            t0 = time.perf_counter()
            with urllib.request.urlopen(url, timeout=60) as resp:
                size = len(resp.read())
            server.append(time.perf_counter() - t0)
        browser: list[float] = []
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = b.new_page()
            widgets = 0
            for _ in range(ns.count):
                t0 = time.perf_counter()
                page.goto(url, wait_until="load")
                browser.append(time.perf_counter() - t0)
                widgets = page.locator("section.widget").count()
            b.close()
        print(f"input: one flow ({flow['forwarded']} data points forwarded), {ns.count} loads, {os.cpu_count()} cores")
        print(f"page: {widgets} metric widgets, {size / 1024:.0f} KB of HTML+SVG")
        print(line("server render (HTTP GET)", server, TARGET_SERVER_P95_S))
        print(line("chromium load", browser, TARGET_BROWSER_P95_S))
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
