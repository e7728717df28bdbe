"""Records in moto's CloudWatch the metrics AWS would record, so that the dashboard's widgets have data.

moto stores what put_metric_data sends and records nothing itself. Here, as on AWS: the handlers' Embedded
Metric Format lines become their metrics (CloudWatch Logs does that), each invocation becomes Lambda's
metrics, the queues' attributes SQS's, and db_writer's PutItem calls DynamoDB's.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from moto.sqs.models import sqs_backends

from local_pipeline.stack import ACCOUNT_ID, REGION, FunctionSettings, Stack

# How often the queues are sampled; CloudWatch's SQS metrics come once a minute.
QUEUE_SAMPLE_INTERVAL_S = 5.0
QUEUE_METRIC_OF_ATTRIBUTE = {
    "ApproximateNumberOfMessages": "ApproximateNumberOfMessagesVisible",
    "ApproximateNumberOfMessagesNotVisible": "ApproximateNumberOfMessagesNotVisible",
}
# DynamoDB bills a standard write by the item's size, one unit per KB begun; the item's JSON stands in for it.
WRITE_UNIT_BYTES = 1024
THROTTLING_ERRORS = {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"}


class MetricsRecorder:
    def __init__(self, cloudwatch: Any, sqs: Any, stack: Stack, queue_urls: dict[str, str]) -> None:
        self._cloudwatch = cloudwatch
        self._sqs = sqs
        self._stack = stack
        self._queue_urls = queue_urls
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()

    def invocation_started(self, function: FunctionSettings) -> None:
        with self._lock:
            self._running[function.name] = self._running.get(function.name, 0) + 1
            running = self._running[function.name]
        self._put("AWS/Lambda", ("FunctionName", function.name), [("ConcurrentExecutions", running, "Count")])

    def invocation_ended(self, function: FunctionSettings, duration_ms: float, failed: bool, lines: Iterable[str]):
        with self._lock:
            self._running[function.name] -= 1
        lambda_metrics = [
            ("Invocations", 1, "Count"),
            ("Errors", int(failed), "Count"),
            ("Throttles", 0, "Count"),  # the runner queues invocations rather than refuse them
            ("Duration", duration_ms, "Milliseconds"),
        ]
        self._put("AWS/Lambda", ("FunctionName", function.name), lambda_metrics)
        for line in lines:
            if line.startswith('{"_aws"'):
                self._put_embedded(json.loads(line))

    def sample_queues(self) -> None:
        """One step of a background loop: the queues' depths, and the age of the metadata queue's oldest message."""
        for queue in self._stack.queues:
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=self._queue_urls[queue.name], AttributeNames=list(QUEUE_METRIC_OF_ATTRIBUTE)
            )["Attributes"]
            metrics = [(QUEUE_METRIC_OF_ATTRIBUTE[name], float(value), "Count") for name, value in attributes.items()]
            age_s = _oldest_message_age_s(queue.name)
            if age_s is not None:
                metrics.append(("ApproximateAgeOfOldestMessage", age_s, "Seconds"))
            self._put("AWS/SQS", ("QueueName", queue.name), metrics)

    def watch_table_writes(self, dynamodb: Any) -> None:
        """Counts db_writer's PutItem calls as DynamoDB's table metrics, whether they succeed or not."""
        dynamodb.meta.events.register("before-parameter-build.dynamodb.PutItem", _remember_item_size)
        dynamodb.meta.events.register("after-call.dynamodb.PutItem", self._after_put_item)

    def _after_put_item(self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        error = parsed.get("Error", {}).get("Code")
        table = ("TableName", self._stack.table)
        units = -(-context["item_bytes"] // WRITE_UNIT_BYTES) if error is None else 0
        # AWS leaves the last two out while they are 0; here a 0 shows that the widget is wired up.
        metrics = [
            ("ConsumedWriteCapacityUnits", units, "Count"),
            ("ConditionalCheckFailedRequests", int(error == "ConditionalCheckFailedException"), "Count"),
            ("WriteThrottleEvents", int(error in THROTTLING_ERRORS), "Count"),
        ]
        self._put("AWS/DynamoDB", table, metrics)

    def _put_embedded(self, document: dict[str, Any]) -> None:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dimensions = [{"Name": name, "Value": str(document[name])} for name in dimension_set]
                data = [
                    {"MetricName": m["Name"], "Dimensions": dimensions, "Value": float(document[m["Name"]])}
                    | {"Unit": m.get("Unit", "None"), "Timestamp": _time(document["_aws"]["Timestamp"] / 1000)}
                    for m in directive["Metrics"]
                ]
                self._cloudwatch.put_metric_data(Namespace=directive["Namespace"], MetricData=data)

    def _put(self, namespace: str, dimension: tuple[str, str], metrics: list[tuple[str, float, str]]) -> None:
        dimensions = [{"Name": dimension[0], "Value": dimension[1]}]
        now = _time(time.time())
        data = [
            {"MetricName": name, "Dimensions": dimensions, "Value": float(value), "Unit": unit, "Timestamp": now}
            for name, value, unit in metrics
        ]
        self._cloudwatch.put_metric_data(Namespace=namespace, MetricData=data)


def _remember_item_size(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["item_bytes"] = len(json.dumps(params.get("Item", {}), default=str))


def _oldest_message_age_s(queue_name: str) -> float | None:
    """From moto's own store when it runs in this process: SQS has no attribute for it, only the metric."""
    queue = sqs_backends[ACCOUNT_ID][REGION].queues.get(queue_name)
    if queue is None:  # moto runs in another process (--load)
        return None
    sent = [message.sent_timestamp for message in list(queue._messages) if message.sent_timestamp]
    return max(0.0, time.time() - min(sent) / 1000) if sent else 0.0


def _time(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)
