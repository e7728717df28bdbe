"""Records in moto's CloudWatch the metrics AWS would record, and sets the queue alarms' states: moto
stores what put_metric_data sends but records and evaluates nothing itself. docs/local.md ("Metrics",
"Alarms") says what is recorded, from what, and which alarms follow the queues.
"""

from __future__ import annotations

import json
import operator
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from moto.sqs.models import sqs_backends

from local_pipeline.console import Console
from local_pipeline.stack import ACCOUNT_ID, REGION, FunctionSettings, MetricAlarm, Stack

# How often the queues are read: an alarm follows its queue within about this long, where CloudWatch
# takes minutes. Every QUEUE_METRICS_EVERY-th reading is recorded; CloudWatch's SQS metrics come once a minute.
QUEUE_CHECK_INTERVAL_S = 1.0
QUEUE_METRICS_EVERY = 5
# CloudWatch's SQS metrics by the queue attribute that holds the same figure.
QUEUE_METRIC_OF_ATTRIBUTE = {
    "ApproximateNumberOfMessages": "ApproximateNumberOfMessagesVisible",
    "ApproximateNumberOfMessagesNotVisible": "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed": "ApproximateNumberOfMessagesDelayed",
}
# The metric math of terraform/monitoring.tf's queue alarms, as (sum of the inputs now, at the last reading).
QUEUE_EXPRESSIONS = {
    "visible + in_flight": lambda total, _: total,
    "DIFF(visible + in_flight)": lambda total, previous: total - previous,
}
COMPARISONS = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
# DynamoDB bills a standard write by the item's size, one unit per KB begun; the item's JSON stands in for it.
WRITE_UNIT_BYTES = 1024
THROTTLING_ERRORS = {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"}


class MetricsRecorder:
    def __init__(self, cloudwatch: Any, stack: Stack) -> None:
        self.cloudwatch = cloudwatch
        self._stack = stack
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()

    def invocation_started(self, function: FunctionSettings) -> None:
        with self._lock:
            self._running[function.name] = self._running.get(function.name, 0) + 1
            running, in_account = self._running[function.name], sum(self._running.values())
        self._put("AWS/Lambda", ("FunctionName", function.name), [("ConcurrentExecutions", running, "Count")])
        # Without a dimension: the account's figure, which the account-concurrency alarm watches.
        self._put("AWS/Lambda", None, [("ConcurrentExecutions", in_account, "Count")])

    def invocation_ended(self, function: FunctionSettings, duration_ms: float, failed: bool, lines: Iterable[str]):
        with self._lock:
            self._running[function.name] -= 1
        lambda_metrics = [
            ("Invocations", 1, "Count"),
            ("Errors", int(failed), "Count"),
            ("Throttles", 0, "Count"),  # the runner queues invocations rather than refuse them
            ("Duration", duration_ms, "Milliseconds"),
        ]
        if function.name == self._stack.image_processor.name:
            # The runner delivers every failed event to processor-failures: nothing is dropped or undelivered.
            lambda_metrics += [("AsyncEventsDropped", 0, "Count"), ("DestinationDeliveryFailures", 0, "Count")]
        self._put("AWS/Lambda", ("FunctionName", function.name), lambda_metrics)
        for line in lines:
            if line.startswith('{"_aws"'):
                self._put_embedded(json.loads(line))

    def record_queue(self, queue_name: str, depths: dict[str, int]) -> None:
        """A queue's depths, by metric name, and the age of its oldest message where it can be known."""
        metrics = [(name, value, "Count") for name, value in depths.items()]
        age_s = _oldest_message_age_s(queue_name)
        if age_s is not None:
            metrics.append(("ApproximateAgeOfOldestMessage", age_s, "Seconds"))
        self._put("AWS/SQS", ("QueueName", queue_name), metrics)

    def watch_table_writes(self, dynamodb: Any) -> None:
        """Counts db_writer's PutItem calls as DynamoDB's table metrics, whether they succeed or not."""
        dynamodb.meta.events.register("before-parameter-build.dynamodb.PutItem", _remember_item_size)
        dynamodb.meta.events.register("after-call.dynamodb.PutItem", self._after_put_item)

    def _after_put_item(self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        error = parsed.get("Error", {}).get("Code")
        table = ("TableName", self._stack.table_name)
        units = -(-context["item_bytes"] // WRITE_UNIT_BYTES) if error is None else 0
        # AWS leaves the last two out while they are 0; here a 0 shows that the widget is wired up.
        metrics = [
            ("ConsumedWriteCapacityUnits", units, "Count"),
            ("ConditionalCheckFailedRequests", int(error == "ConditionalCheckFailedException"), "Count"),
            ("WriteThrottleEvents", int(error in THROTTLING_ERRORS), "Count"),
        ]
        self._put("AWS/DynamoDB", table, metrics)

    def _put_embedded(self, document: dict[str, Any]) -> None:
        timestamp_s = document["_aws"]["Timestamp"] / 1000
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dimensions = [{"Name": name, "Value": str(document[name])} for name in dimension_set]
                data = [
                    {"MetricName": m["Name"], "Dimensions": dimensions, "Values": _values(document[m["Name"]])}
                    | {"Unit": m.get("Unit", "None"), "Timestamp": datetime.fromtimestamp(timestamp_s, UTC)}
                    for m in directive["Metrics"]
                ]
                self.cloudwatch.put_metric_data(Namespace=directive["Namespace"], MetricData=data)

    def _put(self, namespace: str, dimension: tuple[str, str] | None, metrics: list[tuple[str, float, str]]) -> None:
        dimensions = [{"Name": dimension[0], "Value": dimension[1]}] if dimension else []
        now = datetime.now(UTC)
        data = [
            {"MetricName": name, "Dimensions": dimensions, "Value": float(value), "Unit": unit, "Timestamp": now}
            for name, value, unit in metrics
        ]
        self.cloudwatch.put_metric_data(Namespace=namespace, MetricData=data)


class QueueWatcher:
    """One step of a background loop: reads each queue's depths once, sets the state of every alarm on
    them where it changed (the others stay as moto created them), and records them as metrics."""

    def __init__(
        self, stack: Stack, sqs: Any, queue_urls: dict[str, str], metrics: MetricsRecorder, console: Console
    ) -> None:
        self._stack = stack
        self._sqs = sqs
        self._queue_urls = queue_urls
        self._metrics = metrics
        self._console = console
        self._alarms = tuple(alarm for alarm in stack.alarms if _reads_queue_depths(alarm))
        self._previous: dict[str, float] = {}
        self._steps = 0

    def step(self) -> None:
        depths = {queue.name: queue_depths(self._sqs, self._queue_urls[queue.name]) for queue in self._stack.queues}
        if self._alarms:
            self._set_alarm_states(depths)
        if self._steps % QUEUE_METRICS_EVERY == 0:
            for queue_name, counts in depths.items():
                self._metrics.record_queue(queue_name, counts)
        self._steps += 1

    def _value(self, alarm: MetricAlarm, depths: dict[str, dict[str, int]]) -> float:
        """The alarm's metric, or its expression over the queue's depths (QUEUE_EXPRESSIONS)."""
        figures = [depths[metric.dimension[1]][metric.name] for metric in alarm.metrics if metric.dimension]
        if alarm.expression is None:
            return figures[0]
        total = sum(figures)
        previous = self._previous.get(alarm.name, total)  # no earlier reading: no change, as with no datapoint
        self._previous[alarm.name] = total
        return QUEUE_EXPRESSIONS[alarm.expression](total, previous)

    def _set_alarm_states(self, depths: dict[str, dict[str, int]]) -> None:
        cloudwatch = self._metrics.cloudwatch
        response = cloudwatch.describe_alarms(AlarmNames=[a.name for a in self._alarms])
        current = {a["AlarmName"]: a["StateValue"] for a in response["MetricAlarms"]}
        for alarm in self._alarms:
            value = self._value(alarm, depths)
            breaching = COMPARISONS[alarm.comparison_operator](value, alarm.threshold)
            state = "ALARM" if breaching else "OK"
            if current.get(alarm.name) == state:
                continue
            watched = alarm.expression or alarm.metrics[0].name
            queue = alarm.metrics[0].dimension[1]
            reason = (
                f"Threshold Crossed: {watched} of {queue} is {value:g} "
                f"({'' if breaching else 'not '}{alarm.comparison_operator} {alarm.threshold:g})"
            )
            cloudwatch.set_alarm_state(AlarmName=alarm.name, StateValue=state, StateReason=reason)
            if breaching:
                self._console.say(f"ALARM {alarm.name}: {reason}")
            elif current.get(alarm.name) == "ALARM":
                self._console.say(f"OK    {alarm.name}: back to normal")


def queue_depths(sqs: Any, queue_url: str) -> dict[str, int]:
    """The queue's messages by SQS metric name: visible, in flight and delayed, together every message it holds."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(QUEUE_METRIC_OF_ATTRIBUTE))
    return {QUEUE_METRIC_OF_ATTRIBUTE[name]: int(value) for name, value in attributes["Attributes"].items()}


def _reads_queue_depths(alarm: MetricAlarm) -> bool:
    """Alarms the queue readings can evaluate: on SQS depth metrics, alone or in a QUEUE_EXPRESSIONS sum."""
    on_depths = all(
        metric.namespace == "AWS/SQS" and metric.name in QUEUE_METRIC_OF_ATTRIBUTE.values() for metric in alarm.metrics
    )
    return on_depths and (alarm.expression is None or alarm.expression in QUEUE_EXPRESSIONS)


def _remember_item_size(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["item_bytes"] = len(json.dumps(params.get("Item", {}), default=str))


def _oldest_message_age_s(queue_name: str) -> float | None:
    """From moto's own store when it runs in this process: SQS has no attribute for it, only the metric."""
    queue = sqs_backends[ACCOUNT_ID][REGION].queues.get(queue_name)
    if queue is None:  # moto runs in another process (--load)
        return None
    sent = [message.sent_timestamp for message in list(queue._messages) if message.sent_timestamp]
    return max(0.0, time.time() - min(sent) / 1000) if sent else 0.0


def _values(value: float | list[float]) -> list[float]:
    """EMF holds one value or a list of them (db_writer's latencies, one per record)."""
    return [float(v) for v in value] if isinstance(value, list) else [float(value)]
