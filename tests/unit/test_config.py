"""Both functions' configuration: defaults, and a clear error naming any bad variable."""

from __future__ import annotations

import pytest

from db_writer.config import ConfigError as DbWriterConfigError
from db_writer.config import load_settings as load_db_writer_settings
from image_processor.config import ConfigError, Settings, load_settings

REQUIRED = {"THUMBNAIL_BUCKET": "thumbs", "METADATA_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q"}


def test_image_processor_defaults():
    settings = load_settings(REQUIRED)

    assert settings == Settings(thumbnail_bucket="thumbs", metadata_queue_url=REQUIRED["METADATA_QUEUE_URL"])
    assert (settings.thumbnail_size, settings.thumbnail_prefix) == (256, "thumbnails/")
    assert (settings.max_image_bytes, settings.max_image_pixels, settings.include_gps) == (
        52_428_800,
        100_000_000,
        False,
    )


def test_image_processor_reads_every_variable():
    settings = load_settings(
        REQUIRED
        | {
            "THUMBNAIL_SIZE": "512",
            "THUMBNAIL_PREFIX": "small/",
            "MAX_IMAGE_BYTES": "1048576",
            "MAX_IMAGE_PIXELS": "25_000_000",
            "INCLUDE_GPS": "true",
            "EXTRA_THUMBNAIL_SIZES": " 128, 1024",
        }
    )

    assert (settings.thumbnail_size, settings.thumbnail_prefix) == (512, "small/")
    assert settings.thumbnail_sizes == (512, 128, 1024)
    assert (settings.max_image_bytes, settings.max_image_pixels, settings.include_gps) == (1_048_576, 25_000_000, True)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"THUMBNAIL_BUCKET": ""}, "THUMBNAIL_BUCKET is required"),
        ({"METADATA_QUEUE_URL": " "}, "METADATA_QUEUE_URL is required"),
        ({"THUMBNAIL_SIZE": "big"}, "THUMBNAIL_SIZE must be a whole number, got 'big'"),
        ({"THUMBNAIL_SIZE": "0"}, "THUMBNAIL_SIZE must be between 16 and 4096, got 0"),
        ({"MAX_IMAGE_BYTES": "-5"}, "MAX_IMAGE_BYTES must be between"),
        ({"MAX_IMAGE_PIXELS": "1e9"}, "MAX_IMAGE_PIXELS must be a whole number"),
        ({"THUMBNAIL_PREFIX": "thumbs"}, "THUMBNAIL_PREFIX must be empty or a key prefix"),
        ({"THUMBNAIL_PREFIX": "/thumbs/"}, "THUMBNAIL_PREFIX must be empty or a key prefix"),
        ({"INCLUDE_GPS": "maybe"}, "INCLUDE_GPS must be true or false, got 'maybe'"),
        ({"EXTRA_THUMBNAIL_SIZES": "128,,512"}, "EXTRA_THUMBNAIL_SIZES must be sizes separated by commas"),
        ({"EXTRA_THUMBNAIL_SIZES": "128 512"}, "EXTRA_THUMBNAIL_SIZES must be a whole number, got '128 512'"),
        ({"EXTRA_THUMBNAIL_SIZES": "8"}, "EXTRA_THUMBNAIL_SIZES must be between 16 and 4096, got 8"),
        ({"EXTRA_THUMBNAIL_SIZES": "256"}, "EXTRA_THUMBNAIL_SIZES lists 256 twice"),
        ({"EXTRA_THUMBNAIL_SIZES": "64,64"}, "EXTRA_THUMBNAIL_SIZES lists 64 twice"),
        ({"THUMBNAIL_BUCKET": "Thumbs_Bucket"}, "THUMBNAIL_BUCKET must be an S3 bucket name"),
        ({"THUMBNAIL_BUCKET": "s3://thumbs"}, "THUMBNAIL_BUCKET must be an S3 bucket name"),
        ({"METADATA_QUEUE_URL": "image-pipeline-dev-metadata"}, "METADATA_QUEUE_URL must be an SQS queue URL"),
        ({"METADATA_QUEUE_URL": "arn:aws:sqs:us-east-1:1:q"}, "METADATA_QUEUE_URL must be an SQS queue URL"),
    ],
)
def test_image_processor_names_the_bad_variable(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(REQUIRED | overrides)


def test_a_record_says_which_settings_rendered_it_so_a_change_is_seen():
    default = load_settings(REQUIRED).rendered_with
    changed = [
        {"THUMBNAIL_SIZE": "128"},
        {"EXTRA_THUMBNAIL_SIZES": "512"},
        {"THUMBNAIL_PREFIX": "small/"},
        {"MAX_IMAGE_BYTES": "1000"},
        {"MAX_IMAGE_PIXELS": "1000"},
        {"INCLUDE_GPS": "true"},
        {"EMBEDDED_THUMBNAILS": "false"},
    ]

    assert load_settings(REQUIRED | {"THUMBNAIL_SIZE": "256", "LOG_LEVEL": "DEBUG"}).rendered_with == default
    assert len({default, *(load_settings(REQUIRED | change).rendered_with for change in changed)}) == 8


def test_image_processor_accepts_an_empty_prefix():
    assert load_settings(REQUIRED | {"THUMBNAIL_PREFIX": ""}).thumbnail_prefix == ""


def test_db_writer_requires_table_name():
    assert load_db_writer_settings({"TABLE_NAME": "images"}).table_name == "images"
    with pytest.raises(DbWriterConfigError, match="TABLE_NAME is required"):
        load_db_writer_settings({})
    with pytest.raises(DbWriterConfigError, match="TABLE_NAME must be a DynamoDB table name"):
        load_db_writer_settings({"TABLE_NAME": "arn:aws:dynamodb:us-east-1:1:table/images"})


def test_image_processor_accepts_the_local_stacks_queue_url():
    url = "http://127.0.0.1:4566/123456789012/image-pipeline-dev-metadata"

    assert load_settings(REQUIRED | {"METADATA_QUEUE_URL": url}).metadata_queue_url == url
