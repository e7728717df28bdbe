"""S3 notification parsing: every event shape S3 sends, and keys decoded exactly."""

from __future__ import annotations

import pytest

from image_processor.s3_events import MalformedEventError, parse_s3_event
from tests.conftest import load_event, s3_event


@pytest.mark.parametrize(
    "key",
    [
        "plain.jpg",
        "with space.jpg",
        "plus+sign.jpg",
        "percent 100%.jpg",
        "ünïcødé/日本語/фото.png",
        "deeply/nested/prefix/a (1) & b=c?.jpg",
        "~tilde*star'quote.gif",
    ],
)
def test_keys_are_decoded_exactly(key):
    [record] = parse_s3_event(s3_event("s3_put", bucket="b", key=key))

    assert record.key == key


def test_put_record_fields():
    [record] = parse_s3_event(load_event("s3_put"))

    assert record.kind == "created"
    assert record.key == "photos/holiday 2026/beaché (1).jpg"
    assert (record.bucket, record.size, record.sequencer) == ("uploads-bucket", 1024, "0062E99A88DC407460")
    assert (record.event_name, record.event_time) == ("ObjectCreated:Put", "2026-11-22T10:00:00.000Z")


@pytest.mark.parametrize(
    ("name", "kind"),
    [("s3_multipart", "created"), ("s3_copy", "created"), ("s3_post", "created"), ("s3_delete", "removed")],
)
def test_event_kinds(name, kind):
    [record] = parse_s3_event(load_event(name))

    assert record.kind == kind


def test_delete_record_has_no_size():
    [record] = parse_s3_event(load_event("s3_delete"))

    assert record.size is None and record.etag is None


def test_test_event_has_no_records():
    assert parse_s3_event(load_event("s3_test_event")) == []


def test_other_event_types_have_no_kind():
    event = load_event("s3_put")
    event["Records"][0]["eventName"] = "ObjectRestore:Completed"

    [record] = parse_s3_event(event)

    assert record.kind is None


@pytest.mark.parametrize("event", [{}, {"Records": "nope"}, {"Records": [{"s3": {}}]}])
def test_malformed_events_raise_a_clear_error(event):
    with pytest.raises(MalformedEventError):
        parse_s3_event(event)
