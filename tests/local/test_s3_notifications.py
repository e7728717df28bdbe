"""moto's S3 notifications, mended to be the events S3 sends, and their delivery to the function."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local_pipeline.pipeline import pump_notifications
from local_pipeline.stack import QueueSettings
from tests.conftest import load_event
from tests.local.conftest import make_queue, wait_until

BUCKET = "uploads"
EVENTS = QueueSettings("events", 3600)


@pytest.fixture
def bucket(aws) -> str:
    """A versioned bucket, as Terraform creates it, whose notifications go to the `events` queue."""
    queue_url = make_queue(aws, EVENTS)
    s3 = aws("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "image-processor",
                    "QueueArn": EVENTS.arn,
                    "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                }
            ]
        },
    )
    return queue_url


def delivered(aws, queue_url: str) -> list[dict[str, Any]]:
    """Runs the pump until the queue is drained; returns the events it delivered, in order."""
    events: list[dict[str, Any]] = []
    sqs = aws("sqs")
    while True:
        before = len(events)
        pump_notifications(sqs, queue_url, events.append)
        if len(events) == before and not _visible(aws, queue_url):
            return events


def _visible(aws, queue_url: str) -> int:
    attributes = aws("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def shape(document: Any) -> Any:
    """The nesting of keys, without the values."""
    if isinstance(document, dict):
        return {key: shape(value) for key, value in document.items()}
    if isinstance(document, list):
        return [shape(value) for value in document]
    return None


def test_a_put_is_delivered_field_for_field_as_s3_sends_it(aws, bucket):
    aws("s3").put_object(Bucket=BUCKET, Key="photos/holiday 2026/beaché (1).jpg", Body=b"data")

    [event] = delivered(aws, bucket)

    real = load_event("s3_put")  # a real S3 event from an unversioned bucket
    real["Records"][0]["s3"]["object"]["versionId"] = "-"
    assert shape(event) == shape(real)
    record = event["Records"][0]
    assert record["eventName"] == "ObjectCreated:Put"
    # S3 form-encodes keys but keeps "/"; this is the key of the real event above.
    assert record["s3"]["object"]["key"] == real["Records"][0]["s3"]["object"]["key"]
    assert record["s3"]["object"]["size"] == 4
    assert record["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{BUCKET}"
    head = aws("s3").head_object(Bucket=BUCKET, Key="photos/holiday 2026/beaché (1).jpg")
    assert record["s3"]["object"]["versionId"] == head["VersionId"]
    assert record["s3"]["object"]["eTag"] == head["ETag"].strip('"')


def test_a_delete_in_a_versioned_bucket_sends_delete_marker_created(aws, bucket):
    s3 = aws("s3")
    s3.put_object(Bucket=BUCKET, Key="a.jpg", Body=b"data")
    marker = s3.delete_object(Bucket=BUCKET, Key="a.jpg")

    created, removed = delivered(aws, bucket)

    record = removed["Records"][0]
    assert record["eventName"] == "ObjectRemoved:DeleteMarkerCreated"
    assert record["s3"]["object"]["versionId"] == marker["VersionId"]
    # As S3: a removal event does not describe the object it removed.
    assert set(record["s3"]["object"]) == {"key", "versionId", "sequencer"}
    assert set(record) == set(created["Records"][0])


def test_sequencers_sort_in_event_order(aws, bucket):
    s3 = aws("s3")
    for body in (b"1", b"2", b"3"):
        s3.put_object(Bucket=BUCKET, Key="same.jpg", Body=body)
    s3.delete_object(Bucket=BUCKET, Key="same.jpg")

    sequencers = [e["Records"][0]["s3"]["object"]["sequencer"] for e in delivered(aws, bucket)]

    assert len(sequencers) == 4
    assert sequencers == sorted(sequencers)
    assert len(set(sequencers)) == 4


def test_a_multipart_upload_sends_one_event(aws, bucket):
    s3 = aws("s3")
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="big.bin")
    parts = []
    for number, body in ((1, b"a" * 5 * 1024 * 1024), (2, b"b")):
        part = s3.upload_part(Bucket=BUCKET, Key="big.bin", UploadId=upload["UploadId"], PartNumber=number, Body=body)
        parts.append({"PartNumber": number, "ETag": part["ETag"]})
    s3.complete_multipart_upload(
        Bucket=BUCKET, Key="big.bin", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )

    events = delivered(aws, bucket)

    assert [e["Records"][0]["eventName"] for e in events] == ["ObjectCreated:CompleteMultipartUpload"]
    assert events[0]["Records"][0]["s3"]["object"]["eTag"].endswith("-2")


def test_the_set_up_test_event_never_reaches_the_function(aws, bucket):
    # moto sent s3:TestEvent to the queue when the fixture configured the notification.
    assert wait_until(lambda: _visible(aws, bucket), 5, "the test event")

    assert delivered(aws, bucket) == []
    assert _visible(aws, bucket) == 0


def test_patches_are_undone_when_the_block_ends():
    from moto.s3 import notifications
    from moto.s3.models import S3Backend

    from moto_extensions.s3_notifications import moto_sending_s3_notifications, s3_event

    before = notifications._get_s3_event, notifications.send_event, S3Backend.delete_object
    with moto_sending_s3_notifications():
        assert notifications._get_s3_event is s3_event
    assert (notifications._get_s3_event, notifications.send_event, S3Backend.delete_object) == before


def test_pump_hands_each_notification_over_once(aws):
    queue_url = make_queue(aws, EVENTS)
    notification = load_event("s3_put")
    aws("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(notification))

    assert delivered(aws, queue_url) == [notification]
    assert delivered(aws, queue_url) == []
