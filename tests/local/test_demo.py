"""The demo's verdict when the pipeline does not account for every upload."""

from __future__ import annotations

import io

import pytest
from PIL import Image

import image_processor.imaging  # noqa: F401 - registers the HEIF plugin, as in the function
from local_pipeline import demo


@pytest.fixture
def uploads_and_table(aws) -> tuple[str, str]:
    aws("s3").create_bucket(Bucket="uploads")
    aws("dynamodb").create_table(
        TableName="images",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "image_key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "image_key", "AttributeType": "S"}],
    )
    return "uploads", "images"


def table(console) -> str:
    return next(line for line in console.lines if line.startswith("key "))


def test_the_demo_images_are_what_their_keys_say():
    for upload in demo.demo_uploads():
        if upload.expected_status == "REJECTED":
            continue
        with Image.open(io.BytesIO(upload.body)) as image:
            subtype = {"HEIF": "heic"}.get(image.format, image.format.lower())  # HEIC is HEIF with HEVC inside
            assert upload.content_type == f"image/{subtype}", upload.key


def test_the_demo_fails_when_an_upload_has_no_record(aws, console, uploads_and_table, monkeypatch):
    # GIVEN no pipeline at all: nothing will write a record
    monkeypatch.setattr(demo, "DEMO_TIMEOUT_S", 1)

    ok = demo.run_demo(aws("s3"), aws("dynamodb"), *uploads_and_table, console)

    assert not ok
    assert any(line.startswith("demo/landscape.jpg") and "MISSING" in line for line in table(console).splitlines())
    assert any("FAILED, no record after 1 s for: demo/landscape.jpg" in line for line in console.lines)


def test_the_demo_fails_on_an_unexpected_status(aws, console, uploads_and_table, monkeypatch):
    # GIVEN every upload recorded, but the non-image as PROCESSED
    monkeypatch.setattr(demo, "DEMO_TIMEOUT_S", 1)
    for upload in demo.demo_uploads():
        aws("dynamodb").put_item(
            TableName="images", Item={"image_key": {"S": upload.key}, "status": {"S": "PROCESSED"}}
        )

    ok = demo.run_demo(aws("s3"), aws("dynamodb"), *uploads_and_table, console)

    assert not ok
    assert "PROCESSED expected REJECTED" in table(console)
    assert any("FAILED, unexpected status for: demo/not-an-image.jpg" in line for line in console.lines)


def test_the_demo_table_shows_each_records_first_thumbnail_whichever_schema_wrote_it():
    # GIVEN a record in schema_version 2's shape and one db_writer wrote before it, in flat fields
    uploads = demo.demo_uploads()[:2]
    records = {
        uploads[0].key: {"status": "PROCESSED", "thumbnails": [{"size": 256, "key": "thumbnails/new.webp"}]},
        uploads[1].key: {"status": "PROCESSED", "thumbnail_key": "thumbnails/old.webp"},
    }

    rows = demo.summary_table(uploads, records).splitlines()[2:]

    assert [row.split()[-1] for row in rows] == ["thumbnails/new.webp", "thumbnails/old.webp"]
