"""S3's event notifications as S3 sends them, from moto: `moto_sending_s3_notifications` mends moto's
notifications where moto builds them, in this process: what docs/local.md lists (`sequencer`,
`versionId`, the delete-marker event, one event per multipart upload), and keys that moto encodes "/"
as %2F in and removal events where it repeats the deleted object's size and ETag.
"""

from __future__ import annotations

import contextlib
import itertools
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus

from moto.core.utils import iso_8601_datetime_with_milliseconds
from moto.s3 import notifications
from moto.s3.models import S3Backend

# Stands for the caller in event records; S3 puts the uploader's principal and IP address there.
LOCAL_PRINCIPAL = "AWS:LOCAL"
LOCAL_IP = "127.0.0.1"


# S3's per-key `sequencer`: hex strings that sort in the order the events happen. Counting from
# the time in nanoseconds keeps them rising across restarts; next() on a count is one atomic step.
_sequence = itertools.count(time.time_ns())


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
    obj["sequencer"] = f"{next(_sequence):018X}"
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
