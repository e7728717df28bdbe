"""Sets the queue-depth alarms' states from the queues, which moto's CloudWatch does not do itself."""

from __future__ import annotations

import operator
from typing import Any

from local_pipeline.console import Console
from local_pipeline.stack import MetricAlarm

# CloudWatch's SQS metrics and the queue attributes that hold the same figure.
QUEUE_ATTRIBUTE_OF_METRIC = {
    "ApproximateNumberOfMessagesVisible": "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible": "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed": "ApproximateNumberOfMessagesDelayed",
}
COMPARISONS = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
# How often the queues are read: an alarm fires within about this long, where CloudWatch takes minutes.
CHECK_INTERVAL_S = 1.0


def evaluated_alarms(alarms: tuple[MetricAlarm, ...]) -> tuple[MetricAlarm, ...]:
    """The alarms whose metric is a queue attribute; the others keep moto's INSUFFICIENT_DATA."""
    return tuple(a for a in alarms if a.namespace == "AWS/SQS" and a.metric_name in QUEUE_ATTRIBUTE_OF_METRIC)


class AlarmEvaluator:
    """One step: read each alarm's queue and set the alarm's state where it changed."""

    def __init__(self, alarms: tuple[MetricAlarm, ...], cloudwatch: Any, sqs: Any, console: Console) -> None:
        self._alarms = evaluated_alarms(alarms)
        self._cloudwatch = cloudwatch
        self._sqs = sqs
        self._console = console
        self._queue_urls: dict[str, str] = {}

    def step(self) -> None:
        current = {
            a["AlarmName"]: a["StateValue"]
            for a in self._cloudwatch.describe_alarms(AlarmNames=[a.name for a in self._alarms])["MetricAlarms"]
        }
        for alarm in self._alarms:
            value = self._metric_value(alarm)
            breaching = COMPARISONS[alarm.comparison_operator](value, alarm.threshold)
            state = "ALARM" if breaching else "OK"
            if current.get(alarm.name) == state:
                continue
            reason = (
                f"Threshold Crossed: {alarm.metric_name} of {alarm.dimension[1]} is {value:g} "
                f"({'' if breaching else 'not '}{alarm.comparison_operator} {alarm.threshold:g})"
            )
            self._cloudwatch.set_alarm_state(AlarmName=alarm.name, StateValue=state, StateReason=reason)
            if breaching:
                self._console.say(f"ALARM {alarm.name}: {reason}")
            elif current.get(alarm.name) == "ALARM":
                self._console.say(f"OK    {alarm.name}: back to normal")

    def _metric_value(self, alarm: MetricAlarm) -> float:
        queue = alarm.dimension[1]
        if queue not in self._queue_urls:
            self._queue_urls[queue] = self._sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        attribute = QUEUE_ATTRIBUTE_OF_METRIC[alarm.metric_name]
        response = self._sqs.get_queue_attributes(QueueUrl=self._queue_urls[queue], AttributeNames=[attribute])
        return float(response["Attributes"][attribute])
