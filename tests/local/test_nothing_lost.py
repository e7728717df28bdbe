"""Nothing lost: the whole pipeline in this process, events shuffled, duplicated and failed on purpose,
and the reconciliation invariant checked once it has drained."""

from __future__ import annotations

import itertools
import json
import sys
import threading
from dataclasses import replace
from typing import Any
from urllib.parse import unquote_plus

import pytest

from local_pipeline.faults import RATES, FaultConfig
from local_pipeline.load import WARMUP_PREFIX, plan_load, reconciliation_target, run_load
from local_pipeline.pipeline import Pipeline
from sample_images import images
from scripts.reconcile import reconcile
from tests.local.conftest import ConsoleLines, wait_until

pytestmark = pytest.mark.slow

DRAIN_TIMEOUT_S = 120
PHOTO = images.jpeg(640, 480)
OTHER_PHOTO = images.jpeg(900, 600)  # its thumbnail differs in size, so a stale one shows
NOT_AN_IMAGE = b"plain text, named .jpg"


def check(pipeline: Pipeline, expected: dict[str, str]) -> Any:
    pipeline.wait_until_drained(DRAIN_TIMEOUT_S)
    return reconcile(pipeline.client, reconciliation_target(pipeline), expected)


# --- out-of-order and duplicate delivery, deterministic ----------------------------------------------

HISTORIES = {
    # name: (operations on one key, in order; the status the record must end with)
    "uploaded-again": ((PHOTO, None, OTHER_PHOTO), "PROCESSED"),
    "deleted": ((PHOTO, None), "DELETED"),
    "overwritten-with-junk": ((PHOTO, NOT_AN_IMAGE), "REJECTED"),
    "junk-then-photo": ((NOT_AN_IMAGE, PHOTO), "PROCESSED"),
}


def test_every_delivery_order_of_a_keys_events_ends_in_its_last_state(start):
    """GIVEN a key uploaded, deleted and uploaded again (and other histories), for every order in
    which S3 might deliver its events, each delivered twice and processed one at a time
    THEN the record holds the last operation, the thumbnail is the last upload's (or none), and
    the reconciliation holds."""
    pipeline = start()
    pipeline.notifications.stop()  # this test delivers the S3 events itself
    s3 = pipeline.client("s3")
    orders: dict[str, tuple[int, ...]] = {}
    expected: dict[str, str] = {}
    for name, (operations, status) in HISTORIES.items():
        for order in itertools.permutations(range(len(operations))):
            key = f"{name}/{'-'.join(map(str, order))}.jpg"
            orders[key], expected[key] = order, status
            for body in operations:
                if body is None:
                    s3.delete_object(Bucket=pipeline.stack.upload_bucket, Key=key)
                else:
                    s3.put_object(Bucket=pipeline.stack.upload_bucket, Key=key, Body=body)
    events = _s3_events_by_key(pipeline)
    assert {key: len(events[key]) for key in orders} == {key: len(order) for key, order in orders.items()}

    submitted = 0
    for position in range(max(len(order) for order in orders.values())):
        for key, order in orders.items():
            if position < len(order):
                for _ in range(2):  # every event delivered twice
                    pipeline.invoker.submit(events[key][order[position]])
                    submitted += 1
        wait_until(lambda n=submitted: pipeline.invoker.finished == n, 60, f"round {position} of the events")

    result = check(pipeline, expected)
    assert result.ok, result.render()
    assert result.records == {"PROCESSED": 8, "DELETED": 2, "REJECTED": 2}


def _s3_events_by_key(pipeline: Pipeline) -> dict[str, list[dict[str, Any]]]:
    """The S3 notifications waiting in the runner's internal queue, in the order S3 sent them."""
    sqs = pipeline.client("sqs")
    url = pipeline.resources.events_queue_url
    events: dict[str, list[dict[str, Any]]] = {}
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages"):
        for message in messages:
            event = json.loads(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if "Records" in event:
                key = unquote_plus(event["Records"][0]["s3"]["object"]["key"])
                events.setdefault(key, []).append(event)
    return events


# --- concurrent processing of one key's events -------------------------------------------------------


class Hold:
    """Holds the first matching call of image_processor's S3 client until released."""

    def __init__(self, operation: str, bucket: str) -> None:
        self.operation, self.bucket = operation, bucket
        self.reached, self.released = threading.Event(), threading.Event()
        self._client = sys.modules["image_processor.handler"].s3

    def __enter__(self) -> Hold:
        self._client.meta.events.register(f"before-send.s3.{self.operation}", self._hold)
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self._client.meta.events.unregister(f"before-send.s3.{self.operation}", self._hold)

    def _hold(self, request: Any, **_: Any) -> None:
        if f"/{self.bucket}/" in request.url and not self.reached.is_set():
            self.reached.set()
            self.released.wait(60)


@pytest.mark.parametrize("then", ["deleted", "overwritten with a non-image"])
def test_a_key_changed_while_its_thumbnail_is_being_written_keeps_no_thumbnail(start, then):
    """GIVEN an upload whose thumbnail PutObject is held (as botocore holds it between retries)
    WHEN the key is deleted, or overwritten with a file that is rejected, and that event is
    processed meanwhile THEN no thumbnail may remain once the held write completes."""
    pipeline = start()
    s3, key, bucket = pipeline.client("s3"), "race/photo.jpg", pipeline.stack.upload_bucket
    with Hold("PutObject", pipeline.stack.thumbnail_bucket) as hold:
        s3.put_object(Bucket=bucket, Key=key, Body=PHOTO)
        wait_until(hold.reached.is_set, 30, "the thumbnail write")
        if then == "deleted":
            s3.delete_object(Bucket=bucket, Key=key)
        else:
            s3.put_object(Bucket=bucket, Key=key, Body=NOT_AN_IMAGE)
        wait_until(lambda: pipeline.invoker.finished == 1, 30, "the second event, processed")

    result = check(pipeline, {key: "DELETED" if then == "deleted" else "REJECTED"})
    assert result.ok, result.render()


def test_a_key_uploaded_again_while_its_delete_removes_the_thumbnail_keeps_the_new_thumbnail(start):
    """GIVEN a processed upload, then deleted: the delete's thumbnail DeleteObject is held
    WHEN the key is uploaded again and processed meanwhile THEN its new thumbnail must remain."""
    pipeline = start()
    s3, key, bucket = pipeline.client("s3"), "race/again.jpg", pipeline.stack.upload_bucket
    s3.put_object(Bucket=bucket, Key=key, Body=PHOTO)
    wait_until(lambda: pipeline.invoker.finished == 1, 30, "the first upload, processed")
    with Hold("DeleteObject", pipeline.stack.thumbnail_bucket) as hold:
        s3.delete_object(Bucket=bucket, Key=key)
        wait_until(hold.reached.is_set, 30, "the thumbnail delete")
        s3.put_object(Bucket=bucket, Key=key, Body=OTHER_PHOTO)
        wait_until(lambda: pipeline.invoker.finished == 2, 30, "the new upload, processed")

    result = check(pipeline, {key: "PROCESSED"})
    assert result.ok, result.render()


# --- every fault at once -------------------------------------------------------------------------------


def test_with_every_fault_at_a_high_rate_nothing_is_lost(start):
    """GIVEN 40 uploads of the load's mix (some deleted or uploaded again) with every fault at 20 %
    and a poisoned key for each function THEN the reconciliation holds, and the poisoned keys, only
    those, are left waiting in the dead-letter queues."""
    plan = plan_load(40, seed=4, poison=True)
    plan = replace(
        plan, warmup=[], expected={k: v for k, v in plan.expected.items() if not k.startswith(WARMUP_PREFIX)}
    )
    faults = replace(
        FaultConfig.uniform(0.2, seed=4),
        poison_image_processor=plan.poison_image_processor,
        poison_db_writer=plan.poison_db_writer,
    )
    pipeline = start(faults)

    report = run_load(pipeline, plan, ConsoleLines())

    assert report.reconciliation.ok, report.render()
    assert report.poisoned == 2 and not report.poisoned_not_in_dlq
    assert {name for name, count in report.faults.items() if count} >= {*RATES, "poison"}
    places = report.reconciliation.places
    assert places["metadata DLQ"] >= 1 and places["processor-failures queue"] >= 1
