"""Delivers the uploads bucket's event notifications to image_processor, shaped as S3 sends them.

moto can send S3 notifications to an SQS queue but cannot invoke a function, so the local stack
points the bucket at an internal queue and NotificationPump turns each notification into an
asynchronous invocation. moto's notifications also differ from S3's in four ways that matter to
this pipeline; `moto_sending_s3_notifications` mends them where moto builds them, since the events are
produced inside this process:
- no `sequencer` (db_writer orders writes by it) and no `versionId` in a versioned bucket;
- no event at all when a delete in a versioned bucket creates a delete marker (the default here);
- a completed multipart upload sends ObjectCreated:Put before ObjectCreated:CompleteMultipartUpload;
- keys encode "/" as %2F, and removal events repeat the deleted object's size and ETag.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from moto.core.utils import iso_8601_datetime_with_milliseconds
from moto.s3 import notifications
from moto.s3.models import S3Backend

# Long-poll wait: bounds how long stopping the runner waits for the poll under way.
POLL_WAIT_S = 1
# Stands for the caller in event records; S3 puts the uploader's principal and IP address there.
LOCAL_PRINCIPAL = "AWS:LOCAL"
LOCAL_IP = "127.0.0.1"


class Sequencer:
    """Hex strings that sort in the order S3 events happen, as S3's per-key `sequencer` does.

    Nanosecond time keeps them rising across restarts; the counter, within one nanosecond.
    """

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            self._last = max(self._last + 1, time.time_ns())
            return f"{self._last:018X}"


_sequencer = Sequencer()


@contextlib.contextmanager
def moto_sending_s3_notifications() -> Iterator[None]:
    """Patches moto, in this process, to send S3's notifications while the block runs."""
    saved = notifications._get_s3_event, notifications.send_event, S3Backend.delete_object
    _, send_event, delete_object = saved

    def send_event_as_s3_does(account_id: str, event_name: str, bucket: Any, key: Any) -> None:
        if event_name == notifications.S3NotificationEvent.OBJECT_CREATED_PUT_EVENT and key.multipart:
            return  # moto's echo of the CompleteMultipartUpload event that follows
        send_event(account_id, event_name, bucket, key)

    def delete_object_with_marker_event(
        self: S3Backend, bucket_name: str, key_name: str, version_id: str | None = None, bypass: bool = False
    ) -> tuple[bool, dict[str, Any]]:
        deleted, meta = delete_object(self, bucket_name, key_name, version_id, bypass)
        if version_id is None and meta.get("delete-marker") == "true":
            bucket = self.get_bucket(bucket_name)
            notifications.send_event(
                self.account_id,
                notifications.S3NotificationEvent.OBJECT_REMOVED_DELETE_MARKER_CREATED_EVENT,
                bucket,
                bucket.keys[key_name],
            )
        return deleted, meta

    notifications._get_s3_event = s3_event
    notifications.send_event = send_event_as_s3_does
    S3Backend.delete_object = delete_object_with_marker_event
    try:
        yield
    finally:
        notifications._get_s3_event, notifications.send_event, S3Backend.delete_object = saved


def s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
    """One S3 event notification, field for field as S3 writes it (moto's bucket and key models in)."""
    name = event_name.removeprefix("s3:")
    # S3 form-encodes keys ("+" for a space) but leaves "/" as it is.
    obj: dict[str, Any] = {"key": quote_plus(key.name, safe="/")}
    if name.startswith("ObjectCreated:"):
        obj |= {"size": key.size, "eTag": key.etag.strip('"')}
    if bucket.is_versioned:
        obj["versionId"] = key.version_id
    obj["sequencer"] = _sequencer()
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": bucket.region_name,
                "eventTime": iso_8601_datetime_with_milliseconds(),
                "eventName": name,
                "userIdentity": {"principalId": LOCAL_PRINCIPAL},
                "requestParameters": {"sourceIPAddress": LOCAL_IP},
                "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": uuid.uuid4().hex},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": notification_id,
                    "bucket": {
                        "name": bucket.name,
                        "ownerIdentity": {"principalId": LOCAL_PRINCIPAL},
                        "arn": bucket.arn,
                    },
                    "object": obj,
                },
            }
        ]
    }


def describe(event: dict[str, Any]) -> str:
    """A console label for an invocation event: the event name and decoded key."""
    record = event["Records"][0]
    return f"{record['eventName']} {unquote_plus(record['s3']['object']['key'])}"


class NotificationPump:
    """One step: receive notifications from the internal queue and hand them to `deliver`, which
    invokes the function asynchronously. S3's set-up `s3:TestEvent` goes only to queues and topics,
    never to a function, so it is dropped here."""

    def __init__(self, sqs: Any, queue_url: str, deliver: Callable[[dict[str, Any]], None]) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._deliver = deliver

    def step(self) -> None:
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=POLL_WAIT_S
        )
        for message in response.get("Messages", []):
            notification = json.loads(message["Body"])
            if "Records" in notification:
                self._deliver(notification)
            # Accepted, as Lambda's own event queue accepts an invocation: retries are the invoker's job.
            self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
