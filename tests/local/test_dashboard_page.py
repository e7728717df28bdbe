"""The local dashboard page (dashboard_url): every widget type drawn from what moto's CloudWatch and Logs hold,
the metric math and Logs Insights subsets it computes, and a clear note for what it does not."""

from __future__ import annotations

import html
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_pipeline.stack import ACCOUNT_ID, REGION, default_stack
from moto_extensions import logs_insights
from moto_extensions.dashboard_page import Sources, dashboard_page, dashboard_url
from moto_extensions.metric_series import Datapoint, NotRenderedError, by_metric, evaluate, widget_series
from tests.local.conftest import Clients

GROUP = "/aws/lambda/image-pipeline-dev-db-writer"
ALARM = "image-pipeline-dev-metadata-dlq-not-empty"
ALARM_ARN = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{ALARM}"
DIMENSION = ["FunctionName", "f"]


def metric_widget(*metrics: list[Any], title: str = "chart", **properties: Any) -> dict[str, Any]:
    return {"type": "metric", "x": 0, "y": 0, "width": 8, "height": 6, "properties": {"title": title} | properties
            | {"metrics": list(metrics), "period": 60}}  # fmt: skip


def stack_log_query() -> str:
    """The stack's own log widget query, as terraform/dashboard.tf writes it."""
    widgets = default_stack().dashboard_body["widgets"]
    return next(w["properties"]["query"] for w in widgets if w["type"] == "log")


def sections(page: str) -> dict[str, str]:
    """Each widget's HTML by its title."""
    found = re.findall(r'<section class="widget[^"]*"[^>]*><h2>([^<]*)</h2>(.*?)</section>', page, re.S)
    return dict(found)


@pytest.fixture
def cloud() -> Iterator[Clients]:
    with mock_aws():
        yield lambda service: boto3.client(service, region_name=REGION)


def put(cloud: Clients, name: str, values: list[float], unit: str = "Count") -> None:
    now = datetime.now(UTC)
    data = [
        {"MetricName": name, "Dimensions": [{"Name": DIMENSION[0], "Value": DIMENSION[1]}], "Value": v, "Unit": unit}
        | {"Timestamp": now}
        for v in values
    ]
    cloud("cloudwatch").put_metric_data(Namespace="Test", MetricData=data)


def render(body: dict[str, Any]) -> dict[str, str]:
    return sections(dashboard_page("test", body, Sources(ACCOUNT_ID, REGION), time.time()))


def test_dashboard_page_draws_a_point_per_period_for_each_metric_and_expression(cloud: Clients):
    put(cloud, "Errors", [1, 2])
    put(cloud, "Invocations", [3, 5])
    body = {"widgets": [metric_widget(
        ["Test", "Errors", *DIMENSION, {"stat": "Sum", "id": "m1", "visible": False}],
        ["Test", "Invocations", *DIMENSION, {"stat": "Sum", "id": "m2"}],
        [{"expression": "100*m1/m2", "label": "error rate (%)", "id": "e1"}],
    )]}  # fmt: skip

    chart = render(body)["chart"]

    assert chart.count('class="point"') == 2  # m1 is hidden; m2 and e1 have one period each
    assert "error rate (%) <b>37.5</b>" in chart and "Invocations <b>8</b>" in chart


def test_dashboard_page_percentiles_and_the_dot_shorthand(cloud: Clients):
    put(cloud, "Duration", [float(v) for v in range(1, 101)], unit="Milliseconds")
    body = {"widgets": [metric_widget(
        ["Test", "Duration", *DIMENSION, {"stat": "p50", "label": "p50"}],
        [".", ".", ".", ".", {"stat": "p99", "label": "p99"}],
        [".", ".", ".", ".", {"stat": "Maximum", "label": "max"}],
    )]}  # fmt: skip

    chart = render(body)["chart"]

    assert "p50 <b>50</b>" in chart and "p99 <b>99</b>" in chart and "max <b>100</b>" in chart


def test_dashboard_page_says_what_it_does_not_render(cloud: Clients):
    put(cloud, "Errors", [1])
    body = {"widgets": [
        metric_widget(["Test", "Errors", *DIMENSION, {"id": "m1"}],
                      [{"expression": "ANOMALY_DETECTION_BAND(m1, 2)", "id": "e1"}], title="band"),
        metric_widget(["Test", "Errors", *DIMENSION, {"stat": "tm90"}], title="trimmed"),
        {"type": "explorer", "properties": {"title": "explorer"}},
        {"type": "log", "properties": {"title": "stats", "query": f"SOURCE '{GROUP}' | stats count(*) by bin(5m)"}},
    ]}  # fmt: skip

    widgets = render(body)

    assert "not rendered locally: <code>ANOMALY_DETECTION_BAND(m1, 2)</code>" in widgets["band"]
    assert "not rendered locally: <code>statistic tm90</code>" in widgets["trimmed"]
    assert "not rendered locally: <code>widget type explorer</code>" in widgets["explorer"]
    assert "not rendered locally: <code>stats count(*) by bin(5m) (in the query" in widgets["stats"]


def test_dashboard_page_shows_alarm_states_log_rows_and_text(cloud: Clients):
    cloudwatch = cloud("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=ALARM, Namespace="AWS/SQS", MetricName="ApproximateNumberOfMessagesVisible", Statistic="Maximum",
        Period=60, EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="1 message")
    logs = cloud("logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s")
    now_ms = int(time.time() * 1000)
    lines = ['{"level":"ERROR","message":"message not written"}', '{"level":"INFO","message":"fine"}']
    logs.put_log_events(logGroupName=GROUP, logStreamName="s",
                        logEvents=[{"timestamp": now_ms + i, "message": m} for i, m in enumerate(lines)])  # fmt: skip
    query = stack_log_query()  # SOURCE: both functions
    body = {"widgets": [
        {"type": "alarm", "properties": {"title": "alarms", "alarms": [ALARM_ARN, ALARM_ARN + "-gone"]}},
        {"type": "log", "properties": {"title": "errors", "query": query}},
        {"type": "text", "properties": {"title": "runbook", "markdown": "## Redrive\n- see [operations](#dlq)"}},
    ]}  # fmt: skip

    widgets = render(body)

    assert '<span class="state">ALARM</span> image-pipeline-dev-metadata-dlq-not-empty' in widgets["alarms"]
    assert f'<span class="state">NOT_FOUND</span> {ALARM}-gone' in widgets["alarms"]
    assert widgets["errors"].count('<tr class="log-row">') == 1 and "message not written" in widgets["errors"]
    assert '<h4>Redrive</h4><ul><li>see <a href="#dlq">operations</a></li></ul>' in widgets["runbook"]


def test_dashboard_url_serves_the_body_the_stack_put_and_lists_the_others(aws: Clients, endpoint: str):
    aws("cloudwatch").put_dashboard(DashboardName="mine", DashboardBody=json.dumps(default_stack().dashboard_body))

    with urllib.request.urlopen(dashboard_url(endpoint, "mine")) as response:
        page = response.read().decode()
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(dashboard_url(endpoint, "other"))

    titles = [w["properties"]["title"] for w in default_stack().dashboard_body["widgets"]]
    assert list(sections(page)) == [html.escape(t) for t in titles]
    assert '<meta http-equiv="refresh"' in page
    assert missing.value.code == 404 and '<a href="mine">mine</a>' in missing.value.read().decode()
    assert aws("cloudwatch").get_dashboard(DashboardName="mine")["DashboardBody"] == json.dumps(
        default_stack().dashboard_body
    )


def point(value: float, at_s: float) -> Datapoint:
    return Datapoint("Test", "M", frozenset([tuple(DIMENSION)]), at_s, value)


def test_metric_series_a_zero_divisor_leaves_that_period_empty():
    recorded = by_metric([point(1, 0), point(0, 60)])
    metrics = [["Test", "M", *DIMENSION, {"id": "m1", "stat": "Sum"}], [{"expression": "10 / m1", "id": "e1"}]]

    series = widget_series({"metrics": metrics, "period": 60}, recorded, 0)

    assert [s.points for s in series] == [{0: 1.0, 60: 0.0}, {0: 10.0}]


def test_metric_series_math_has_a_value_only_in_the_periods_of_every_series_it_names():
    assert evaluate("-(m1 + m2) * 2", {"m1": {0: 1.0, 60: 2.0}, "m2": {60: 3.0, 120: 4.0}}) == {60: -10.0}


def test_metric_series_refuses_what_is_not_arithmetic():
    for expression in ("SUM(METRICS())", "m1 ** 2", "unknown_id + 1", "FILL(m1, 0)", "2 * 3", "__import__('os')"):
        with pytest.raises(NotRenderedError, match=re.escape(expression)):
            evaluate(expression, {"m1": {0: 1.0}})


def events(*messages: str) -> list[logs_insights.LogEvent]:
    return [logs_insights.LogEvent("g", "s", 1000 + i, m) for i, m in enumerate(messages)]


def test_logs_insights_runs_the_dashboard_error_query():
    query = logs_insights.parse(stack_log_query())
    logged = events(
        '{"level":"ERROR","message":"write failed","request_id":"r1"}',
        '{"level":"INFO","message":"processed"}',
        "[ERROR] ValueError: bad\nTraceback (most recent call last):",
        "2026-01-01T00:00:00Z r2 Task timed out after 60.00 seconds",
        "REPORT RequestId: r3",
    )

    rows = logs_insights.run(query, logged, ACCOUNT_ID)

    assert [row["@timestamp"] for row in rows] == [1003, 1002, 1000]
    assert rows[-1]["level"] == "ERROR" and rows[-1]["request_id"] == "r1" and rows[-1]["@log"] == f"{ACCOUNT_ID}:g"
    assert list(rows[0]) == ["@timestamp", "@log", "level", "message", "request_id", "@message"]


def test_logs_insights_filters_compare_negate_and_limit():
    logged = events('{"n": 5, "k": "a"}', '{"n": 50, "k": "b"}', '{"n": 500, "k": "c|d"}')

    def keys(text: str) -> list[str]:
        return [row["k"] for row in logs_insights.run(logs_insights.parse(text), logged, ACCOUNT_ID)]

    assert keys("filter n > 10 and not k = 'b'") == ["c|d"]
    assert keys("filter k in ['a', 'b'] | sort n desc | limit 1") == ["b"]
    assert keys("filter k not like /^[ab]$/ or n <= 5") == ["a", "c|d"]
    assert keys("filter k like 'c|d'") == ["c|d"]
    assert logs_insights.run(logs_insights.parse("fields `k` | limit 1"), logged, ACCOUNT_ID) == [{"k": "a"}]
    with pytest.raises(logs_insights.UnsupportedQueryError, match="parse @message"):
        logs_insights.parse("fields @message | parse @message '* *' as a, b")
    with pytest.raises(logs_insights.UnsupportedQueryError, match=re.escape("filter k like /(/")):
        logs_insights.parse("filter k like /(/ | limit 1")


def test_dashboard_page_charts_an_alarm_annotation_with_its_metric_math_and_threshold(cloud: Clients):
    # GIVEN an error-rate alarm defined with metric math, and a widget that names only the alarm
    put(cloud, "Errors", [1])
    put(cloud, "Invocations", [4])
    stat = {"Namespace": "Test", "Dimensions": [{"Name": DIMENSION[0], "Value": DIMENSION[1]}]}
    cloud("cloudwatch").put_metric_alarm(
        AlarmName="error-rate", EvaluationPeriods=1, Threshold=10, ComparisonOperator="GreaterThanThreshold",
        Metrics=[
            {"Id": "m1", "MetricStat": {"Metric": stat | {"MetricName": "Errors"}, "Period": 60, "Stat": "Sum"},
             "ReturnData": False},
            {"Id": "m2", "MetricStat": {"Metric": stat | {"MetricName": "Invocations"}, "Period": 60, "Stat": "Sum"},
             "ReturnData": False},
            {"Id": "e1", "Expression": "100*m1/m2", "Label": "error rate (%)", "ReturnData": True},
        ],
    )  # fmt: skip
    arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:error-rate"
    widget = {"type": "metric", "properties": {"title": "rate", "annotations": {"alarms": [arn]}, "period": 60}}

    chart = render({"widgets": [widget]})["rate"]

    assert chart.count('class="point"') == 1 and "error rate (%) <b>25</b>" in chart
    assert '<line class="annotation"' in chart and "<title>error-rate threshold</title>" in chart
