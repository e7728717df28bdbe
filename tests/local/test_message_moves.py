"""SQS message move tasks on the local stack, as AWS documents them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_pipeline.stack import queue_arn
from tests.local.conftest import Clients, wait_until

SOURCE, DLQ, OTHER = "work", "work-dlq", "elsewhere"
MOVE_TIMEOUT_S = 30


@pytest.fixture
def queues(aws: Clients) -> dict[str, str]:
    """A source queue whose redrive policy names a DLQ holding three messages, and an unrelated queue."""
    sqs = aws("sqs")
    urls = {name: sqs.create_queue(QueueName=name)["QueueUrl"] for name in (DLQ, OTHER)}
    redrive = json.dumps({"deadLetterTargetArn": queue_arn(DLQ), "maxReceiveCount": 5})
    urls[SOURCE] = sqs.create_queue(QueueName=SOURCE, Attributes={"RedrivePolicy": redrive})["QueueUrl"]
    for body in ("one", "two", "three"):
        sqs.send_message(
            QueueUrl=urls[DLQ],
            MessageBody=body,
            MessageAttributes={"origin": {"DataType": "String", "StringValue": body}},
        )
    return urls


def bodies(aws: Clients, url: str) -> list[str]:
    messages = (
        aws("sqs")
        .receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, MessageAttributeNames=["All"])
        .get("Messages", [])
    )
    assert all(m["MessageAttributes"]["origin"]["StringValue"] == m["Body"] for m in messages)
    return sorted(m["Body"] for m in messages)


def latest(aws: Clients, source: str) -> dict[str, Any]:
    return aws("sqs").list_message_move_tasks(SourceArn=queue_arn(source))["Results"][0]


def test_message_move_task_moves_a_dlq_back_to_its_source_queue(aws: Clients, queues: dict[str, str]):
    handle = aws("sqs").start_message_move_task(SourceArn=queue_arn(DLQ))["TaskHandle"]

    task = wait_until(lambda: (t := latest(aws, DLQ))["Status"] == "COMPLETED" and t, MOVE_TIMEOUT_S, "COMPLETED")

    assert handle and "TaskHandle" not in task and "DestinationArn" not in task
    assert task["ApproximateNumberOfMessagesMoved"] == task["ApproximateNumberOfMessagesToMove"] == 3
    assert bodies(aws, queues[SOURCE]) == ["one", "three", "two"] and bodies(aws, queues[DLQ]) == []


def test_message_move_task_to_a_named_destination(aws: Clients, queues: dict[str, str]):
    aws("sqs").start_message_move_task(SourceArn=queue_arn(DLQ), DestinationArn=queue_arn(OTHER))

    task = wait_until(lambda: (t := latest(aws, DLQ))["Status"] == "COMPLETED" and t, MOVE_TIMEOUT_S, "COMPLETED")

    assert task["DestinationArn"] == queue_arn(OTHER)
    assert bodies(aws, queues[OTHER]) == ["one", "three", "two"] and bodies(aws, queues[SOURCE]) == []


def test_message_move_task_cancelled_at_one_message_a_second(aws: Clients, queues: dict[str, str]):
    sqs = aws("sqs")
    # GIVEN a task moving one message a second, with two still to move after the first
    handle = sqs.start_message_move_task(SourceArn=queue_arn(DLQ), MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
    running = latest(aws, DLQ)
    assert running["Status"] == "RUNNING" and running["TaskHandle"] == handle
    assert running["MaxNumberOfMessagesPerSecond"] == 1 and running["ApproximateNumberOfMessagesToMove"] == 3

    # WHEN it is cancelled
    moved = sqs.cancel_message_move_task(TaskHandle=handle)["ApproximateNumberOfMessagesMoved"]

    # THEN it stops where it was: what it moved is in the source queue, the rest still in the DLQ
    task = wait_until(lambda: (t := latest(aws, DLQ))["Status"] == "CANCELLED" and t, MOVE_TIMEOUT_S, "CANCELLED")
    assert task["ApproximateNumberOfMessagesMoved"] == moved < 3
    assert len(bodies(aws, queues[SOURCE])) == moved and len(bodies(aws, queues[DLQ])) == 3 - moved
    with pytest.raises(ClientError, match="Only a RUNNING task can be cancelled; it is CANCELLED"):
        sqs.cancel_message_move_task(TaskHandle=handle)


def test_message_move_tasks_are_listed_newest_first_one_active_per_source(aws: Clients, queues: dict[str, str]):
    sqs = aws("sqs")
    sqs.start_message_move_task(SourceArn=queue_arn(DLQ), MaxNumberOfMessagesPerSecond=1)
    with pytest.raises(ClientError, match="Only one active task is allowed for a source queue arn"):
        sqs.start_message_move_task(SourceArn=queue_arn(DLQ))
    sqs.cancel_message_move_task(TaskHandle=latest(aws, DLQ)["TaskHandle"])
    wait_until(lambda: latest(aws, DLQ)["Status"] == "CANCELLED", MOVE_TIMEOUT_S, "CANCELLED")
    sqs.start_message_move_task(SourceArn=queue_arn(DLQ), DestinationArn=queue_arn(OTHER))

    listed = sqs.list_message_move_tasks(SourceArn=queue_arn(DLQ), MaxResults=10)["Results"]

    assert [t.get("DestinationArn") for t in listed] == [queue_arn(OTHER), None]


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        ({"SourceArn": queue_arn("missing")}, "ResourceNotFoundException", "SourceArn doesn't exist"),
        ({"SourceArn": queue_arn(OTHER)}, "InvalidParameterValue", "must be configured as a Dead Letter Queue"),
        ({"SourceArn": "work-dlq"}, "InvalidParameterValue", "SourceArn is not an SQS queue ARN"),
        (
            {"SourceArn": queue_arn(DLQ), "MaxNumberOfMessagesPerSecond": 501},
            "InvalidParameterValue",
            "MaxNumberOfMessagesPerSecond must be from 1 to 500",
        ),
    ],
)
def test_message_move_task_refused_with_a_clear_error(aws, queues, arguments, code, message):
    with pytest.raises(ClientError) as refused:
        aws("sqs").start_message_move_task(**arguments)

    assert refused.value.response["Error"]["Code"] == code and message in refused.value.response["Error"]["Message"]


def test_message_move_task_sends_each_message_back_to_the_queue_it_came_from(aws: Clients):
    # GIVEN two queues sharing a DLQ, each with a message SQS dead-lettered after one receive
    sqs = aws("sqs")
    dlq_url = sqs.create_queue(QueueName="shared-dlq")["QueueUrl"]
    redrive = json.dumps({"deadLetterTargetArn": queue_arn("shared-dlq"), "maxReceiveCount": 1})
    urls = {name: sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": redrive})["QueueUrl"] for name in "ab"}
    for name, url in urls.items():
        sqs.send_message(QueueUrl=url, MessageBody=f"from {name}")
        for _ in range(2):  # received once, then moved to the DLQ on the next receive
            sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)
    dead_lettered = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    assert sorted(m["Body"] for m in dead_lettered) == ["from a", "from b"]

    # WHEN a task moves them without a destination
    sqs.start_message_move_task(SourceArn=queue_arn("shared-dlq"))

    # THEN each is back in its own queue
    wait_until(lambda: latest(aws, "shared-dlq")["Status"] == "COMPLETED", MOVE_TIMEOUT_S, "COMPLETED")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=urls["a"])["Messages"]] == ["from a"]
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=urls["b"])["Messages"]] == ["from b"]


def test_message_move_task_fails_on_a_message_with_no_source_of_several(aws: Clients):
    # GIVEN a DLQ of two queues, holding a message sent to it directly
    sqs = aws("sqs")
    dlq_url = sqs.create_queue(QueueName="shared-dlq")["QueueUrl"]
    redrive = json.dumps({"deadLetterTargetArn": queue_arn("shared-dlq"), "maxReceiveCount": 1})
    for name in "ab":
        sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": redrive})
    sqs.send_message(QueueUrl=dlq_url, MessageBody="sent here")

    sqs.start_message_move_task(SourceArn=queue_arn("shared-dlq"))

    task = wait_until(lambda: (t := latest(aws, "shared-dlq"))["Status"] == "FAILED" and t, MOVE_TIMEOUT_S, "FAILED")
    assert "has no queue to go back to: give a DestinationArn" in task["FailureReason"]
    assert task["ApproximateNumberOfMessagesMoved"] == 0
