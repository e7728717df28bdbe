"""The local stack's dashboard as a web page: `dashboard_url`, as `terraform output dashboard_url` on AWS.

Each request reads the dashboard body from moto's CloudWatch (what `aws cloudwatch get-dashboard` returns)
and renders every widget from what the local stack recorded: metric widgets as SVG line charts drawn here
(no script, nothing fetched by the browser), alarm widgets as the alarms' states, log widgets as the rows of
their Logs Insights query (run by logs_insights.py over moto's log events), text widgets as their markdown.
A part it cannot compute says "not rendered locally" and quotes it. The page reloads itself every
REFRESH_S seconds, so it follows a running pipeline.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, unquote

from moto.cloudwatch.models import cloudwatch_backends
from moto.logs.models import logs_backends

from moto_extensions import WsgiApp, logs_insights
from moto_extensions.metric_series import (
    Datapoint,
    MetricKey,
    NotRenderedError,
    Series,
    by_metric,
    datapoints,
    newest,
    widget_period_s,
    widget_series,
)

DASHBOARD_PATH = "/_dashboard/"
REFRESH_S = 10
# A chart spans from the first datapoint the stack recorded to now: at least MIN_PERIODS of its period
# (a fresh stack's few points would otherwise sit on the right edge), at most CloudWatch's default 3 hours.
MIN_PERIODS = 6
MAX_WINDOW_S = 3 * 60 * 60
CHART_WIDTH, CHART_HEIGHT, CHART_MARGIN = 480, 150, 28
# CloudWatch's default series colours, in order.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def dashboard_url(endpoint: str, name: str) -> str:
    return f"{endpoint}{DASHBOARD_PATH}{quote(name)}"


class Sources:
    """What the page reads, from moto's backends of one account and region, at the time of the request."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        # moto only appends to its stored datapoints (a reset starts a new list): each one is converted once.
        self._stored: list[Any] | None = None
        self._converted: list[Datapoint] = []
        self._lock = threading.Lock()

    @property
    def _cloudwatch(self) -> Any:
        return cloudwatch_backends[self.account_id][self.region]

    def dashboard_body(self, name: str) -> str | None:
        dashboard = self._cloudwatch.get_dashboard(name)
        return dashboard.body if dashboard else None

    def dashboard_names(self) -> list[str]:
        return sorted(d.name for d in self._cloudwatch.list_dashboards())

    def recorded(self) -> list[Datapoint]:
        """The datapoints put so far, oldest put first."""
        stored = self._cloudwatch.metric_data
        with self._lock:
            if stored is not self._stored or len(stored) < len(self._converted):
                self._stored, self._converted = stored, []
            self._converted += datapoints(stored[len(self._converted) :])
            return list(self._converted)

    def datapoints(self) -> list[Datapoint]:
        """What was put, and the metrics moto makes up itself (S3's daily bucket sizes)."""
        return self.recorded() + datapoints(self._cloudwatch.aws_metric_data)

    def alarm_states(self) -> dict[str, tuple[str, str]]:
        """(state, reason) by alarm ARN."""
        alarms = list(self._cloudwatch.alarms.values())
        return {alarm.alarm_arn: (alarm.state_value, alarm.state_reason) for alarm in alarms}

    def alarm_chart(self, arn: str) -> tuple[list[list[Any]], float] | None:
        """An alarm's metric (or metric math) as a widget's `metrics` rows, and its threshold; None if no such alarm."""
        alarms = list(self._cloudwatch.alarms.values())
        alarm = next((a for a in alarms if a.alarm_arn == arn), None)
        if alarm is None:
            return None
        if not alarm.metric_data_queries:
            options = {"stat": alarm.statistic or alarm.extended_statistic, "period": alarm.period, "label": alarm.name}
            return [[alarm.namespace, alarm.metric_name, *_flat(alarm.dimensions), options]], float(alarm.threshold)
        rows: list[list[Any]] = []
        for query in alarm.metric_data_queries:
            options = {"id": query.id, "visible": query.return_data is not False, "label": query.label or alarm.name}
            if query.expression:
                rows.append([options | {"expression": query.expression}])
            else:
                stat, metric = query.metric_stat, query.metric_stat.metric
                options |= {"stat": stat.stat, "period": int(stat.period)}
                rows.append([metric.namespace, metric.metric_name, *_flat(metric.dimensions), options])
        return rows, float(alarm.threshold)

    def log_events(self, group_name: str, since_ms: int) -> list[logs_insights.LogEvent]:
        group = logs_backends[self.account_id][self.region].groups.get(group_name)
        if group is None:
            return []
        return [
            logs_insights.LogEvent(group_name, stream_name, event.timestamp, event.message)
            for stream_name, stream in list(group.streams.items())
            for event in list(stream.events)
            if event.timestamp >= since_ms
        ]


def _flat(dimensions: list[Any]) -> list[str]:
    return [part for dimension in dimensions for part in (dimension.name, dimension.value)]


class DashboardPages:
    """WSGI middleware: GET /_dashboard/<name> renders that dashboard, /_dashboard/ lists them; else `app`."""

    def __init__(self, app: WsgiApp, sources: Sources) -> None:
        self._app = app
        self._sources = sources

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(DASHBOARD_PATH) or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self._app(environ, start_response)
        name = unquote(path[len(DASHBOARD_PATH) :])
        body = self._sources.dashboard_body(name) if name else None
        if body is None:
            status, page = ("404 Not Found" if name else "200 OK"), index_page(name, self._sources.dashboard_names())
        else:
            status, page = "200 OK", dashboard_page(name, json.loads(body), self._sources, time.time())
        encoded = page.encode()
        headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(encoded)))]
        start_response(status, [*headers, ("Cache-Control", "no-store")])
        return [encoded]


def index_page(missing: str, names: list[str]) -> str:
    heading = f"No dashboard named {html.escape(missing)}" if missing else "Dashboards"
    links = "".join(f'<li><a href="{quote(name)}">{html.escape(name)}</a></li>' for name in names)
    return _document(heading, f"<h1>{heading}</h1><ul>{links}</ul>", refresh=False)


def dashboard_page(name: str, body: dict[str, Any], sources: Sources, now_s: float) -> str:
    # The first datapoint put: the stack's start, near enough.
    first_s = min((point.timestamp_s for point in sources.recorded()), default=now_s)
    data = by_metric(sources.datapoints())
    widgets = [_widget(widget, sources, data, first_s, now_s) for widget in body.get("widgets", [])]
    stamp = time.strftime("%H:%M:%S", time.gmtime(now_s))
    header = (
        f"<header><h1>{html.escape(name)}</h1><p>The local stack's dashboard: the body "
        "<code>aws cloudwatch get-dashboard</code> returns, drawn from the metrics, alarms and logs this stack "
        f"recorded. Updated {stamp} UTC; reloads every {REFRESH_S} s.</p></header>"
    )
    return _document(name, header + '<main class="grid">' + "".join(widgets) + "</main>", refresh=True)


def _widget(
    widget: dict[str, Any], sources: Sources, data: dict[MetricKey, list[Datapoint]], first_s: float, now_s: float
) -> str:
    kind = widget.get("type", "")
    properties = widget.get("properties", {})
    renderers: dict[str, Callable[[], str]] = {
        "metric": lambda: _metric_widget(_with_alarms(properties, sources), data, first_s, now_s),
        "alarm": lambda: _alarm_widget(properties, sources.alarm_states()),
        "log": lambda: _log_widget(properties, sources, now_s),
        "text": lambda: _markdown(properties.get("markdown", "")),
    }
    try:
        content = renderers[kind]() if kind in renderers else _not_rendered(f"widget type {kind}")
    except NotRenderedError as error:
        content = _not_rendered(str(error))
    place = (
        f"grid-column: {int(widget.get('x', 0)) + 1} / span {int(widget.get('width', 6))}; "
        f"grid-row: {int(widget.get('y', 0)) + 1} / span {int(widget.get('height', 6))}"
    )
    title = f"<h2>{html.escape(properties['title'])}</h2>" if properties.get("title") else ""
    return f'<section class="widget widget-{html.escape(kind)}" style="{place}">{title}{content}</section>'


def _not_rendered(what: str) -> str:
    return f'<p class="not-rendered">not rendered locally: <code>{html.escape(what)}</code></p>'


def _window_start(period_s: int, first_s: float, now_s: float) -> float:
    since = first_s - first_s % period_s
    return max(now_s - MAX_WINDOW_S, min(since, now_s - MIN_PERIODS * period_s))


def _with_alarms(properties: dict[str, Any], sources: Sources) -> dict[str, Any]:
    """A widget annotated with alarms shows each alarm's threshold, and, where it names no metrics, their metrics."""
    annotations = properties.get("annotations", {})
    alarm_arns = annotations.get("alarms", [])
    if not alarm_arns:
        return properties
    metrics, thresholds = list(properties.get("metrics", [])), list(annotations.get("horizontal", []))
    for arn in alarm_arns:
        chart = sources.alarm_chart(arn)
        if chart is None:
            raise NotRenderedError(f"the alarm {arn}, which the local stack does not have")
        rows, threshold = chart
        if not properties.get("metrics"):
            metrics += rows
        thresholds.append({"value": threshold, "label": f"{arn.rpartition(':alarm:')[2]} threshold"})
    return properties | {"metrics": metrics, "annotations": annotations | {"horizontal": thresholds}}


def _metric_widget(
    properties: dict[str, Any], data: dict[MetricKey, list[Datapoint]], first_s: float, now_s: float
) -> str:
    since_s = _window_start(widget_period_s(properties), first_s, now_s)
    series = widget_series(properties, data, since_s)
    if properties.get("view") == "singleValue":
        values = "".join(
            f'<div class="single-value"><span class="value">{_number(newest(s.points))}</span>'
            f"<span>{html.escape(s.label)}</span></div>"
            for s in series
        )
        return f'<div class="single-values">{values}</div>'
    annotations = properties.get("annotations", {}).get("horizontal", [])
    return _chart(series, since_s, now_s, annotations) + _legend(series)


def _chart(series: list[Series], since_s: float, now_s: float, annotations: list[dict[str, Any]]) -> str:
    values = [v for s in series for v in s.points.values()] + [float(a["value"]) for a in annotations if "value" in a]
    low, high = min([0.0, *values]), max([0.0, *values])
    high = high * 1.1 if high > 0 else 1.0
    width, height, margin = CHART_WIDTH, CHART_HEIGHT, CHART_MARGIN

    def x(stamp: float) -> float:
        return margin + (stamp - since_s) / max(now_s - since_s, 1) * (width - margin - 4)

    def y(value: float) -> float:
        return height - 16 - (value - low) / (high - low) * (height - 22)

    parts = [
        f'<line class="axis" x1="{margin}" y1="{y(low):.1f}" x2="{width - 4}" y2="{y(low):.1f}"/>',
        f'<text x="{margin - 3}" y="{y(high) + 4:.1f}" text-anchor="end">{_short_number(high)}</text>',
        f'<text x="{margin - 3}" y="{y(low):.1f}" text-anchor="end">{_short_number(low)}</text>',
        f'<text x="{margin}" y="{height - 2}">{_clock(since_s)}</text>',
        f'<text x="{width - 4}" y="{height - 2}" text-anchor="end">{_clock(now_s)}</text>',
    ]
    for annotation in annotations:
        if "value" in annotation:
            level = y(float(annotation["value"]))
            parts.append(
                f'<line class="annotation" x1="{margin}" y1="{level:.1f}" x2="{width - 4}" y2="{level:.1f}">'
                f"<title>{html.escape(str(annotation.get('label', annotation['value'])))}</title></line>"
            )
    for index, one in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        coordinates = [(x(stamp), y(value), stamp, value) for stamp, value in sorted(one.points.items())]
        if len(coordinates) > 1:
            line = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy, _, _ in coordinates)
            parts.append(f'<polyline class="series" points="{line}" stroke="{colour}"/>')
        parts.extend(
            f'<circle class="point" cx="{cx:.1f}" cy="{cy:.1f}" r="2.5" fill="{colour}">'
            f"<title>{html.escape(one.label)}: {_number(value)} at {_clock(stamp)} UTC</title></circle>"
            for cx, cy, stamp, value in coordinates
        )
    return f'<svg class="chart" viewBox="0 0 {width} {height}" role="img">{"".join(parts)}</svg>'


def _legend(series: list[Series]) -> str:
    items = "".join(
        f'<li><span class="swatch" style="background:{PALETTE[index % len(PALETTE)]}"></span>'
        f"{html.escape(one.label)} <b>{_number(newest(one.points)) if one.points else 'no data'}</b></li>"
        for index, one in enumerate(series)
    )
    return f'<ul class="legend">{items}</ul>'


def _alarm_widget(properties: dict[str, Any], states: dict[str, tuple[str, str]]) -> str:
    items = []
    for arn in properties.get("alarms", []):
        state, reason = states.get(arn, ("NOT_FOUND", "no such alarm in the local stack"))
        name = arn.rpartition(":alarm:")[2] or arn
        items.append(
            f'<li class="alarm state-{html.escape(state)}" title="{html.escape(reason)}">'
            f'<span class="state">{html.escape(state)}</span> {html.escape(name)}</li>'
        )
    return f'<ul class="alarms">{"".join(items)}</ul>'


def _log_widget(properties: dict[str, Any], sources: Sources, now_s: float) -> str:
    text = properties.get("query", "")
    try:
        query = logs_insights.parse(text)
    except logs_insights.UnsupportedQueryError as error:
        return _not_rendered(f"{error} (in the query {text})")
    # The stack's events, all of them in memory since it started, over CloudWatch's default 3 hours.
    since_ms = int((now_s - MAX_WINDOW_S) * 1000)
    events = [event for group in query.sources for event in sources.log_events(group, since_ms)]
    rows = logs_insights.run(query, events, sources.account_id)
    if not rows:
        return '<p class="empty">No log events match the query yet.</p>'
    columns = query.fields or sorted({name for row in rows for name in row})
    head = "".join(f"<th>{html.escape(column)}</th>" for column in columns)
    body = "".join(
        '<tr class="log-row">' + "".join(f"<td>{_cell(column, row.get(column))}</td>" for column in columns) + "</tr>"
        for row in rows
    )
    return f'<div class="table"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column in ("@timestamp", "@ingestionTime") and isinstance(value, int):
        seconds, millis = divmod(value, 1000)
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}"
    return html.escape(value if isinstance(value, str) else json.dumps(value))


def _markdown(text: str) -> str:
    """Headings, bullet lists, paragraphs, `code`, **bold** and [links](url): what dashboards' text widgets use."""
    blocks, items = [], []
    for line in [*text.splitlines(), ""]:
        stripped = line.strip()
        if re.match(r"[-*] ", stripped):
            items.append(f"<li>{_inline(stripped[2:])}</li>")
            continue
        if items:
            blocks.append(f"<ul>{''.join(items)}</ul>")
            items = []
        heading = re.match(r"(#{1,6}) (.*)", stripped)
        if heading:
            level = len(heading[1]) + 2  # the widget's own title is an h2
            blocks.append(f"<h{min(level, 6)}>{_inline(heading[2])}</h{min(level, 6)}>")
        elif stripped:
            blocks.append(f"<p>{_inline(stripped)}</p>")
    return f'<div class="text">{"".join(blocks)}</div>'


def _inline(text: str) -> str:
    escaped = html.escape(text, quote=True)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    escaped = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", escaped)
    return re.sub(r"\[([^\]]+)\]\(((?:https?://|/|#)[^)\s]*)\)", r'<a href="\2">\1</a>', escaped)


def _number(value: float | None) -> str:
    if value is None:
        return "no data"
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def _short_number(value: float) -> str:
    """At most four characters, for the axis: 950, 9.5k, 95k, 9.5M."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            scaled = value / limit
            return f"{scaled:.1f}{suffix}" if abs(scaled) < 10 else f"{scaled:.0f}{suffix}"
    return f"{value:.2g}" if abs(value) < 10 else f"{value:.0f}"


def _clock(seconds: float) -> str:
    return time.strftime("%H:%M", time.gmtime(seconds))


STYLE = """
body { font: 13px/1.35 system-ui, sans-serif; margin: 12px; background: #f4f5f7; color: #16191f; }
header h1 { font-size: 18px; margin: 0 0 2px; } header p { margin: 0 0 10px; color: #545b64; }
.grid { display: grid; grid-template-columns: repeat(24, 1fr); grid-auto-rows: 36px; gap: 8px; }
.widget { background: #fff; border: 1px solid #d5dbdb; border-radius: 4px; padding: 6px 8px; overflow: auto; }
.widget h2 { font-size: 13px; margin: 0 0 4px; }
.chart { width: 100%; height: auto; display: block; }
.chart text { font-size: 10px; fill: #545b64; } .chart .axis { stroke: #aab7b8; }
.chart .series { fill: none; stroke-width: 1.5; } .chart .annotation { stroke: #d13212; stroke-dasharray: 4 3; }
.legend { list-style: none; margin: 2px 0 0; padding: 0; display: flex; flex-wrap: wrap; gap: 2px 10px; }
.swatch { display: inline-block; width: 10px; height: 3px; margin: 0 4px 3px 0; vertical-align: middle; }
.alarms { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 6px; }
.alarm { border: 1px solid #d5dbdb; border-radius: 3px; padding: 2px 6px; }
.state { font-weight: 600; } .state-OK .state { color: #1d8102; } .state-ALARM .state { color: #d13212; }
.state-INSUFFICIENT_DATA .state, .state-NOT_FOUND .state { color: #545b64; }
.table table { border-collapse: collapse; width: 100%; font: 11px/1.3 ui-monospace, monospace; }
th, td { text-align: left; vertical-align: top; padding: 1px 6px 1px 0; border-bottom: 1px solid #eaeded; }
td { word-break: break-all; } .not-rendered, .empty { color: #545b64; }
.single-values { display: flex; gap: 16px; } .single-value .value { display: block; font-size: 24px; }
"""


def _document(title: str, content: str, refresh: bool) -> str:
    reload = f'<meta http-equiv="refresh" content="{REFRESH_S}">' if refresh else ""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">{reload}'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>{content}</body></html>"
    )
