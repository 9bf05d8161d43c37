"""An operator opens the local dashboard page in Chromium after a flow and every widget shows data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.opsflow import run_flow
from tests.integration.test_dashboard_data import NOT_IN_FLOW

pytestmark = pytest.mark.browser


def test_dashboard_page_draws_every_widget_after_a_flow(stack: Any, page: Any, tmp_path: Path) -> None:
    # GIVEN a flow through the local stack with its metrics in CloudWatch (moto)
    run_flow(stack)
    # WHEN the operator opens the dashboard URL that `make run` prints
    assert stack.dashboard_url in stack.describe()
    page.set_viewport_size({"width": 1600, "height": 1200})
    page.goto(f"{stack.dashboard_url}/?minutes=10")
    # THEN the page shows the campaign's dashboard: one explanatory text per row, then its widgets
    assert stack.dashboard_name in page.title()
    assert page.locator("section.text").count() == 6
    widgets = page.locator("section.widget")
    assert widgets.count() >= 15
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"dashboard screenshot: {shot}")
    # AND every widget with lines the emulator can produce drew a series; the rest say AWS-only
    missing = []
    for i in range(widgets.count()):
        w = widgets.nth(i)
        title = w.get_attribute("data-title") or ""
        local = int(w.get_attribute("data-local") or 0)
        if local == 0:
            assert w.locator("li.aws-only").count() >= 1, title
            continue
        if title in NOT_IN_FLOW:
            continue
        drawn = w.locator("svg .series").count()
        if drawn == 0 or int(w.get_attribute("data-with-data") or 0) == 0:
            missing.append(title)
    assert not missing, f"widgets drawn without data: {missing}"
    # AND the ack latency percentiles, which moto does not compute, are drawn from the forwarded values
    latency = page.locator('section.widget[data-title="Ack latency (ms)"]')
    for label in ("p50", "p95"):
        item = latency.locator("li", has_text=label)
        assert item.get_attribute("class") == "data", item.inner_text()
