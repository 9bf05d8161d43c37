"""The campaign dashboard drawn locally: the stored CloudWatch dashboard, charted from get_metric_data.

It reads the dashboard the bootstrap put into moto (the very body the template deploys), asks
moto for every widget's series and draws them as inline SVG. moto computes no percentiles, so a
percentile line of ours is taken over the values the EMF forwarder sent (nearest rank per period,
the local percentile alarms' rule). Lines nothing local produces (AWS/* service metrics) are listed
as AWS-only on the page, never drawn as zero.
"""

from __future__ import annotations

import html
import json
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from chalicelib.ops.dashboard import BASIC_STATS, Line, parse_line
from local.alarms import SampleStore, percentile

log = logging.getLogger("replydesk.local.dashboard")
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


@dataclass(frozen=True)
class Series:
    line: Line
    timestamps: tuple[datetime, ...]
    values: tuple[float, ...]
    from_samples: bool = False  # a percentile taken over the forwarded values, not asked of moto

    @property
    def has_data(self) -> bool:
        return bool(self.values)

    @property
    def aws_only(self) -> str | None:
        return None if self.from_samples else self.line.aws_only


def from_samples(line: Line, samples: SampleStore | None) -> bool:
    """A percentile of our own namespace, which the forwarded values can answer although moto cannot."""
    return (
        samples is not None
        and not line.namespace.startswith("AWS/")
        and line.stat not in BASIC_STATS
        and line.stat[:1] == "p"
        and line.stat[1:].replace(".", "", 1).isdigit()
    )


def percentile_series(line: Line, samples: SampleStore, *, start: datetime, end: datetime, period: int) -> Series:
    """The line's percentile per period over the values sent in it; periods without values have no point."""
    dimensions = [{"Name": k, "Value": v} for k, v in line.dimensions]
    step = timedelta(seconds=period)
    found = samples.values(line.namespace, line.metric, dimensions, start, end)
    buckets: dict[int, list[float]] = {}
    for at, value in found:
        buckets.setdefault(int((at - start) / step), []).append(value)
    points = sorted((start + n * step, percentile(values, line.stat)) for n, values in buckets.items())
    return Series(line, tuple(t for t, _ in points), tuple(v for _, v in points), from_samples=True)


def widget_series(
    cloudwatch: Any,
    lines: list[Line],
    *,
    start: datetime,
    end: datetime,
    period: int,
    samples: SampleStore | None = None,
) -> list[Series]:
    """One get_metric_data call for a widget's local lines, percentiles from `samples`; AWS-only come back empty."""
    local = [(i, ln) for i, ln in enumerate(lines) if ln.aws_only is None]
    found: dict[int, Series] = {}
    if samples is not None:
        for i, ln in enumerate(lines):
            if from_samples(ln, samples):
                found[i] = percentile_series(ln, samples, start=start, end=end, period=period)
    if local:
        queries = [
            {
                "Id": f"m{i}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": ln.namespace,
                        "MetricName": ln.metric,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in ln.dimensions],
                    },
                    "Period": period,
                    "Stat": ln.stat,
                },
                "ReturnData": True,
            }
            for i, ln in local
        ]
        resp = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end)
        for result in resp["MetricDataResults"]:
            i = int(result["Id"][1:])
            pairs = sorted(
                (t, float(v)) for t, v in zip(result["Timestamps"], result["Values"], strict=False) if v is not None
            )
            found[i] = Series(lines[i], tuple(t for t, _ in pairs), tuple(v for _, v in pairs))
    return [found.get(i, Series(ln, (), ())) for i, ln in enumerate(lines)]


def _svg(series: list[Series], start: datetime, end: datetime) -> str:
    w, h, pad = 320.0, 130.0, 4.0
    drawn = [s for s in series if s.has_data]
    top = max((v for s in drawn for v in s.values), default=1.0) or 1.0
    span = (end - start).total_seconds() or 1.0
    parts = [f'<svg viewBox="0 0 {w:.0f} {h:.0f}" role="img" preserveAspectRatio="none">']
    parts.append(f'<line x1="0" y1="{h - pad}" x2="{w}" y2="{h - pad}" class="axis"/>')
    for n, s in enumerate(series):
        if not s.has_data:
            continue
        colour = COLOURS[n % len(COLOURS)]
        pts = [
            (
                pad + (w - 2 * pad) * ((t - start).total_seconds() / span),
                h - pad - (h - 2 * pad) * (v / top),
            )
            for t, v in zip(s.timestamps, s.values, strict=True)
        ]
        if len(pts) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        # Demo traffic comes in bursts: a stem and a dot per point keep single points visible.
        for x, y in pts:
            parts.append(
                f'<line x1="{x:.1f}" y1="{h - pad}" x2="{x:.1f}" y2="{y:.1f}" stroke="{colour}" stroke-opacity="0.4"/>'
                f'<circle class="series" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>'
            )
    parts.append(f'<text x="{pad}" y="10" class="scale">max {top:g}</text></svg>')
    return "".join(parts)


def render_page(
    cloudwatch: Any,
    dashboard_name: str,
    *,
    minutes: int = 30,
    now: datetime | None = None,
    samples: SampleStore | None = None,
) -> str:
    body = json.loads(cloudwatch.get_dashboard(DashboardName=dashboard_name)["DashboardBody"])
    end = (now or datetime.now(UTC)) + timedelta(minutes=1)
    start = end - timedelta(minutes=minutes)
    cells = []
    for n, widget in enumerate(body["widgets"]):
        style = (
            f"grid-column:{widget['x'] + 1}/span {widget['width']};grid-row:{widget['y'] + 1}/span {widget['height']}"
        )
        props = widget["properties"]
        if widget["type"] == "text":
            title, _, text = props["markdown"].partition("\n")
            cells.append(
                f'<section class="text" style="{style}"><h2>{html.escape(title.lstrip("# "))}</h2>'
                f"<p>{html.escape(text)}</p></section>"
            )
            continue
        lines = [parse_line(entry) for entry in props["metrics"]]
        # Locally a minute per point shows a short demo; on AWS the widget's own period applies.
        series = widget_series(cloudwatch, lines, start=start, end=end, period=60, samples=samples)
        with_data = sum(1 for s in series if s.has_data)
        local = sum(1 for s in series if s.aws_only is None)
        legend = []
        for i, s in enumerate(series):
            if s.aws_only:
                legend.append(
                    f'<li class="aws-only" title="{html.escape(s.aws_only)}">{html.escape(s.line.label)}'
                    " <em>AWS-only</em></li>"
                )
            else:
                latest = f"{s.values[-1]:g}" if s.has_data else "no data"
                colour = COLOURS[i % len(COLOURS)]
                legend.append(
                    f'<li class="{"data" if s.has_data else "empty"}"><b style="background:{colour}"></b>'
                    f"{html.escape(s.line.label)} <span>{latest}</span></li>"
                )
        state = "has-data" if with_data else ("aws-only" if local == 0 else "no-data")
        cells.append(
            f'<section class="widget {state}" data-widget="{n}" data-title="{html.escape(props["title"])}" '
            f'data-series="{len(series)}" data-local="{local}" data-with-data="{with_data}" style="{style}">'
            f"<h3>{html.escape(props['title'])}</h3>{_svg(series, start, end)}<ul>{''.join(legend)}</ul></section>"
        )
    return PAGE.format(
        name=html.escape(dashboard_name),
        start=start.strftime("%H:%M"),
        end=end.strftime("%H:%M UTC"),
        cells="\n".join(cells),
    )


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{name}</title>
<style>
body {{ font: 13px system-ui, sans-serif; margin: 12px; background: #f4f5f7; color: #16191f; }}
header {{ display: flex; gap: 16px; align-items: baseline; }}
.grid {{ display: grid; grid-template-columns: repeat(24, 1fr); grid-auto-rows: 34px; gap: 6px; }}
section {{ background: #fff; border: 1px solid #d5dbdb; padding: 6px 8px; overflow: hidden; }}
section.text {{ background: #eef3f8; }}
section.text h2 {{ margin: 0 0 2px; font-size: 15px; }} section.text p {{ margin: 0; }}
h3 {{ margin: 0 0 4px; font-size: 13px; }}
svg {{ width: 100%; height: 120px; background: #fbfbfb; }}
svg .axis {{ stroke: #aaa; }} svg .scale {{ font-size: 10px; fill: #777; }}
ul {{ list-style: none; margin: 4px 0 0; padding: 0; columns: 2; font-size: 11px; }}
li b {{ display: inline-block; width: 9px; height: 9px; margin-right: 4px; }}
li.empty, li.aws-only {{ color: #999; }}
section.no-data {{ border-color: #e0a800; }}
</style></head>
<body><header><h1>{name}</h1><span>local stack, {start} - {end}, from CloudWatch (moto)</span>
<a href="?minutes=10">10 min</a> <a href="?minutes=30">30 min</a> <a href="?minutes=180">3 h</a></header>
<main class="grid">
{cells}
</main></body></html>
"""


class LocalDashboard:
    """Serves the page on 127.0.0.1:<port>; GET /?minutes=N sets the window."""

    def __init__(
        self, cloudwatch: Any, dashboard_name: str, port: int = 0, *, samples: SampleStore | None = None
    ) -> None:
        self.cloudwatch = cloudwatch
        self.dashboard_name = dashboard_name
        self.samples = samples
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path != "/":
                    self.send_error(HTTPStatus.NOT_FOUND)
                    return
                raw = (parse_qs(url.query).get("minutes") or ["30"])[0]
                minutes = int(raw) if raw.isdigit() else 30
                try:
                    page = render_page(
                        outer.cloudwatch,
                        outer.dashboard_name,
                        minutes=max(5, min(minutes, 1440)),
                        samples=outer.samples,
                    )
                except Exception:
                    log.exception("rendering the dashboard failed")
                    self.send_error(HTTPStatus.INTERNAL_SERVER_ERROR)
                    return
                data = page.encode()
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                del format, args

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalDashboard:
        threading.Thread(target=self.server.serve_forever, name="dashboard", daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
