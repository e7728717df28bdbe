"""A dashboard metric widget's time series, computed from the datapoints moto's CloudWatch stores.

A widget's `metrics` rows are read as the CloudWatch console reads them: `[namespace, name, dimension, value,
..., {options}]`, `"."` repeating the previous row's entry at that position, options `stat`, `period`,
`label`, `id`, `visible`, and widget-level `stat` (default Average) and `period` (default 300). Statistics:
SampleCount, Sum, Average, Minimum, Maximum and percentiles (`p50`, `p99.9`). A row `[{"expression": ...}]` is
metric math: numbers, the ids of other rows, `+ - * /` and parentheses (a period where a divisor is 0 has no
value, as in CloudWatch). Anything else is reported as not rendered locally, with the text that was not.
"""

from __future__ import annotations

import ast
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

DEFAULT_STAT = "Average"
DEFAULT_PERIOD_S = 300
_PERCENTILE = re.compile(r"p(\d{1,2}(?:\.\d+)?|100)")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)  # moto's times are UTC without a zone

Points = dict[float, float]  # period start (epoch seconds) -> value
MetricKey = tuple[str, str, frozenset[tuple[str, str]]]  # namespace, name, dimensions


class NotRenderedError(Exception):
    """Part of a widget the local dashboard cannot compute; the message quotes that part."""


class Datapoint(NamedTuple):  # a tuple: the page converts every stored datapoint once, and many there are
    namespace: str
    name: str
    dimensions: frozenset[tuple[str, str]]
    timestamp_s: float
    value: float


@dataclass(frozen=True)
class Series:
    label: str
    points: Points


@dataclass(frozen=True)
class _Row:
    id: str
    label: str
    visible: bool
    period_s: int
    metric: MetricKey | None = None
    stat: str = DEFAULT_STAT
    expression: str | None = None


def datapoints(metric_data: Iterable[Any]) -> list[Datapoint]:
    """moto's stored datapoints (MetricDatum: one value each) in a plain form; statistic sets are left out."""
    found = []
    for datum in metric_data:
        if hasattr(datum, "value"):
            dimensions = frozenset((d.name, d.value) for d in datum.dimensions)
            found.append(
                Datapoint(datum.namespace, datum.name, dimensions, epoch_s(datum.timestamp), float(datum.value))
            )
    return found


def epoch_s(stamp: datetime) -> float:
    """moto keeps UTC times without a zone; a subtraction is much cheaper than datetime.timestamp()."""
    return (stamp - (_EPOCH if stamp.tzinfo else _NAIVE_EPOCH)).total_seconds()


def by_metric(points: Iterable[Datapoint]) -> dict[MetricKey, list[Datapoint]]:
    """Datapoints grouped by metric, so that each widget row finds its own without scanning them all."""
    grouped: dict[MetricKey, list[Datapoint]] = defaultdict(list)
    for point in points:
        grouped[(point.namespace, point.name, point.dimensions)].append(point)
    return grouped


def widget_series(
    properties: dict[str, Any], recorded: dict[MetricKey, list[Datapoint]], since_s: float
) -> list[Series]:
    """The visible series of a metric widget, from `since_s` on; raises NotRenderedError."""
    rows = _rows(properties)
    computed: dict[str, Points] = {}
    for row in rows:
        if row.metric is not None:
            computed[row.id] = _statistic(row, recorded.get(row.metric, []), since_s)
    for row in rows:
        if row.expression is not None:
            computed[row.id] = evaluate(row.expression, computed)
    return [Series(row.label, computed[row.id]) for row in rows if row.visible]


def widget_period_s(properties: dict[str, Any]) -> int:
    return int(properties.get("period", DEFAULT_PERIOD_S))


def _rows(properties: dict[str, Any]) -> list[_Row]:
    rows: list[_Row] = []
    previous: list[Any] = []
    for index, entry in enumerate(properties.get("metrics", [])):
        options = entry[-1] if entry and isinstance(entry[-1], dict) else {}
        parts = [part for part in entry if not isinstance(part, dict)]
        row_id = options.get("id", f"m{index + 1}")
        period_s = int(options.get("period", widget_period_s(properties)))
        visible = options.get("visible", True)
        if "expression" in options:
            label = options.get("label", row_id)
            rows.append(_Row(row_id, label, visible, period_s, expression=options["expression"]))
            continue
        if "..." in parts:
            raise NotRenderedError(f"the '...' shorthand in {entry}")
        parts = [previous[i] if part == "." and i < len(previous) else part for i, part in enumerate(parts)]
        previous = parts
        if len(parts) < 2 or len(parts) % 2:
            raise NotRenderedError(f"metric {entry}")
        namespace, name, *pairs = parts
        dimensions = frozenset(zip(pairs[::2], pairs[1::2], strict=True))
        stat = options.get("stat", properties.get("stat", DEFAULT_STAT))
        label = options.get("label", name)
        rows.append(_Row(row_id, label, visible, period_s, metric=(namespace, name, dimensions), stat=stat))
    return rows


def _statistic(row: _Row, points: list[Datapoint], since_s: float) -> Points:
    aggregate = _aggregate(row.stat)
    periods: dict[float, list[float]] = defaultdict(list)
    for point in points:
        if point.timestamp_s >= since_s:
            periods[point.timestamp_s - point.timestamp_s % row.period_s].append(point.value)
    return {start: aggregate(values) for start, values in sorted(periods.items())}


def _aggregate(stat: str) -> Callable[[list[float]], float]:
    simple: dict[str, Callable[[list[float]], float]] = {
        "SampleCount": lambda values: float(len(values)),
        "Sum": math.fsum,
        "Average": lambda values: math.fsum(values) / len(values),
        "Minimum": min,
        "Maximum": max,
    }
    if stat in simple:
        return simple[stat]
    match = _PERCENTILE.fullmatch(stat)
    if match:
        return lambda values: _percentile(values, float(match[1]))
    raise NotRenderedError(f"statistic {stat}")


def _percentile(values: list[float], percent: float) -> float:
    """The nearest-rank percentile: a value that was recorded, as CloudWatch reports them."""
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


# Metric math is Python arithmetic as long as its tree holds nothing else, so Python computes it: checked node
# by node, the tree has nothing to call, import or look up but the ids it is given. Parentheses leave no node;
# numbers are Constant nodes, checked on their own as a Constant may also be text or True.
_ARITHMETIC = (
    (ast.Expression, ast.Name, ast.Load),
    (ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div),
    (ast.UnaryOp, ast.USub),
)


def evaluate(expression: str, series: dict[str, Points]) -> Points:
    """Metric math of `+ - * /` over numbers and series ids; a period missing from a series has no value."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        raise NotRenderedError(expression) from None
    ids = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    # Without an id the expression is a constant: no series to draw.
    if not ids or not ids <= series.keys() or not all(_arithmetic(node) for node in ast.walk(tree)):
        raise NotRenderedError(expression)
    code = compile(tree, "<metric math>", "eval")
    result: Points = {}
    for stamp in sorted(set.intersection(*(set(series[row_id]) for row_id in ids))):
        try:
            result[stamp] = eval(code, {"__builtins__": {}}, {row_id: series[row_id][stamp] for row_id in ids})
        except ZeroDivisionError:
            continue  # as in CloudWatch, that period has no value
    return result


def _arithmetic(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int | float) and not isinstance(node.value, bool)
    return isinstance(node, _ARITHMETIC)


def newest(points: Points) -> float | None:
    return points[max(points)] if points else None
