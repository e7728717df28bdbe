"""The S3 and SQS calls image_processor makes, with AWS error codes mapped to project exceptions.

Only a missing source object is a permanent outcome. Every other AWS error (throttling, 5xx,
timeouts, access denied) propagates, so Lambda's asynchronous retries and the on-failure
destination take over and the upload is never silently dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from image_processor.images import Thumbnail

_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


@dataclass(frozen=True)
class SourceVersion:
    """Which object a key held: its version id (in a versioned bucket) and ETag, as S3 reports them."""

    version_id: str | None
    etag: str | None

    @classmethod
    def spelt(cls, version_id: str | None, etag: str | None) -> SourceVersion:
        """One spelling of each, so that an event's and a response's compare: S3 quotes ETags in
        responses, not in events, and calls the version of an object written while versioning was
        off or suspended "null"."""
        return cls(None if version_id == "null" else version_id, (etag or "").strip('"') or None)

    @classmethod
    def of(cls, response: dict[str, Any]) -> SourceVersion:
        """From a GetObject or HeadObject response."""
        return cls.spelt(response.get("VersionId"), response.get("ETag"))


@dataclass(frozen=True)
class SourceObject:
    data: bytes
    version: SourceVersion


class SourceMissingError(Exception):
    """The uploaded object is gone (deleted after its event was sent)."""


class ObjectTooLargeError(Exception):
    """The object grew past the byte limit after its event was sent."""

    def __init__(self, message: str, version: SourceVersion) -> None:
        super().__init__(message)
        self.version = version


def read_object(s3: Any, bucket: str, key: str, max_bytes: int) -> SourceObject:
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if _code(error) in _MISSING_CODES:
            raise SourceMissingError(f"s3://{bucket}/{key} no longer exists") from error
        raise
    version = SourceVersion.of(response)
    with response["Body"] as body:
        # Read at most one byte past the limit: enough to know it is over without holding it all.
        data = body.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ObjectTooLargeError(f"object is over MAX_IMAGE_BYTES={max_bytes:,}", version)
    return SourceObject(data, version)


def current_version(s3: Any, bucket: str, key: str) -> SourceVersion | None:
    """The object the key holds now, or None when it has none (deleted, or only a delete marker)."""
    try:
        response = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if _code(error) in _MISSING_CODES:
            return None
        raise
    return SourceVersion.of(response)


def put_thumbnail(s3: Any, bucket: str, key: str, thumbnail: Thumbnail) -> None:
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=thumbnail.data,
        ContentType=thumbnail.content_type,
        # The key is reused when its upload is overwritten or deleted: caches must revalidate (ETag) each time.
        CacheControl="no-cache",
    )


def delete_thumbnail(s3: Any, bucket: str, key: str) -> None:
    s3.delete_object(Bucket=bucket, Key=key)


def send_message(sqs: Any, queue_url: str, message: dict[str, Any]) -> None:
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message, ensure_ascii=False))


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
