"""What happens to one S3 object event: the metadata message it produces, and the thumbnail.

Every created object ends as a PROCESSED or REJECTED message, every removed one as DELETED,
so every upload gets a record. Each step is idempotent: the thumbnail key is a pure function of
the source key and db_writer orders messages by the S3 sequencer, so a retry after a partial
success (thumbnail written, message not sent) is harmless.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from image_processor.config import Settings
from image_processor.imaging import ImageRejectedError, make_thumbnail, thumbnail_key
from image_processor.s3_events import ObjectEvent
from image_processor.storage import (
    ObjectTooLargeError,
    SourceMissingError,
    delete_thumbnail,
    object_exists,
    put_thumbnail,
    read_object,
)

SCHEMA_VERSION = 1
Status = Literal["PROCESSED", "REJECTED", "DELETED"]


@dataclass(frozen=True)
class Outcome:
    message: dict[str, Any]
    bytes_in: int = 0
    bytes_out: int = 0

    @property
    def status(self) -> Status:
        return self.message["status"]


def process_created(event: ObjectEvent, *, s3: Any, settings: Settings) -> Outcome:
    started = time.perf_counter()
    if event.size is not None and event.size > settings.max_image_bytes:
        detail = f"{event.size:,} bytes is over MAX_IMAGE_BYTES={settings.max_image_bytes:,}"
        return _rejected(event, s3, settings, started, "too_many_bytes", detail)
    try:
        data = read_object(s3, event.bucket, event.key, settings.max_image_bytes)
        info, thumbnail = make_thumbnail(
            data,
            size=settings.thumbnail_size,
            max_pixels=settings.max_image_pixels,
            include_gps=settings.include_gps,
        )
    except SourceMissingError as error:
        return _rejected(event, s3, settings, started, "source_missing", str(error))
    except ObjectTooLargeError as error:
        return _rejected(event, s3, settings, started, "too_many_bytes", str(error))
    except ImageRejectedError as error:
        return _rejected(event, s3, settings, started, error.reason, error.detail, bytes_in=len(data))
    key = thumbnail_key(event.key, settings.thumbnail_prefix)
    put_thumbnail(s3, settings.thumbnail_bucket, key, thumbnail)
    message = _message(event, "PROCESSED", started) | {
        "format": info.format,
        "mime_type": info.mime_type,
        "width": info.width,
        "height": info.height,
        "display_width": info.display_width,
        "display_height": info.display_height,
        "mode": info.mode,
        "frame_count": info.frame_count,
        "exif": info.exif,
        "thumbnail_bucket": settings.thumbnail_bucket,
        "thumbnail_key": key,
        "thumbnail_bytes": len(thumbnail.data),
        "thumbnail_width": thumbnail.width,
        "thumbnail_height": thumbnail.height,
    }
    return Outcome(message, bytes_in=len(data), bytes_out=len(thumbnail.data))


def process_removed(event: ObjectEvent, *, s3: Any, settings: Settings) -> Outcome:
    started = time.perf_counter()
    # Events can arrive out of order: if the key was uploaded again after this delete, the
    # thumbnail now belongs to the newer object and must stay.
    if not object_exists(s3, event.bucket, event.key):
        delete_thumbnail(s3, settings.thumbnail_bucket, thumbnail_key(event.key, settings.thumbnail_prefix))
    return Outcome(_message(event, "DELETED", started))


def _rejected(
    event: ObjectEvent,
    s3: Any,
    settings: Settings,
    started: float,
    reason: str,
    detail: str,
    *,
    bytes_in: int = 0,
) -> Outcome:
    # A key overwritten with a bad file must not keep showing the old image's thumbnail.
    delete_thumbnail(s3, settings.thumbnail_bucket, thumbnail_key(event.key, settings.thumbnail_prefix))
    message = _message(event, "REJECTED", started) | {"reason": reason, "reason_detail": detail}
    return Outcome(message, bytes_in=bytes_in)


def _message(event: ObjectEvent, status: Status, started: float) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "status": status,
        "reason": None,
        "reason_detail": None,
        "bucket": event.bucket,
        "key": event.key,
        "version_id": event.version_id,
        "size": event.size,
        "etag": event.etag,
        "sequencer": event.sequencer,
        "event_time": event.event_time,
        "event_name": event.event_name,
        "processing_ms": round((time.perf_counter() - started) * 1000, 1),
        "processed_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
