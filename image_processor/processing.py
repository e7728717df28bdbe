"""What happens to one S3 object event: the metadata message it produces, and the thumbnail.

Every created object ends as a PROCESSED or REJECTED message and every removed one as DELETED (or,
when the key still holds an object, as that object's record), so every upload gets a record.
db_writer orders records by the S3 sequencer, but nothing orders the thumbnail writes: two events
for one key can be processed at once (an upload whose thumbnail write is being retried while the key
is deleted, say), and the older one's write can land last. So every event ends by settling the
thumbnail: after its own change, it asks S3 which object the key holds now (HeadObject) and, while
that is not the object its change was made from, makes the thumbnail again from the current one. The
change that lands last was checked against a key that did not change after it, so the thumbnail
always ends matching the key's current object, or absent when it has none. Each step is idempotent:
the thumbnail key is a pure function of the source key, so a retry after a partial success
(thumbnail written, message not sent) is harmless.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from image_processor.config import Settings
from image_processor.images import Decode, ImageRejectedError, thumbnail_key
from image_processor.s3_events import ObjectEvent
from image_processor.storage import (
    ObjectTooLargeError,
    SourceMissingError,
    SourceVersion,
    current_version,
    delete_thumbnail,
    put_thumbnail,
    read_object,
)
from pipeline_common.metadata_message import SCHEMA_VERSION, MetadataMessage, Rendition, Status
from pipeline_common.timestamps import s3_time

# Rounds of "the key changed again while its thumbnail was made" before the event is failed and
# left to Lambda's retries: each round is one upload or delete of the same key landing meanwhile.
SETTLE_ROUNDS = 5


class KeyKeptChangingError(Exception):
    """The key was uploaded or deleted again on every round of making its thumbnail: retry later."""


@dataclass(frozen=True)
class Outcome:
    message: MetadataMessage
    bytes_in: int = 0
    bytes_out: int = 0

    @property
    def status(self) -> Status:
        return self.message["status"]


@dataclass(frozen=True)
class _Synced:
    """The thumbnail made (or removed) from what the key held at one moment, and what to say of it."""

    source: SourceVersion | None  # the object it was made from; None when the key had none
    fields: dict[str, Any] = field(default_factory=dict)  # the message's status and image or rejection fields
    bytes_in: int = 0
    bytes_out: int = 0


def is_own_thumbnail(event: ObjectEvent, settings: Settings) -> bool:
    """An event for a thumbnail this function wrote: processing it would thumbnail thumbnails forever."""
    return event.bucket == settings.thumbnail_bucket and event.key.startswith(settings.thumbnail_prefix)


def process_created(event: ObjectEvent, *, s3: Any, settings: Settings, decode: Decode) -> Outcome:
    started = time.perf_counter()
    if event.size is not None and event.size > settings.max_image_bytes:
        detail = f"{event.size:,} bytes is over MAX_IMAGE_BYTES={settings.max_image_bytes:,}"
        rejection = _rejection("too_many_bytes", detail, settings)
        synced = _removed_thumbnail(SourceVersion.spelt(event.version_id, event.etag), rejection, event, s3, settings)
    else:
        synced = _sync_thumbnail(event, s3, settings, decode)
    _settle_thumbnail(event, synced.source, s3, settings, decode)
    return _outcome(event, synced, started)


def process_removed(event: ObjectEvent, *, s3: Any, settings: Settings, decode: Decode) -> Outcome:
    started = time.perf_counter()
    # The key may still hold an object: a noncurrent version or a delete marker was removed (an
    # undelete), or the key was uploaded again before this event arrived. Then the record describes
    # that object; in the last case db_writer drops it as older than the new upload's own record.
    if current_version(s3, event.bucket, event.key) is None:
        synced = _removed_thumbnail(None, {}, event, s3, settings)
    else:
        synced = _sync_thumbnail(event, s3, settings, decode)
    _settle_thumbnail(event, synced.source, s3, settings, decode)
    if synced.source is None:
        return _outcome(event, replace(synced, fields={"status": "DELETED"}), started)
    return _outcome(event, synced, started)


def _sync_thumbnail(event: ObjectEvent, s3: Any, settings: Settings, decode: Decode) -> _Synced:
    """Makes the thumbnail from the object the key holds now, or removes it when that is no image."""
    try:
        source = read_object(s3, event.bucket, event.key, settings.max_image_bytes)
        info, thumbnails = decode(
            source.data,
            sizes=settings.thumbnail_sizes,
            max_pixels=settings.max_image_pixels,
            include_gps=settings.include_gps,
            embedded_thumbnails=settings.embedded_thumbnails,
        )
    except SourceMissingError as error:
        return _removed_thumbnail(None, _rejection("source_missing", str(error), settings), event, s3, settings)
    except ObjectTooLargeError as error:
        return _removed_thumbnail(
            error.version, _rejection("too_many_bytes", str(error), settings), event, s3, settings
        )
    except ImageRejectedError as error:
        rejection = _rejection(error.reason, error.detail, settings)
        return _removed_thumbnail(source.version, rejection, event, s3, settings, bytes_in=len(source.data))
    renditions: list[Rendition] = []
    for size, key, thumbnail in zip(
        settings.thumbnail_sizes, _thumbnail_keys(event, settings), thumbnails, strict=True
    ):
        put_thumbnail(s3, settings.thumbnail_bucket, key, thumbnail)
        renditions.append(
            {
                "size": size,
                "key": key,
                "bytes": len(thumbnail.data),
                "width": thumbnail.width,
                "height": thumbnail.height,
            }
        )
    fields = {
        "status": "PROCESSED",
        "format": info.format,
        "mime_type": info.mime_type,
        "width": info.width,
        "height": info.height,
        "display_width": info.display_width,
        "display_height": info.display_height,
        "mode": info.mode,
        "frame_count": info.frame_count,
        "thumbnail_source": info.thumbnail_source,
        "exif": info.exif,
        "placeholder": info.placeholder,
        "dominant_color": info.dominant_color,
        "phash": info.phash,
        "thumbnail_bucket": settings.thumbnail_bucket,
        "thumbnails": renditions,
        "rendered_with": settings.rendered_with,
    }
    # Only when the file embeds a colour profile: the one the thumbnail was converted from, or why not.
    colour = {"icc_profile": info.icc_profile, "icc_profile_ignored": info.icc_profile_ignored}
    fields |= {name: value for name, value in colour.items() if value is not None}
    bytes_out = sum(rendition["bytes"] for rendition in renditions)
    return _Synced(source.version, fields, bytes_in=len(source.data), bytes_out=bytes_out)


def _removed_thumbnail(
    source: SourceVersion | None,
    fields: dict[str, Any],
    event: ObjectEvent,
    s3: Any,
    settings: Settings,
    *,
    bytes_in: int = 0,
) -> _Synced:
    # A deleted key, or one overwritten with a bad file, must not keep showing an old thumbnail of any size.
    for key in _thumbnail_keys(event, settings):
        delete_thumbnail(s3, settings.thumbnail_bucket, key)
    return _Synced(source, fields, bytes_in=bytes_in)


def _settle_thumbnail(
    event: ObjectEvent, made_from: SourceVersion | None, s3: Any, settings: Settings, decode: Decode
) -> None:
    for _ in range(SETTLE_ROUNDS):
        current = current_version(s3, event.bucket, event.key)
        if current == made_from:
            return
        if current is None:
            made_from = _removed_thumbnail(None, {}, event, s3, settings).source
        else:
            made_from = _sync_thumbnail(event, s3, settings, decode).source
    raise KeyKeptChangingError(
        f"s3://{event.bucket}/{event.key} changed again on each of {SETTLE_ROUNDS} rounds of making its thumbnail"
    )


def _thumbnail_keys(event: ObjectEvent, settings: Settings) -> list[str]:
    extra = [thumbnail_key(event.key, settings.thumbnail_prefix, size) for size in settings.extra_thumbnail_sizes]
    return [thumbnail_key(event.key, settings.thumbnail_prefix), *extra]


def _rejection(reason: str, detail: str, settings: Settings) -> dict[str, Any]:
    return {"status": "REJECTED", "reason": reason, "reason_detail": detail, "rendered_with": settings.rendered_with}


def _outcome(event: ObjectEvent, synced: _Synced, started: float) -> Outcome:
    """The message for `event`, describing the object actually read where there was one: the event's
    version, ETag and size are only what S3 said when it sent the event, and a retried or late event
    may find another object under the key."""
    message = _message(event, synced.fields["status"], started)
    if synced.source is not None:
        source = synced.source
        message |= {"version_id": source.version_id, "etag": source.etag, "size": synced.bytes_in or event.size}
    message |= synced.fields
    return Outcome(message, bytes_in=synced.bytes_in, bytes_out=synced.bytes_out)


def _message(event: ObjectEvent, status: Status, started: float) -> MetadataMessage:
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
        "processed_at": s3_time(),
    }
