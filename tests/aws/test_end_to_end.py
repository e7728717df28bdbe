"""The whole pipeline in one process: S3 (with real notifications) -> image_processor -> SQS -> db_writer -> DynamoDB.

moto delivers the uploads bucket's notifications to an SQS queue; the test plays the Lambda
service: it hands each notification to image_processor and each metadata batch to db_writer,
deleting only the messages db_writer did not report as failed, as Lambda's event source mapping does.
"""

from __future__ import annotations

import json

import pytest

from sample_images import images


@pytest.fixture
def notifications(stack) -> str:
    url = stack.sqs.create_queue(QueueName="s3-notifications")["QueueUrl"]
    arn = stack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stack.s3.put_bucket_notification_configuration(
        Bucket=stack.upload_bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]
        },
    )
    return url


def deliver_s3_notifications(stack, notifications_url, image_processor, context) -> None:
    while messages := stack.sqs.receive_message(QueueUrl=notifications_url, MaxNumberOfMessages=10).get("Messages"):
        for notification in messages:
            image_processor.lambda_handler(json.loads(notification["Body"]), context)
            stack.sqs.delete_message(QueueUrl=notifications_url, ReceiptHandle=notification["ReceiptHandle"])


def run_event_source_mapping(stack, db_writer, context, *, max_polls: int = 20) -> int:
    """Polls the metadata queue like Lambda's SQS event source mapping; returns how many batches ran."""
    batches = 0
    for _ in range(max_polls):
        response = stack.sqs.receive_message(
            QueueUrl=stack.queue_url, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"]
        )
        messages = response.get("Messages", [])
        if not messages:
            break
        event = {
            "Records": [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": message["Attributes"],
                    "eventSource": "aws:sqs",
                }
                for message in messages
            ]
        }
        failed = {
            failure["itemIdentifier"] for failure in db_writer.lambda_handler(event, context)["batchItemFailures"]
        }
        batches += 1
        for message in messages:
            if message["MessageId"] in failed:
                # What the visibility timeout does on AWS, without waiting for it.
                stack.sqs.change_message_visibility(
                    QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                stack.sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return batches


def test_upload_becomes_thumbnail_and_record(stack, notifications, image_processor, db_writer, context):
    key = "albums/summer 2026/été+1.jpg"
    stack.s3.put_object(Bucket=stack.upload_bucket, Key=key, Body=images.jpeg(1600, 1200))
    stack.s3.put_object(Bucket=stack.upload_bucket, Key="broken.png", Body=b"\x89PNG\r\n\x1a\n garbage")

    deliver_s3_notifications(stack, notifications, image_processor, context)
    run_event_source_mapping(stack, db_writer, context)

    record = stack.item(key)
    assert record["status"] == "PROCESSED"
    [thumbnail] = record["thumbnails"]
    assert (record["width"], record["height"], thumbnail["width"]) == (1600, 1200, 256)
    assert stack.thumbnail_keys() == [thumbnail["key"]] == [f"thumbnails/{key}.webp"]
    rejected = stack.item("broken.png")
    assert (rejected["status"], rejected["reason"]) == ("REJECTED", "truncated_image")


def test_delete_removes_thumbnail_and_marks_record_deleted(stack, notifications, image_processor, db_writer, context):
    stack.s3.put_object(Bucket=stack.upload_bucket, Key="temp.jpg", Body=images.jpeg())
    deliver_s3_notifications(stack, notifications, image_processor, context)
    run_event_source_mapping(stack, db_writer, context)

    stack.s3.delete_object(Bucket=stack.upload_bucket, Key="temp.jpg")
    deliver_s3_notifications(stack, notifications, image_processor, context)
    run_event_source_mapping(stack, db_writer, context)

    assert stack.item("temp.jpg")["status"] == "DELETED"
    assert stack.thumbnail_keys() == []


def test_poison_message_reaches_the_dlq_after_max_receive_count(stack, db_writer, context):
    stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody='{"schema_version": 99}')
    stack.sqs.send_message(
        QueueUrl=stack.queue_url,
        MessageBody=json.dumps(
            {
                "schema_version": 2,
                "status": "DELETED",
                "reason": None,
                "reason_detail": None,
                "bucket": "b",
                "key": "fine.jpg",
                "version_id": None,
                "size": None,
                "etag": None,
                "sequencer": None,
                "event_time": "2026-11-22T10:00:00Z",
                "event_name": "ObjectRemoved:Delete",
                "processing_ms": 3.1,
                "processed_at": "2026-11-22T10:00:00.120Z",
            }
        ),
    )

    batches = run_event_source_mapping(stack, db_writer, context)

    # The good message was written at once; the poison one was received maxReceiveCount (5) times.
    assert stack.item("fine.jpg")["status"] == "DELETED"
    assert batches == 5
    dead = stack.sqs.receive_message(QueueUrl=stack.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert [message["Body"] for message in dead] == ['{"schema_version": 99}']
    attributes = stack.sqs.get_queue_attributes(
        QueueUrl=stack.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"
