"""scripts.reprocess's synthetic events through both handlers in moto: a re-render replaces the record it
was made for, never a newer upload's, and a photo that predates the stack gets a record that the next real
upload still replaces."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from PIL import Image

from image_processor import fingerprints
from sample_images import images
from scripts import reprocess
from tests.conftest import load_event, s3_event

RENDERED_WITH = "256;thumbnails/;52428800;100000000;0;1"


def target(stack):
    return reprocess.Target(stack.upload_bucket, stack.thumbnail_bucket, stack.table_name, "image-processor")


def deliver(stack, db_writer, context) -> None:
    """What db_writer's event source does: the queue's messages to db_writer, then deleted."""
    template = load_event("sqs_batch")["Records"][0]
    messages = stack.sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10)["Messages"]
    records = [template | {"messageId": m["MessageId"], "body": m["Body"]} for m in messages]
    assert db_writer.lambda_handler({"Records": records}, context) == {"batchItemFailures": []}
    for message in messages:
        stack.sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"])


def listed(stack, key: str):
    [page] = reprocess.listed(stack.s3, stack.upload_bucket, key)
    [stored] = page
    return stored


def upload(stack, key: str, data: bytes, sequencer: str) -> dict:
    etag = stack.s3.put_object(Bucket=stack.upload_bucket, Key=key, Body=data)["ETag"].strip('"')
    return s3_event("s3_put", bucket=stack.upload_bucket, key=key, sequencer=sequencer, etag=etag)


def thumbnail_width(stack, key: str) -> int:
    body = stack.s3.get_object(Bucket=stack.thumbnail_bucket, Key=f"thumbnails/{key}.webp")["Body"].read()
    return Image.open(io.BytesIO(body)).width


def test_a_rerender_listed_before_a_new_upload_leaves_the_new_uploads_thumbnail_and_record(
    stack, image_processor, db_writer, context
):
    # GIVEN a photo processed at upload, then listed by a reprocess run
    image_processor.lambda_handler(upload(stack, "race.jpg", images.jpeg(400, 300), "0A"), context)
    deliver(stack, db_writer, context)
    stale = reprocess.synthetic_event(listed(stack, "race.jpg"), stack.item("race.jpg"), stack.upload_bucket)
    assert stale["Records"][0]["s3"]["object"]["sequencer"] == "0A"

    # WHEN a new (portrait) photo is uploaded and processed before the run's invocation for the old one
    image_processor.lambda_handler(upload(stack, "race.jpg", images.jpeg(300, 400), "0B"), context)
    deliver(stack, db_writer, context)
    new_record = stack.item("race.jpg")
    image_processor.lambda_handler(stale, context)
    deliver(stack, db_writer, context)

    # THEN the thumbnail and the record are still the new photo's
    assert thumbnail_width(stack, "race.jpg") == 192
    assert stack.item("race.jpg") == new_record


def test_a_rerender_of_the_same_photo_replaces_its_record(stack, image_processor, db_writer, context):
    image_processor.lambda_handler(upload(stack, "same.jpg", images.jpeg(400, 300), "0A"), context)
    deliver(stack, db_writer, context)
    first = stack.item("same.jpg")

    event = reprocess.synthetic_event(listed(stack, "same.jpg"), first, stack.upload_bucket)
    result = image_processor.lambda_handler(event, context)
    deliver(stack, db_writer, context)

    assert result["results"] == [{"key": "same.jpg", "status": "PROCESSED", "reason": None}]
    again = stack.item("same.jpg")
    assert (again["event_name"], again["sequencer"], again["etag"]) == ("ObjectCreated:Reprocess", "0A", first["etag"])
    assert again["processed_at"] > first["processed_at"]
    assert reprocess.why_rerender(listed(stack, "same.jpg"), again, RENDERED_WITH, stack.s3, target(stack)) == ""


def test_a_photo_older_than_the_stack_gets_a_record_the_next_upload_replaces(
    stack, image_processor, db_writer, context
):
    # GIVEN a photo in the bucket that no event ever announced
    stack.s3.put_object(Bucket=stack.upload_bucket, Key="old.jpg", Body=images.jpeg(400, 300))
    stored = listed(stack, "old.jpg")
    assert reprocess.why_rerender(stored, None, RENDERED_WITH, stack.s3, target(stack)) == "no record"

    image_processor.lambda_handler(reprocess.synthetic_event(stored, None, stack.upload_bucket), context)
    deliver(stack, db_writer, context)
    record = stack.item("old.jpg")
    assert (record["status"], record["event_time"], record.get("sequencer")) == (
        "PROCESSED",
        stored.last_modified,
        None,
    )
    assert thumbnail_width(stack, "old.jpg") == 256

    # WHEN it is uploaded again, with a real event
    event = upload(stack, "old.jpg", images.jpeg(300, 400), "0A")
    event["Records"][0]["eventTime"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    image_processor.lambda_handler(event, context)
    deliver(stack, db_writer, context)

    assert (stack.item("old.jpg")["sequencer"], thumbnail_width(stack, "old.jpg")) == ("0A", 192)


def test_a_missing_thumbnail_or_other_settings_are_reasons_to_render_again(stack, image_processor, db_writer, context):
    image_processor.lambda_handler(upload(stack, "why.jpg", images.jpeg(400, 300), "0A"), context)
    deliver(stack, db_writer, context)
    stored, record = listed(stack, "why.jpg"), stack.item("why.jpg")

    assert reprocess.why_rerender(
        stored, record, "128;thumbnails/;52428800;100000000;0;1", stack.s3, target(stack)
    ) == (f"rendered with {RENDERED_WITH}")
    stack.s3.delete_object(Bucket=stack.thumbnail_bucket, Key="thumbnails/why.jpg.webp")
    assert reprocess.why_rerender(stored, record, RENDERED_WITH, stack.s3, target(stack)) == (
        "thumbnail thumbnails/why.jpg.webp is missing"
    )
    # AND a record db_writer wrote before schema_version 2, its one thumbnail in flat fields, says the same
    [thumbnail] = record.pop("thumbnails")
    flat = {f"thumbnail_{name}": thumbnail[name] for name in ("key", "bytes", "width", "height")}
    assert reprocess.why_rerender(stored, record | flat, RENDERED_WITH, stack.s3, target(stack)) == (
        "thumbnail thumbnails/why.jpg.webp is missing"
    )


def test_a_record_made_before_the_fingerprints_is_kept_but_named_and_forced_renders_add_them(
    stack, image_processor, db_writer, context
):
    # GIVEN a photo whose record was written before placeholder, dominant_color and phash existed
    image_processor.lambda_handler(upload(stack, "older.jpg", images.jpeg(400, 300), "0A"), context)
    deliver(stack, db_writer, context)
    stack.dynamodb.update_item(
        TableName=stack.table_name,
        Key={"image_key": {"S": "older.jpg"}},
        UpdateExpression="REMOVE placeholder, dominant_color, phash",
    )
    stored, record = listed(stack, "older.jpg"), stack.item("older.jpg")

    # THEN its settings still match, so only --force re-renders it, but the script names what it lacks
    assert reprocess.why_rerender(stored, record, RENDERED_WITH, stack.s3, target(stack)) == ""
    assert reprocess.missing_later_fields(record) == ["placeholder", "dominant_color", "phash"]

    # WHEN it is re-rendered (as --force does), the record has them
    image_processor.lambda_handler(reprocess.synthetic_event(stored, record, stack.upload_bucket), context)
    deliver(stack, db_writer, context)
    assert reprocess.missing_later_fields(stack.item("older.jpg")) == []


def test_only_processed_records_lack_fingerprints():
    assert reprocess.missing_later_fields(None) == []
    assert reprocess.missing_later_fields({"status": "REJECTED", "reason": "not_an_image"}) == []
    assert reprocess.missing_later_fields({"status": "DELETED"}) == []


def test_the_later_fields_are_those_image_processor_adds_since_schema_2():
    assert ("thumbnail_source", *fingerprints.FIELDS) == reprocess.LATER_FIELDS
