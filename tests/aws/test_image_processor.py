"""image_processor against moto: real S3 event shapes in, thumbnails and metadata messages out."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re

import pytest
from botocore.awsrequest import AWSResponse
from PIL import Image

from image_processor.config import ConfigError
from pipeline_common.metadata_message import check_message
from sample_images import images
from tests.conftest import fresh_import, load_event, s3_event

TRICKY_KEY = "photos/holiday 2026/beaché (1)+100%.jpg"


def upload(stack, key: str, data: bytes) -> None:
    stack.s3.put_object(Bucket=stack.upload_bucket, Key=key, Body=data)


def json_lines(captured: str) -> list[dict]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


def test_put_event_with_encoded_key_writes_thumbnail_and_processed_message(stack, image_processor, context):
    data = images.jpeg(1200, 800)
    upload(stack, TRICKY_KEY, data)

    image_processor.lambda_handler(
        s3_event("s3_put", bucket=stack.upload_bucket, key=TRICKY_KEY, size=len(data)), context
    )

    thumbnail_key = f"thumbnails/{TRICKY_KEY}.webp"
    assert stack.thumbnail_keys() == [thumbnail_key]
    stored = stack.s3.get_object(Bucket=stack.thumbnail_bucket, Key=thumbnail_key)
    assert stored["ContentType"] == "image/webp"
    assert Image.open(io.BytesIO(stored["Body"].read())).size == (256, 171)
    [message] = stack.queued_messages()
    assert check_message(message) == message
    [thumbnail] = message["thumbnails"]
    assert thumbnail["bytes"] == stored["ContentLength"]
    fingerprints = {"placeholder": "", "dominant_color": "", "phash": ""}
    assert message | {
        "processing_ms": 0,
        "processed_at": "",
        "thumbnails": [thumbnail | {"bytes": 0}],
    } | fingerprints == {
        "schema_version": 2,
        "status": "PROCESSED",
        "reason": None,
        "reason_detail": None,
        "bucket": stack.upload_bucket,
        "key": TRICKY_KEY,
        "version_id": None,
        "size": len(data),
        # The object's own ETag, as GetObject returned it, not the one in the event.
        "etag": hashlib.md5(data).hexdigest(),
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
        "thumbnail_source": "primary",
        "exif": {},
        **fingerprints,
        "thumbnail_bucket": stack.thumbnail_bucket,
        "thumbnails": [{"size": 256, "key": thumbnail_key, "bytes": 0, "width": 256, "height": 171}],
        "rendered_with": "256;thumbnails/;52428800;100000000;0;1",
        "processing_ms": 0,
        "processed_at": "",
    }
    assert message["processing_ms"] > 0
    assert len(base64.b64decode(message["placeholder"], validate=True)) >= 5
    assert re.fullmatch(r"#[0-9a-f]{6}", message["dominant_color"])
    assert re.fullmatch(r"[0-9a-f]{16}", message["phash"])


@pytest.mark.parametrize("event_name", ["s3_multipart", "s3_copy", "s3_post"])
def test_every_object_created_shape_is_processed(stack, image_processor, context, event_name):
    key = load_event(event_name)["Records"][0]["s3"]["object"]["key"]
    data = images.encode(images.photo(600, 400), "PNG")
    upload(stack, key, data)

    image_processor.lambda_handler(s3_event(event_name, bucket=stack.upload_bucket, key=key, size=len(data)), context)

    [message] = stack.queued_messages()
    assert (message["status"], message["format"]) == ("PROCESSED", "PNG")
    assert stack.thumbnail_keys() == [f"thumbnails/{key}.webp"]


def test_reprocessing_overwrites_the_same_thumbnail(stack, image_processor, context):
    data = images.jpeg()
    upload(stack, "a.jpg", data)
    event = s3_event("s3_put", bucket=stack.upload_bucket, key="a.jpg", size=len(data))

    image_processor.lambda_handler(event, context)
    image_processor.lambda_handler(event, context)

    assert stack.thumbnail_keys() == ["thumbnails/a.jpg.webp"]


def test_removed_event_deletes_thumbnail_and_sends_deleted(stack, image_processor, context):
    data = images.jpeg()
    upload(stack, TRICKY_KEY, data)
    image_processor.lambda_handler(
        s3_event("s3_put", bucket=stack.upload_bucket, key=TRICKY_KEY, size=len(data)), context
    )
    stack.s3.delete_object(Bucket=stack.upload_bucket, Key=TRICKY_KEY)
    stack.sqs.purge_queue(QueueUrl=stack.queue_url)

    image_processor.lambda_handler(s3_event("s3_delete", bucket=stack.upload_bucket, key=TRICKY_KEY), context)

    assert stack.thumbnail_keys() == []
    [message] = stack.queued_messages()
    assert (message["status"], message["key"], message["event_name"]) == ("DELETED", TRICKY_KEY, "ObjectRemoved:Delete")
    assert check_message(message) == message


@pytest.mark.parametrize(("setting", "source"), [("true", "embedded"), ("false", "primary")])
def test_a_heic_record_and_log_say_which_image_made_the_thumbnail(stack, monkeypatch, context, capsys, setting, source):
    # GIVEN an iPhone-style HEIC with its 320-pixel thumbnail, and EMBEDDED_THUMBNAILS on or off
    monkeypatch.setenv("EMBEDDED_THUMBNAILS", setting)
    monkeypatch.setenv("THUMBNAIL_BUCKET", stack.thumbnail_bucket)
    monkeypatch.setenv("METADATA_QUEUE_URL", stack.queue_url)
    image_processor = fresh_import("image_processor.handler")
    upload(stack, "IMG_0001.HEIC", images.heic(images.photo(1200, 900), thumbnails=(320,)))

    image_processor.lambda_handler(s3_event("s3_put", bucket=stack.upload_bucket, key="IMG_0001.HEIC"), context)

    [message] = stack.queued_messages()
    assert (message["status"], message["thumbnail_source"]) == ("PROCESSED", source)
    assert (message["thumbnails"][0]["width"], message["thumbnails"][0]["height"]) == (256, 192)
    assert message["rendered_with"].endswith(f";{int(setting == 'true')}")
    [log] = [line for line in json_lines(capsys.readouterr().out) if "level" in line]
    assert log["thumbnail_source"] == source


def test_extra_sizes_are_written_listed_in_the_message_and_deleted_with_the_upload(stack, monkeypatch, context):
    monkeypatch.setenv("THUMBNAIL_SIZE", "128")
    monkeypatch.setenv("EXTRA_THUMBNAIL_SIZES", "512")
    monkeypatch.setenv("THUMBNAIL_BUCKET", stack.thumbnail_bucket)
    monkeypatch.setenv("METADATA_QUEUE_URL", stack.queue_url)
    image_processor = fresh_import("image_processor.handler")
    upload(stack, "a.jpg", images.jpeg(1200, 800))

    image_processor.lambda_handler(s3_event("s3_put", bucket=stack.upload_bucket, key="a.jpg"), context)

    [message] = stack.queued_messages()
    assert [(rendition["size"], rendition["key"], rendition["width"]) for rendition in message["thumbnails"]] == [
        (128, "thumbnails/a.jpg.webp", 128),
        (512, "thumbnails/_sizes/512/a.jpg.webp", 512),
    ]
    assert message["rendered_with"].startswith("128,512;thumbnails/;")
    for rendition in message["thumbnails"]:
        stored = stack.s3.get_object(Bucket=stack.thumbnail_bucket, Key=rendition["key"])
        assert Image.open(stored["Body"]).size == (rendition["width"], rendition["height"])

    stack.s3.delete_object(Bucket=stack.upload_bucket, Key="a.jpg")
    image_processor.lambda_handler(s3_event("s3_delete", bucket=stack.upload_bucket, key="a.jpg"), context)

    assert stack.thumbnail_keys() == []


def test_a_synchronous_caller_gets_each_objects_status_and_reason(stack, image_processor, context):
    upload(stack, "good.jpg", images.jpeg())
    upload(stack, "notes.txt", b"not an image at all")
    event = s3_event("s3_put", bucket=stack.upload_bucket, key="good.jpg")
    event["Records"] += s3_event("s3_put", bucket=stack.upload_bucket, key="notes.txt")["Records"]

    result = image_processor.lambda_handler(event, context)

    assert result["results"] == [
        {"key": "good.jpg", "status": "PROCESSED", "reason": None},
        {"key": "notes.txt", "status": "REJECTED", "reason": "not_an_image"},
    ]
    assert (result["PROCESSED"], result["REJECTED"]) == (1, 1)


def test_late_removed_event_keeps_the_thumbnail_of_a_newer_upload(stack, image_processor, context):
    # GIVEN the key was deleted and uploaded again before the delete event arrived
    data = images.jpeg()
    upload(stack, "again.jpg", data)
    image_processor.lambda_handler(s3_event("s3_put", bucket=stack.upload_bucket, key="again.jpg"), context)

    # WHEN the old delete event is delivered
    image_processor.lambda_handler(s3_event("s3_delete", bucket=stack.upload_bucket, key="again.jpg"), context)

    # THEN the thumbnail of the current object stays
    assert stack.thumbnail_keys() == ["thumbnails/again.jpg.webp"]


def test_test_event_is_ignored(stack, image_processor, context):
    result = image_processor.lambda_handler(load_event("s3_test_event"), context)

    assert result == {"PROCESSED": 0, "REJECTED": 0, "DELETED": 0, "IGNORED": 0, "results": []}
    assert stack.queued_messages() == []


def test_oversized_object_is_rejected_from_event_size_without_download(stack, image_processor, context):
    # The object is not even in the bucket: a download attempt would have said source_missing.
    event = s3_event("s3_multipart", bucket=stack.upload_bucket, key="huge.jpg", size=60 * 1024 * 1024)

    image_processor.lambda_handler(event, context)

    [message] = stack.queued_messages()
    assert (message["status"], message["reason"]) == ("REJECTED", "too_many_bytes")
    assert message["reason_detail"] == "62,914,560 bytes is over MAX_IMAGE_BYTES=52,428,800"


def test_not_an_image_is_rejected_with_reason_and_warning_log(stack, image_processor, context, capsys):
    upload(stack, "notes.jpg", b"meeting notes, definitely not a JPEG\n")

    image_processor.lambda_handler(s3_event("s3_put", bucket=stack.upload_bucket, key="notes.jpg", size=37), context)

    [message] = stack.queued_messages()
    assert (message["status"], message["reason"]) == ("REJECTED", "not_an_image")
    assert check_message(message) == message
    assert "format" not in message and "thumbnails" not in message
    [log] = [line for line in json_lines(capsys.readouterr().out) if "level" in line]
    assert log["level"] == "WARNING"
    assert (log["key"], log["outcome"], log["reason"]) == ("notes.jpg", "REJECTED", "not_an_image")
    assert log["request_id"] == context.aws_request_id


def test_rejected_overwrite_removes_the_previous_thumbnail(stack, image_processor, context):
    upload(stack, "swap.jpg", images.jpeg())
    image_processor.lambda_handler(s3_event("s3_put", bucket=stack.upload_bucket, key="swap.jpg"), context)
    upload(stack, "swap.jpg", b"now it is text")

    image_processor.lambda_handler(s3_event("s3_put", bucket=stack.upload_bucket, key="swap.jpg"), context)

    assert stack.thumbnail_keys() == []


def test_object_deleted_before_processing_is_rejected_as_missing(stack, image_processor, context):
    image_processor.lambda_handler(s3_event("s3_put", bucket=stack.upload_bucket, key="gone.jpg", size=10), context)

    [message] = stack.queued_messages()
    assert (message["status"], message["reason"]) == ("REJECTED", "source_missing")


def test_processed_image_logs_a_structured_line_and_emf_metrics(stack, image_processor, context, capsys):
    data = images.jpeg()
    upload(stack, "log.jpg", data)

    image_processor.lambda_handler(s3_event("s3_put", bucket=stack.upload_bucket, key="log.jpg"), context)

    cold_start, log, emf = json_lines(capsys.readouterr().out)
    # A freshly imported handler is a new container: its first invocation reports a cold start.
    assert (cold_start["FunctionName"], cold_start["ColdStart"]) == (context.function_name, 1)
    assert (log["key"], log["outcome"], log["bytes_in"]) == ("log.jpg", "PROCESSED", len(data))
    assert log["bytes_out"] > 0 and log["ms"] > 0 and log["request_id"] == context.aws_request_id
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "ImagePipeline" and directive["Dimensions"] == [["FunctionName"]]
    assert {metric["Name"] for metric in directive["Metrics"]} == {
        "ImagesProcessed",
        "ProcessingTime",
        "BytesIn",
        "BytesOut",
        "ThumbnailsWritten",
    }
    assert emf["FunctionName"] == context.function_name and emf["ImagesProcessed"] == 1


def test_a_late_oversized_event_keeps_the_thumbnail_of_the_newer_upload(stack, image_processor, context):
    # GIVEN the key was overwritten with a good image, processed, after an oversized upload
    upload(stack, "big-then-small.jpg", images.jpeg(800, 600))
    image_processor.lambda_handler(s3_event("s3_put", bucket=stack.upload_bucket, key="big-then-small.jpg"), context)
    stack.sqs.purge_queue(QueueUrl=stack.queue_url)

    # WHEN the oversized upload's event arrives late
    late = s3_event("s3_put", bucket=stack.upload_bucket, key="big-then-small.jpg", size=60 * 1024 * 1024)
    image_processor.lambda_handler(late, context)

    # THEN its record says why it was rejected, and the current image keeps its thumbnail
    [message] = stack.queued_messages()
    assert (message["status"], message["reason"]) == ("REJECTED", "too_many_bytes")
    assert stack.thumbnail_keys() == ["thumbnails/big-then-small.jpg.webp"]


def test_events_from_the_thumbnails_bucket_are_ignored_not_thumbnailed_again(stack, image_processor, context, capsys):
    # GIVEN a misconfiguration: the thumbnails bucket notifies image_processor of its own writes
    key = "thumbnails/a.jpg.webp"
    stack.s3.put_object(Bucket=stack.thumbnail_bucket, Key=key, Body=images.encode(images.photo(), "WEBP"))

    result = image_processor.lambda_handler(s3_event("s3_put", bucket=stack.thumbnail_bucket, key=key), context)

    assert result["IGNORED"] == 1 and stack.queued_messages() == []
    assert stack.thumbnail_keys() == [key]
    [log] = [line for line in json_lines(capsys.readouterr().out) if "level" in line]
    assert log["level"] == "ERROR" and "THUMBNAIL_BUCKET" in log["message"]


# --- a key that changes while its thumbnail is being made ------------------------------------------------


def when_thumbnail_is_written(image_processor, change, *, times: int = 1) -> None:
    """Runs `change` the first `times` times image_processor writes a thumbnail, before the write lands:
    what another event for the same key, processed at the same time, does to the source."""
    calls = []

    def before_put(**_):
        if len(calls) < times:
            calls.append(True)
            change(len(calls))

    image_processor.s3.meta.events.register("before-send.s3.PutObject", before_put)


def test_a_key_deleted_while_its_thumbnail_is_written_keeps_no_thumbnail(stack, image_processor, context):
    upload(stack, "race.jpg", images.jpeg())
    when_thumbnail_is_written(
        image_processor, lambda _: stack.s3.delete_object(Bucket=stack.upload_bucket, Key="race.jpg")
    )

    image_processor.lambda_handler(s3_event("s3_put", bucket=stack.upload_bucket, key="race.jpg"), context)

    # The delete's own event is processed too, and its DELETED record is the newer one
    assert stack.thumbnail_keys() == []
    [message] = stack.queued_messages()
    assert message["status"] == "PROCESSED"


def test_a_key_overwritten_while_its_thumbnail_is_written_ends_with_the_new_images_thumbnail(
    stack, image_processor, context
):
    upload(stack, "race.png", images.jpeg(1200, 800))
    portrait = images.encode(images.photo(300, 600), "PNG")
    when_thumbnail_is_written(image_processor, lambda _: upload(stack, "race.png", portrait))

    image_processor.lambda_handler(s3_event("s3_put", bucket=stack.upload_bucket, key="race.png"), context)

    stored = stack.s3.get_object(Bucket=stack.thumbnail_bucket, Key="thumbnails/race.png.webp")["Body"].read()
    assert Image.open(io.BytesIO(stored)).size == (128, 256)


def test_a_key_that_keeps_changing_fails_its_event_for_lambda_to_retry(stack, image_processor, context):
    upload(stack, "busy-key.jpg", images.jpeg())
    when_thumbnail_is_written(
        image_processor, lambda n: upload(stack, "busy-key.jpg", images.jpeg(400 + n, 300)), times=100
    )

    with pytest.raises(Exception, match="changed again on each of 5 rounds"):
        image_processor.lambda_handler(s3_event("s3_put", bucket=stack.upload_bucket, key="busy-key.jpg"), context)

    assert stack.queued_messages() == []


# --- versioned uploads bucket (Terraform's default) ------------------------------------------------------


@pytest.fixture
def versioned(stack):
    stack.s3.put_bucket_versioning(Bucket=stack.upload_bucket, VersioningConfiguration={"Status": "Enabled"})
    return stack


def put_version(stack, key: str, data: bytes) -> str:
    return stack.s3.put_object(Bucket=stack.upload_bucket, Key=key, Body=data)["VersionId"]


def test_removing_an_old_version_keeps_the_current_image_and_its_record(versioned, image_processor, context):
    old = put_version(versioned, "v.jpg", images.jpeg(640, 480))
    current = put_version(versioned, "v.jpg", images.jpeg(800, 400))
    image_processor.lambda_handler(
        s3_event("s3_put", bucket=versioned.upload_bucket, key="v.jpg", version_id=current), context
    )
    versioned.sqs.purge_queue(QueueUrl=versioned.queue_url)

    # WHEN an operator deletes the old version: S3 sends ObjectRemoved:Delete, newer than the upload
    versioned.s3.delete_object(Bucket=versioned.upload_bucket, Key="v.jpg", VersionId=old)
    image_processor.lambda_handler(
        s3_event("s3_delete", bucket=versioned.upload_bucket, key="v.jpg", version_id=old), context
    )

    # THEN the record goes on describing the current image, not DELETED
    [message] = versioned.queued_messages()
    assert (message["status"], message["version_id"], message["width"]) == ("PROCESSED", current, 800)
    assert message["event_name"] == "ObjectRemoved:Delete"
    assert versioned.thumbnail_keys() == ["thumbnails/v.jpg.webp"]


def test_removing_a_delete_marker_brings_the_image_and_its_thumbnail_back(versioned, image_processor, context):
    version = put_version(versioned, "undo.jpg", images.jpeg())
    image_processor.lambda_handler(
        s3_event("s3_put", bucket=versioned.upload_bucket, key="undo.jpg", version_id=version), context
    )
    marker = versioned.s3.delete_object(Bucket=versioned.upload_bucket, Key="undo.jpg")["VersionId"]
    image_processor.lambda_handler(
        s3_event("s3_delete_marker", bucket=versioned.upload_bucket, key="undo.jpg", version_id=marker), context
    )
    assert versioned.thumbnail_keys() == []
    versioned.sqs.purge_queue(QueueUrl=versioned.queue_url)

    # WHEN the delete marker is removed (an undelete): S3 sends ObjectRemoved:Delete for the marker
    versioned.s3.delete_object(Bucket=versioned.upload_bucket, Key="undo.jpg", VersionId=marker)
    image_processor.lambda_handler(
        s3_event(
            "s3_delete",
            bucket=versioned.upload_bucket,
            key="undo.jpg",
            version_id=marker,
            sequencer="0062E99A88DC407490",
        ),
        context,
    )

    [message] = versioned.queued_messages()
    assert (message["status"], message["version_id"]) == ("PROCESSED", version)
    assert versioned.thumbnail_keys() == ["thumbnails/undo.jpg.webp"]


def test_a_removed_event_for_a_key_emptied_while_it_is_read_records_deleted(versioned, image_processor, context):
    # GIVEN the key still held an object when the event was handled, but it is deleted before the read
    old = put_version(versioned, "brief.jpg", images.jpeg())
    put_version(versioned, "brief.jpg", images.jpeg(500, 400))
    versioned.s3.delete_object(Bucket=versioned.upload_bucket, Key="brief.jpg", VersionId=old)

    def delete_first(**_):
        image_processor.s3.meta.events.unregister("before-send.s3.GetObject", delete_first)
        versioned.s3.delete_object(Bucket=versioned.upload_bucket, Key="brief.jpg")

    image_processor.s3.meta.events.register("before-send.s3.GetObject", delete_first)

    image_processor.lambda_handler(
        s3_event("s3_delete", bucket=versioned.upload_bucket, key="brief.jpg", version_id=old), context
    )

    # THEN the key holds nothing, and that is what its record and thumbnail say
    [message] = versioned.queued_messages()
    assert message["status"] == "DELETED"
    assert versioned.thumbnail_keys() == []


@pytest.mark.parametrize("versioning", ["Enabled", "Suspended"])
def test_an_oversized_upload_is_never_downloaded_whatever_the_versioning(stack, monkeypatch, context, versioning):
    # GIVEN a function that takes at most 1 KiB, and a 2 KiB upload with versioning on or suspended
    for name, value in {
        "THUMBNAIL_BUCKET": stack.thumbnail_bucket,
        "METADATA_QUEUE_URL": stack.queue_url,
        "MAX_IMAGE_BYTES": "1024",
    }.items():
        monkeypatch.setenv(name, value)
    handler = fresh_import("image_processor.handler")
    stack.s3.put_bucket_versioning(Bucket=stack.upload_bucket, VersioningConfiguration={"Status": versioning})
    response = stack.s3.put_object(Bucket=stack.upload_bucket, Key="huge.tif", Body=b"x" * 2048)
    gets = []
    handler.s3.meta.events.register("before-send.s3.GetObject", lambda **_: gets.append(1))
    event = s3_event(
        "s3_put",
        bucket=stack.upload_bucket,
        key="huge.tif",
        size=2048,
        etag=response["ETag"].strip('"'),
        # S3 names the version of an object written while versioning is suspended "null"
        version_id=response.get("VersionId", "null"),
    )

    handler.lambda_handler(event, context)

    # THEN it is rejected from the event's size, and settling its thumbnail reads no byte of it
    [message] = stack.queued_messages()
    assert (message["status"], message["reason"]) == ("REJECTED", "too_many_bytes")
    assert gets == []


def test_a_delete_marker_event_deletes_the_thumbnail(versioned, image_processor, context):
    version = put_version(versioned, "gone.jpg", images.jpeg())
    image_processor.lambda_handler(
        s3_event("s3_put", bucket=versioned.upload_bucket, key="gone.jpg", version_id=version), context
    )
    versioned.sqs.purge_queue(QueueUrl=versioned.queue_url)
    marker = versioned.s3.delete_object(Bucket=versioned.upload_bucket, Key="gone.jpg")["VersionId"]

    image_processor.lambda_handler(
        s3_event("s3_delete_marker", bucket=versioned.upload_bucket, key="gone.jpg", version_id=marker), context
    )

    [message] = versioned.queued_messages()
    assert (message["status"], message["event_name"]) == ("DELETED", "ObjectRemoved:DeleteMarkerCreated")
    assert versioned.thumbnail_keys() == []


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
        image_processor.lambda_handler(s3_event("s3_put", bucket=stack.upload_bucket, key="busy.jpg"), context)

    assert len(attempts) >= 3  # botocore retried before giving up to Lambda's retries
    assert stack.queued_messages() == []


def test_missing_required_setting_fails_at_start_up_naming_it(stack, monkeypatch):
    monkeypatch.setenv("METADATA_QUEUE_URL", stack.queue_url)
    monkeypatch.delenv("THUMBNAIL_BUCKET", raising=False)

    with pytest.raises(ConfigError, match="THUMBNAIL_BUCKET is required"):
        fresh_import("image_processor.handler")
