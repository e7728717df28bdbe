"""The reconciliation invariant finds each way an upload can be lost, stale or left with a wrong thumbnail.

Each test builds the state the pipeline would leave (uploads, records, thumbnails, dead-letter
messages) directly in moto, so every kind of problem can be shown without waiting for a fault.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from local_pipeline import reconcile as reconcile_module
from local_pipeline.reconcile import METADATA_DLQ, PROCESSOR_FAILURES, RECORDED, SUPERSEDED, reconcile
from local_pipeline.resources import create_resources
from local_pipeline.stack import Stack, default_stack

THUMBNAIL = b"w" * 300


class World:
    """The stack's resources in moto, and the pieces of state the pipeline leaves."""

    def __init__(self, aws: Any, stack: Stack) -> None:
        self.aws = aws
        self.stack = stack
        self.queue_urls = create_resources(stack, aws).queue_urls
        self.s3 = aws("s3")

    def upload(self, key: str) -> str:
        return self.s3.put_object(Bucket=self.stack.upload_bucket, Key=key, Body=b"image")["VersionId"]

    def delete(self, key: str) -> str:
        return self.s3.delete_object(Bucket=self.stack.upload_bucket, Key=key)["VersionId"]

    def record(
        self,
        key: str,
        status: str,
        version_id: str,
        thumbnail: bytes | None = THUMBNAIL,
        thumbnails: Any = None,
        schema_version: int = 2,
    ) -> None:
        """The key's record; a schema_version 1 record describes its one thumbnail in flat fields."""
        item: dict[str, Any] = {"image_key": key, "status": status, "version_id": version_id}
        size = Decimal(len(thumbnail or b""))
        if status == "PROCESSED" and schema_version == 1:
            item |= {"thumbnail_key": f"thumbnails/{key}.webp", "thumbnail_bytes": size}
        elif status == "PROCESSED":
            item["thumbnails"] = thumbnails or [{"size": Decimal(256), "key": f"thumbnails/{key}.webp", "bytes": size}]
        serialize = TypeSerializer().serialize
        self.aws("dynamodb").put_item(TableName=self.stack.table_name, Item={k: serialize(v) for k, v in item.items()})

    def thumbnail(self, key: str, body: bytes = THUMBNAIL) -> None:
        self.s3.put_object(Bucket=self.stack.thumbnail_bucket, Key=f"thumbnails/{key}.webp", Body=body)

    def processed(self, key: str) -> str:
        version = self.upload(key)
        self.record(key, "PROCESSED", version)
        self.thumbnail(key)
        return version

    def in_metadata_dlq(self, key: str, version_id: str) -> None:
        body = json.dumps({"schema_version": 1, "status": "PROCESSED", "key": key, "version_id": version_id})
        self.aws("sqs").send_message(QueueUrl=self.queue_urls[self.stack.metadata_dlq.name], MessageBody=body)

    def in_processor_failures(self, key: str, version_id: str) -> None:
        s3_object = {"key": key.replace(" ", "+"), "versionId": version_id}
        record = {"requestPayload": {"Records": [{"s3": {"object": s3_object}}]}}
        queue_url = self.queue_urls[self.stack.processor_failures_queue.name]
        self.aws("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))

    def reconcile(self, expected: dict[str, str] | None = None) -> reconcile_module.Reconciliation:
        return reconcile(self.aws, self.stack, self.queue_urls, expected)


@pytest.fixture
def world(aws) -> World:
    return World(aws, default_stack())


def test_a_consistent_stack_passes_with_exact_counts(world):
    # GIVEN a processed upload, a rejected one, one deleted, and one uploaded twice
    world.processed("a.jpg")
    world.record("bad.jpg", "REJECTED", world.upload("bad.jpg"))
    world.upload("gone.jpg")
    world.record("gone.jpg", "DELETED", world.delete("gone.jpg"))
    world.upload("twice.jpg")
    world.processed("twice.jpg")

    result = world.reconcile({"a.jpg": "PROCESSED", "bad.jpg": "REJECTED", "gone.jpg": "DELETED"})

    assert result.ok, result.problems
    assert result.operations == {"uploads": 5, "deletes": 1}
    assert result.keys == 4
    assert result.places[RECORDED] == 4
    assert result.places[SUPERSEDED] == 2
    assert result.records == {"PROCESSED": 2, "REJECTED": 1, "DELETED": 1}
    assert result.thumbnails == 2
    assert "reconciliation: OK" in result.render()


def test_a_latest_operation_with_no_record_is_lost(world):
    world.upload("lost.jpg")

    result = world.reconcile()

    assert result.places["lost"] == 1
    assert result.problems == [
        f"'lost.jpg' upload (version {_version(world, 'lost.jpg')}): "
        "the key's latest operation is in no table record and no dead-letter queue"
    ]


def test_a_record_of_an_older_version_is_stale(world):
    first = world.processed("photo.jpg")
    latest = world.upload("photo.jpg")

    result = world.reconcile()

    assert f"'photo.jpg': stale record: PROCESSED of version {first}, but the latest operation is version {latest}" in (
        result.problems
    )


def test_a_deleted_upload_still_showing_processed_is_stale(world):
    world.processed("photo.jpg")
    world.delete("photo.jpg")

    result = world.reconcile()

    assert any("'photo.jpg': stale record: PROCESSED" in problem for problem in result.problems)


@pytest.mark.parametrize("queue", [METADATA_DLQ, PROCESSOR_FAILURES])
def test_a_latest_operation_in_a_dead_letter_queue_is_accounted_for(world, queue):
    # GIVEN an older upload recorded and the newer one failed into a dead-letter queue
    world.processed("photo one.jpg")
    latest = world.upload("photo one.jpg")
    if queue == METADATA_DLQ:
        world.in_metadata_dlq("photo one.jpg", latest)
    else:
        world.in_processor_failures("photo one.jpg", latest)

    result = world.reconcile({"photo one.jpg": "PROCESSED"})

    assert result.ok, result.problems
    assert result.places[queue] == 1
    assert result.waiting == {"photo one.jpg"}


def test_a_dead_letter_copy_of_a_recorded_operation_is_counted_apart(world):
    version = world.processed("a.jpg")
    world.in_processor_failures("a.jpg", version)

    result = world.reconcile()

    assert result.ok, result.problems
    assert result.places[RECORDED] == 1
    assert result.places["redundant"] == 1
    assert result.waiting == set()


def test_a_thumbnail_of_a_deleted_upload_is_found(world):
    world.upload("gone.jpg")
    world.record("gone.jpg", "DELETED", world.delete("gone.jpg"))
    world.thumbnail("gone.jpg")

    assert world.reconcile().problems == ["thumbnail 'thumbnails/gone.jpg.webp' of 'gone.jpg', which is DELETED"]


def test_a_thumbnail_of_a_rejected_upload_is_found(world):
    world.record("bad.jpg", "REJECTED", world.upload("bad.jpg"))
    world.thumbnail("bad.jpg")

    assert world.reconcile().problems == ["thumbnail 'thumbnails/bad.jpg.webp' of 'bad.jpg', which is REJECTED"]


def test_a_processed_record_without_its_thumbnail_is_found(world):
    world.record("a.jpg", "PROCESSED", world.upload("a.jpg"))

    assert world.reconcile().problems == ["'a.jpg': PROCESSED, but its thumbnail 'thumbnails/a.jpg.webp' is missing"]


def test_a_thumbnail_made_from_another_version_is_found(world):
    world.processed("a.jpg")
    world.thumbnail("a.jpg", b"another version's thumbnail")

    assert world.reconcile().problems == [
        "'a.jpg': the thumbnail 'thumbnails/a.jpg.webp' is 27 bytes, the record's is 300: "
        "it was made from another version"
    ]


def test_a_schema_1_record_is_checked_by_its_flat_thumbnail_fields(world):
    # GIVEN records db_writer wrote before schema_version 2: one whose thumbnail is there, one whose is not
    world.record("old.jpg", "PROCESSED", world.upload("old.jpg"), schema_version=1)
    world.thumbnail("old.jpg")
    world.record("lost.jpg", "PROCESSED", world.upload("lost.jpg"), schema_version=1)

    assert world.reconcile().problems == [
        "'lost.jpg': PROCESSED, but its thumbnail 'thumbnails/lost.jpg.webp' is missing"
    ]


def processed_in_two_sizes(world: World, key: str) -> None:
    """A record as EXTRA_THUMBNAIL_SIZES=512 leaves it: every size listed, each size's thumbnail written."""
    version = world.upload(key)
    renditions = [
        {"size": Decimal(256), "key": f"thumbnails/{key}.webp", "bytes": Decimal(len(THUMBNAIL))},
        {"size": Decimal(512), "key": f"thumbnails/_sizes/512/{key}.webp", "bytes": Decimal(len(THUMBNAIL))},
    ]
    world.record(key, "PROCESSED", version, thumbnails=renditions)
    for rendition in renditions:
        world.s3.put_object(Bucket=world.stack.thumbnail_bucket, Key=rendition["key"], Body=THUMBNAIL)


def test_every_size_of_a_record_with_extra_sizes_is_checked(world):
    processed_in_two_sizes(world, "a.jpg")
    processed_in_two_sizes(world, "b.jpg")
    assert world.reconcile().ok

    world.s3.delete_object(Bucket=world.stack.thumbnail_bucket, Key="thumbnails/_sizes/512/a.jpg.webp")
    world.record("b.jpg", "DELETED", world.delete("b.jpg"))

    assert world.reconcile().problems == [
        "'a.jpg': PROCESSED, but its thumbnail 'thumbnails/_sizes/512/a.jpg.webp' is missing",
        "thumbnail 'thumbnails/_sizes/512/b.jpg.webp' of 'b.jpg', which is DELETED",
        "thumbnail 'thumbnails/b.jpg.webp' of 'b.jpg', which is DELETED",
    ]


def test_records_and_thumbnails_of_keys_never_uploaded_are_found(world):
    world.record("a+b.jpg", "REJECTED", "no-such-version")
    world.thumbnail("never.jpg")

    assert world.reconcile().problems == [
        "'a+b.jpg': a record, but the key was never uploaded",
        "thumbnail 'thumbnails/never.jpg.webp' belongs to no upload",
    ]


def test_a_status_other_than_expected_is_found(world):
    world.record("bad.jpg", "REJECTED", world.upload("bad.jpg"))

    assert world.reconcile({"bad.jpg": "PROCESSED"}).problems == ["'bad.jpg': record says REJECTED, expected PROCESSED"]


def test_a_deleted_record_for_an_upload_is_found(world):
    world.record("a.jpg", "DELETED", world.upload("a.jpg"))

    assert world.reconcile().problems == ["'a.jpg': record says DELETED for an upload"]


def test_reading_the_dead_letter_queues_leaves_their_messages(world):
    world.processed("a.jpg")
    latest = world.upload("a.jpg")
    world.in_metadata_dlq("a.jpg", latest)
    world.in_metadata_dlq("not json", "x")
    dlq = world.queue_urls[world.stack.metadata_dlq.name]

    world.reconcile()
    result = world.reconcile()

    assert result.unattributed_messages == 1
    attributes = world.aws("sqs").get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "2"


def test_the_command_prints_the_counts_and_fails_on_a_problem(world, endpoint, capsys):
    world.processed("a.jpg")

    assert reconcile_module.main(["--endpoint", endpoint]) == 0
    assert "reconciliation: OK" in capsys.readouterr().out

    world.upload("lost.jpg")

    assert reconcile_module.main(["--endpoint", endpoint]) == 1
    out = capsys.readouterr().out
    assert "reconciliation: FAILED, 1 problem(s)" in out
    assert "PROBLEM: 'lost.jpg' upload" in out


def _version(world: World, key: str) -> str:
    versions = world.s3.list_object_versions(Bucket=world.stack.upload_bucket, Prefix=key)["Versions"]
    return next(v["VersionId"] for v in versions if v["IsLatest"])
