"""Metadata messages (schema_version 1, written by image_processor) and the table items made from them."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from pipeline_common.timestamps import s3_time

SUPPORTED_SCHEMA_VERSIONS = {1}
STATUSES = {"PROCESSED", "REJECTED", "DELETED"}
# S3 sequencers are hex strings of varying length; right-padded with zeros to one width they
# compare correctly as plain strings, which is what a DynamoDB condition can do.
SEQUENCER_WIDTH = 64


class MalformedMessageError(ValueError):
    """The message can never be written; it goes to the DLQ through the queue's redrive policy."""


def parse_message(body: str) -> dict[str, Any]:
    """Parses and validates one message; floats become Decimal, as DynamoDB requires."""
    try:
        message = json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
    except ValueError as error:
        raise MalformedMessageError(f"body is not valid JSON: {error}") from error
    if not isinstance(message, dict):
        raise MalformedMessageError(f"body must be a JSON object, got {type(message).__name__}")
    version = message.get("schema_version")
    if version not in SUPPORTED_SCHEMA_VERSIONS or isinstance(version, bool):
        raise MalformedMessageError(f"unknown schema_version {version!r} (supported: 1)")
    _require_text(message, "bucket")
    _require_text(message, "key")
    if message.get("status") not in STATUSES:
        raise MalformedMessageError(f"status must be one of {sorted(STATUSES)}, got {message.get('status')!r}")
    if message["status"] == "REJECTED":
        _require_text(message, "reason")
    if not message.get("sequencer") and not message.get("event_time"):
        raise MalformedMessageError("needs a sequencer or an event_time to order it against other events")
    for optional in ("sequencer", "event_time"):
        if message.get(optional) is not None and not isinstance(message[optional], str):
            raise MalformedMessageError(f"{optional} must be a string")
    if message.get("event_time"):
        message["event_time"] = _utc_milliseconds(message["event_time"])
    return message


def to_item(message: dict[str, Any], *, message_id: str, written_at: str) -> dict[str, Any]:
    """One item per upload, keyed by the decoded object key; null fields are left out."""
    item = {name: value for name, value in message.items() if name != "key" and value is not None}
    item["image_key"] = message["key"]
    item["message_id"] = message_id
    item["written_at"] = written_at
    if message.get("sequencer"):
        item["sequencer_order"] = sequencer_order(message["sequencer"])
    return item


def sequencer_order(sequencer: str) -> str:
    return sequencer.upper().ljust(SEQUENCER_WIDTH, "0")


def _require_text(message: dict[str, Any], name: str) -> None:
    if not isinstance(message.get(name), str) or not message[name]:
        raise MalformedMessageError(f"required field {name!r} is missing or not a non-empty string")


def _utc_milliseconds(event_time: str) -> str:
    """One spelling of a time (S3's: UTC, milliseconds, "Z"), so that event times compare as strings."""
    try:
        moment = datetime.fromisoformat(event_time)
    except ValueError:
        raise MalformedMessageError(f"event_time {event_time!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        raise MalformedMessageError(f"event_time {event_time!r} has no time zone")
    return s3_time(moment)


def _reject_constant(name: str) -> None:
    raise MalformedMessageError(f"{name} is not a number DynamoDB can store")
