"""Queue-depth and arrival alarms follow the queues; alarms on other metrics are left alone."""

from __future__ import annotations

from local_pipeline.metrics import MetricsRecorder, QueueWatcher
from local_pipeline.resources import create_resources
from local_pipeline.stack import default_stack


def alarm_states(cloudwatch) -> dict[str, str]:
    return {a["AlarmName"]: a["StateValue"] for a in cloudwatch.describe_alarms()["MetricAlarms"]}


def test_a_dlq_alarm_fires_with_the_first_message_and_clears_when_it_is_gone(aws, console):
    # GIVEN the stack's resources and the runner's watch over its queues
    stack = default_stack()
    resources = create_resources(stack, aws)
    cloudwatch, sqs = aws("cloudwatch"), aws("sqs")
    watcher = QueueWatcher(stack, sqs, resources.queue_urls, MetricsRecorder(cloudwatch, stack), console)
    dlq_alarm = f"{stack.metadata_dlq.name}-not-empty"
    failures_alarm = f"{stack.processor_failures_queue.name}-not-empty"
    dlq_url = resources.queue_urls[stack.metadata_dlq.name]

    # WHEN the queues are empty
    watcher.step()
    # THEN both DLQ alarms are OK and the runner leaves the alarms on other metrics as moto made them
    states = alarm_states(cloudwatch)
    assert states[dlq_alarm] == "OK"
    assert states[failures_alarm] == "OK"
    queue_alarms = {dlq_alarm, failures_alarm} | {f"{q.name}-new-messages" for q in stack.queues}
    for alarm in cloudwatch.describe_alarms()["MetricAlarms"]:
        if alarm["AlarmName"] not in queue_alarms:
            assert not alarm["StateReason"].startswith("Threshold Crossed"), alarm["AlarmName"]

    # AND the same reading of the queues is recorded as SQS's metrics, for the dashboard
    recorded = cloudwatch.list_metrics(Namespace="AWS/SQS", MetricName="ApproximateNumberOfMessagesVisible")["Metrics"]
    assert {d["Value"] for m in recorded for d in m["Dimensions"]} == {q.name for q in stack.queues}

    # WHEN a message reaches the metadata DLQ
    sqs.send_message(QueueUrl=dlq_url, MessageBody="poison")
    watcher.step()
    # THEN its alarm fires, says why, and the console says so
    [alarm] = cloudwatch.describe_alarms(AlarmNames=[dlq_alarm])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM"
    assert "is 1" in alarm["StateReason"]
    assert alarm_states(cloudwatch)[failures_alarm] == "OK"
    assert any(line.endswith(f"ALARM {dlq_alarm}: {alarm['StateReason']}") for line in console.lines)

    # WHEN the message is gone
    sqs.purge_queue(QueueUrl=dlq_url)
    watcher.step()
    # THEN the alarm is OK again
    assert alarm_states(cloudwatch)[dlq_alarm] == "OK"
    assert any(f"OK    {dlq_alarm}" in line for line in console.lines)


def test_a_dlq_alarm_stays_in_alarm_while_inspected_and_tells_again_of_new_messages(aws, console):
    # GIVEN a message in processor-failures, its alarms evaluated once
    stack = default_stack()
    resources = create_resources(stack, aws)
    cloudwatch, sqs = aws("cloudwatch"), aws("sqs")
    watcher = QueueWatcher(stack, sqs, resources.queue_urls, MetricsRecorder(cloudwatch, stack), console)
    queue = stack.processor_failures_queue.name
    url = resources.queue_urls[queue]
    watcher.step()
    sqs.send_message(QueueUrl=url, MessageBody="failed event")
    watcher.step()
    assert alarm_states(cloudwatch)[f"{queue}-not-empty"] == "ALARM"
    assert alarm_states(cloudwatch)[f"{queue}-new-messages"] == "ALARM"

    # WHEN an operator receives the message to read it, as the runbook says, and nothing else arrives
    sqs.receive_message(QueueUrl=url, VisibilityTimeout=300)
    watcher.step()
    # THEN the depth alarm stays in ALARM (the message is in flight, not gone); the arrivals alarm is OK
    assert alarm_states(cloudwatch)[f"{queue}-not-empty"] == "ALARM"
    assert alarm_states(cloudwatch)[f"{queue}-new-messages"] == "OK"

    # WHEN another failed event arrives while the depth alarm is still in ALARM
    sqs.send_message(QueueUrl=url, MessageBody="another failed event")
    watcher.step()
    # THEN the arrivals alarm fires again, so someone hears of it
    assert alarm_states(cloudwatch)[f"{queue}-new-messages"] == "ALARM"
    reason = f"Threshold Crossed: DIFF(visible + in_flight) of {queue} is 1 (GreaterThanThreshold 0)"
    assert any(line.endswith(f"ALARM {queue}-new-messages: {reason}") for line in console.lines)
