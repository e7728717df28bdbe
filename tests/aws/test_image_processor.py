"""image_processor against moto: real S3 event shapes in, thumbnails and metadata messages out."""

from __future__ import annotations

import io
import json

import pytest
from botocore.awsrequest import AWSResponse
from PIL import Image

from image_processor.config import ConfigError
from tests import images
from tests.conftest import fresh_import, load_event, s3_event

TRICKY_KEY = "photos/holiday 2026/beaché (1)+100%.jpg"


def upload(stack, key: str, data: bytes) -> None:
    stack.s3.put_object(Bucket=stack.uploads_bucket, Key=key, Body=data)


def json_lines(captured: str) -> list[dict]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


def test_put_event_with_encoded_key_writes_thumbnail_and_processed_message(stack, image_processor, context):
    data = images.jpeg(1200, 800)
    upload(stack, TRICKY_KEY, data)

    image_processor.lambda_handler(
        s3_event("s3_put", bucket=stack.uploads_bucket, key=TRICKY_KEY, size=len(data)), context
    )

    thumbnail_key = f"thumbnails/{TRICKY_KEY}.webp"
    assert stack.thumbnail_keys() == [thumbnail_key]
    stored = stack.s3.get_object(Bucket=stack.thumbnails_bucket, Key=thumbnail_key)
    assert stored["ContentType"] == "image/webp"
    assert Image.open(io.BytesIO(stored["Body"].read())).size == (256, 171)
    [message] = stack.queued_messages()
    assert message | {"processing_ms": 0, "processed_at": "", "thumbnail_bytes": 0} == {
        "schema_version": 1,
        "status": "PROCESSED",
        "reason": None,
        "reason_detail": None,
        "bucket": stack.uploads_bucket,
        "key": TRICKY_KEY,
        "version_id": None,
        "size": len(data),
        "etag": "d41d8cd98f00b204e9800998ecf8427e",
        "sequencer": "0062E99A88DC407460",
        "event_time": "2026-11-22T10:00:00.000Z",
        "event_name": "ObjectCreated:Put",
        "format": "JPEG",
        "mime_type": "image/jpeg",
        "width": 1200,
        "height": 800,
        "display_width": 1200,
        "display_height": 800,
        "mode": "RGB",
        "frame_count": 1,
        "exif": {},
        "thumbnail_bucket": stack.thumbnails_bucket,
        "thumbnail_key": thumbnail_key,
        "thumbnail_bytes": 0,
        "thumbnail_width": 256,
        "thumbnail_height": 171,
        "processing_ms": 0,
        "processed_at": "",
    }
    assert message["thumbnail_bytes"] == stored["ContentLength"]
    assert message["processing_ms"] > 0


@pytest.mark.parametrize("event_name", ["s3_multipart", "s3_copy", "s3_post"])
def test_every_object_created_shape_is_processed(stack, image_processor, context, event_name):
    key = load_event(event_name)["Records"][0]["s3"]["object"]["key"]
    data = images.encode(images.photo(600, 400), "PNG")
    upload(stack, key, data)

    image_processor.lambda_handler(s3_event(event_name, bucket=stack.uploads_bucket, key=key, size=len(data)), context)

    [message] = stack.queued_messages()
    assert (message["status"], message["format"]) == ("PROCESSED", "PNG")
    assert stack.thumbnail_keys() == [f"thumbnails/{key}.webp"]


def test_reprocessing_overwrites_the_same_thumbnail(stack, image_processor, context):
    data = images.jpeg()
    upload(stack, "a.jpg", data)
    event = s3_event("s3_put", bucket=stack.uploads_bucket, key="a.jpg", size=len(data))

    image_processor.lambda_handler(event, context)
    image_processor.lambda_handler(event, context)

    assert stack.thumbnail_keys() == ["thumbnails/a.jpg.webp"]


def test_removed_event_deletes_thumbnail_and_sends_deleted(stack, image_processor, context):
    data = images.jpeg()
    upload(stack, TRICKY_KEY, data)
    image_processor.lambda_handler(
        s3_event("s3_put", bucket=stack.uploads_bucket, key=TRICKY_KEY, size=len(data)), context
    )
    stack.s3.delete_object(Bucket=stack.uploads_bucket, Key=TRICKY_KEY)
    stack.sqs.purge_queue(QueueUrl=stack.queue_url)

    image_processor.lambda_handler(s3_event("s3_delete", bucket=stack.uploads_bucket, key=TRICKY_KEY), context)

    assert stack.thumbnail_keys() == []
    [message] = stack.queued_messages()
    assert (message["status"], message["key"], message["event_name"]) == ("DELETED", TRICKY_KEY, "ObjectRemoved:Delete")


def test_late_removed_event_keeps_the_thumbnail_of_a_newer_upload(stack, image_processor, context):
    # GIVEN the key was deleted and uploaded again before the delete event arrived
    data = images.jpeg()
    upload(stack, "again.jpg", data)
    image_processor.lambda_handler(s3_event("s3_put", bucket=stack.uploads_bucket, key="again.jpg"), context)

    # WHEN the old delete event is delivered
    image_processor.lambda_handler(s3_event("s3_delete", bucket=stack.uploads_bucket, key="again.jpg"), context)

    # THEN the thumbnail of the current object stays
    assert stack.thumbnail_keys() == ["thumbnails/again.jpg.webp"]


def test_test_event_is_ignored(stack, image_processor, context):
    result = image_processor.lambda_handler(load_event("s3_test_event"), context)

    assert result == {"PROCESSED": 0, "REJECTED": 0, "DELETED": 0, "IGNORED": 0}
    assert stack.queued_messages() == []


def test_oversized_object_is_rejected_from_event_size_without_download(stack, image_processor, context):
    # The object is not even in the bucket: a download attempt would have said source_missing.
    event = s3_event("s3_multipart", bucket=stack.uploads_bucket, key="huge.jpg", size=60 * 1024 * 1024)

    image_processor.lambda_handler(event, context)

    [message] = stack.queued_messages()
    assert (message["status"], message["reason"]) == ("REJECTED", "too_many_bytes")
    assert message["reason_detail"] == "62,914,560 bytes is over MAX_IMAGE_BYTES=52,428,800"


def test_not_an_image_is_rejected_with_reason_and_warning_log(stack, image_processor, context, capsys):
    upload(stack, "notes.jpg", b"meeting notes, definitely not a JPEG\n")

    image_processor.lambda_handler(s3_event("s3_put", bucket=stack.uploads_bucket, key="notes.jpg", size=37), context)

    [message] = stack.queued_messages()
    assert (message["status"], message["reason"]) == ("REJECTED", "not_an_image")
    assert "format" not in message and "thumbnail_key" not in message
    [log] = [line for line in json_lines(capsys.readouterr().out) if "level" in line]
    assert log["level"] == "WARNING"
    assert (log["key"], log["outcome"], log["reason"]) == ("notes.jpg", "REJECTED", "not_an_image")
    assert log["request_id"] == context.aws_request_id


def test_rejected_overwrite_removes_the_previous_thumbnail(stack, image_processor, context):
    upload(stack, "swap.jpg", images.jpeg())
    image_processor.lambda_handler(s3_event("s3_put", bucket=stack.uploads_bucket, key="swap.jpg"), context)
    upload(stack, "swap.jpg", b"now it is text")

    image_processor.lambda_handler(s3_event("s3_put", bucket=stack.uploads_bucket, key="swap.jpg"), context)

    assert stack.thumbnail_keys() == []


def test_object_deleted_before_processing_is_rejected_as_missing(stack, image_processor, context):
    image_processor.lambda_handler(s3_event("s3_put", bucket=stack.uploads_bucket, key="gone.jpg", size=10), context)

    [message] = stack.queued_messages()
    assert (message["status"], message["reason"]) == ("REJECTED", "source_missing")


def test_processed_image_logs_a_structured_line_and_emf_metrics(stack, image_processor, context, capsys):
    data = images.jpeg()
    upload(stack, "log.jpg", data)

    image_processor.lambda_handler(s3_event("s3_put", bucket=stack.uploads_bucket, key="log.jpg"), context)

    log, emf = json_lines(capsys.readouterr().out)
    assert (log["key"], log["outcome"], log["bytes_in"]) == ("log.jpg", "PROCESSED", len(data))
    assert log["bytes_out"] > 0 and log["ms"] > 0 and log["request_id"] == context.aws_request_id
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "ImagePipeline" and directive["Dimensions"] == [["FunctionName"]]
    assert {metric["Name"] for metric in directive["Metrics"]} == {
        "ImagesProcessed",
        "ProcessingTime",
        "BytesIn",
        "BytesOut",
    }
    assert emf["FunctionName"] == context.function_name and emf["ImagesProcessed"] == 1


class _ServiceUnavailable:
    """A raw HTTP body for botocore: S3's 503 SlowDown, as throttled S3 answers."""

    def stream(self, **_: object):
        yield b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"


def test_transient_s3_failure_raises_so_lambda_retries(stack, image_processor, context):
    upload(stack, "busy.jpg", images.jpeg())
    attempts = []

    def throttle(request, **_):
        attempts.append(request.url)
        return AWSResponse(request.url, 503, {}, _ServiceUnavailable())

    image_processor.s3.meta.events.register("before-send.s3.GetObject", throttle)

    with pytest.raises(Exception, match="SlowDown"):
        image_processor.lambda_handler(s3_event("s3_put", bucket=stack.uploads_bucket, key="busy.jpg"), context)

    assert len(attempts) >= 3  # botocore retried before giving up to Lambda's retries
    assert stack.queued_messages() == []


def test_missing_required_setting_fails_at_start_up_naming_it(stack, monkeypatch):
    monkeypatch.setenv("METADATA_QUEUE_URL", stack.queue_url)
    monkeypatch.delenv("THUMBNAIL_BUCKET", raising=False)

    with pytest.raises(ConfigError, match="THUMBNAIL_BUCKET is required"):
        fresh_import("image_processor.handler")
