"""The S3 and SQS calls image_processor makes, with AWS error codes mapped to project exceptions.

Only a missing source object is a permanent outcome. Every other AWS error (throttling, 5xx,
timeouts, access denied) propagates, so Lambda's asynchronous retries and the on-failure
destination take over and the upload is never silently dropped.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from image_processor.imaging import Thumbnail

_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


class SourceMissingError(Exception):
    """The uploaded object is gone (deleted after its event was sent)."""


class ObjectTooLargeError(Exception):
    """The object grew past the byte limit after its event was sent."""


def read_object(s3: Any, bucket: str, key: str, max_bytes: int) -> bytes:
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if _code(error) in _MISSING_CODES:
            raise SourceMissingError(f"s3://{bucket}/{key} no longer exists") from error
        raise
    with response["Body"] as body:
        # Read at most one byte past the limit: enough to know it is over without holding it all.
        data = body.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ObjectTooLargeError(f"object is over MAX_IMAGE_BYTES={max_bytes:,}")
    return data


def object_exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if _code(error) in _MISSING_CODES:
            return False
        raise
    return True


def put_thumbnail(s3: Any, bucket: str, key: str, thumbnail: Thumbnail) -> None:
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=thumbnail.data,
        ContentType=thumbnail.content_type,
        CacheControl="public, max-age=86400",
    )


def delete_thumbnail(s3: Any, bucket: str, key: str) -> None:
    s3.delete_object(Bucket=bucket, Key=key)


def send_message(sqs: Any, queue_url: str, message: dict[str, Any]) -> None:
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message, ensure_ascii=False))


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
