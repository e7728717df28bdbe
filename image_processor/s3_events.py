"""Parses S3 event notifications as Lambda receives them into plain records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypedDict
from urllib.parse import unquote_plus

EventKind = Literal["created", "removed"]


class S3Event(TypedDict, total=False):
    Records: list[dict[str, Any]]
    Event: str


class MalformedEventError(ValueError):
    """The invocation payload is not an S3 notification: nothing can be processed from it."""


@dataclass(frozen=True)
class ObjectEvent:
    event_name: str
    bucket: str
    key: str
    size: int | None
    etag: str | None
    version_id: str | None
    sequencer: str | None
    event_time: str | None

    @property
    def kind(self) -> EventKind | None:
        if self.event_name.startswith("ObjectCreated:"):
            return "created"
        if self.event_name.startswith("ObjectRemoved:"):
            return "removed"
        return None


def parse_s3_event(event: S3Event) -> list[ObjectEvent]:
    """Returns the event's object records; the `s3:TestEvent` S3 sends on set-up has none."""
    if event.get("Event") == "s3:TestEvent":
        return []
    records = event.get("Records")
    if not isinstance(records, list):
        raise MalformedEventError(f"expected an S3 notification with 'Records', got keys {sorted(event)}")
    return [_object_event(record) for record in records]


def _object_event(record: dict[str, Any]) -> ObjectEvent:
    try:
        s3 = record["s3"]
        obj = s3["object"]
        bucket = s3["bucket"]["name"]
        raw_key = obj["key"]
        event_name = record["eventName"]
    except (KeyError, TypeError) as error:
        raise MalformedEventError(f"S3 record is missing {error}") from error
    size = obj.get("size")
    return ObjectEvent(
        event_name=event_name.removeprefix("s3:"),
        bucket=bucket,
        # S3 URL-encodes keys in notifications with '+' for spaces (form encoding).
        key=unquote_plus(raw_key),
        size=int(size) if size is not None else None,
        etag=obj.get("eTag"),
        version_id=obj.get("versionId"),
        sequencer=obj.get("sequencer"),
        event_time=record.get("eventTime"),
    )
