"""Metadata messages (pipeline_common.metadata_message's contract) and the table items made from them.

db_writer trusts a message for what it says about an upload, never for how it is stored: the item holds
the contract's fields alone, each checked against its type, and the fields that order one event against
another (`sequencer_order`, the times' spelling) and say when and from which message it was written are
db_writer's own. A message that does not fit, or holds a number or text DynamoDB cannot store, is
malformed: it would fail the same way on every delivery, so it goes to the DLQ with the field named.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal, DecimalException
from typing import Any

from boto3.dynamodb.types import DYNAMODB_CONTEXT

from pipeline_common.metadata_message import MESSAGE_FIELDS, ContractError, MetadataMessage, read_message
from pipeline_common.timestamps import s3_time

# S3 sequencers are hex strings of varying length; right-padded with zeros to one width they
# compare correctly as plain strings, which is what a DynamoDB condition can do.
SEQUENCER_WIDTH = 64
_SEQUENCER = re.compile(rf"[0-9A-Fa-f]{{1,{SEQUENCER_WIDTH}}}")
# DynamoDB's number range, beyond what boto3's serializer checks.
_SMALLEST_NUMBER, _NUMBER_BOUND = Decimal("1E-130"), Decimal("1E+126")


class MalformedMessageError(ValueError):
    """The message can never be written; it goes to the DLQ through the queue's redrive policy."""

    def __init__(self, problem: str, key: str | None = None) -> None:
        super().__init__(problem)
        self.key = key  # the object's, when the body says it, for the operator reading the log


def parse_message(body: str) -> MetadataMessage:
    """Parses and checks one message; numbers with a fraction become Decimal, as DynamoDB requires, and
    so do NaN and Infinity, which Python's JSON reads, for the field holding one to be named."""
    try:
        document = json.loads(body, parse_float=Decimal, parse_constant=Decimal)
    except ValueError as error:
        raise MalformedMessageError(f"body is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise MalformedMessageError(f"body must be a JSON object, got {type(document).__name__}")
    key = document.get("key") if isinstance(document.get("key"), str) else None
    try:
        return _checked(document)
    except (ContractError, MalformedMessageError) as error:
        raise MalformedMessageError(str(error), key) from None


def _checked(document: dict[str, Any]) -> MetadataMessage:
    message = read_message(document)
    if not message["sequencer"] and not message["event_time"]:
        raise MalformedMessageError("needs a sequencer or an event_time to order it against other events")
    if message["sequencer"] and not _SEQUENCER.fullmatch(message["sequencer"]):
        raise MalformedMessageError(f"field 'sequencer' {message['sequencer']!r} is not an S3 sequencer (hex digits)")
    if message["event_time"]:
        message["event_time"] = _utc_milliseconds("event_time", message["event_time"])
    message["processed_at"] = _utc_milliseconds("processed_at", message["processed_at"])
    for name in MESSAGE_FIELDS:
        _require_storable(message.get(name), name)
    return message


def to_item(message: MetadataMessage, *, message_id: str, written_at: str) -> dict[str, Any]:
    """One item per upload, keyed by the decoded object key: the contract's non-null fields and db_writer's own."""
    item = {name: message.get(name) for name in MESSAGE_FIELDS if name != "key" and message.get(name) is not None}
    item["image_key"] = message["key"]
    item["message_id"] = message_id
    item["written_at"] = written_at
    if message["sequencer"]:
        item["sequencer_order"] = sequencer_order(message["sequencer"])
    return item


def sequencer_order(sequencer: str) -> str:
    return sequencer.upper().ljust(SEQUENCER_WIDTH, "0")


def _utc_milliseconds(name: str, moment_text: str) -> str:
    """One spelling of a time (S3's: UTC, milliseconds, "Z"), so that times compare as strings."""
    try:
        moment = datetime.fromisoformat(moment_text)
    except ValueError:
        raise MalformedMessageError(f"field {name!r} {moment_text!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        raise MalformedMessageError(f"field {name!r} {moment_text!r} has no time zone")
    return s3_time(moment)


def _require_storable(value: Any, field: str) -> None:
    """Refuses what boto3 or DynamoDB would refuse on every delivery: numbers out of range, non-UTF-8 text."""
    if isinstance(value, dict):
        for name, inner in value.items():
            _require_storable(inner, f"{field}.{name}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _require_storable(inner, f"{field}[{index}]")
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedMessageError(f"field {field!r} holds a lone surrogate, which is no UTF-8 text") from None
    elif isinstance(value, int | Decimal) and not isinstance(value, bool) and not _storable_number(value):
        shown = str(value) if len(str(value)) <= 40 else f"{str(value)[:37]}..."
        raise MalformedMessageError(
            f"field {field!r} is {shown}, a number DynamoDB cannot store "
            "(finite, at most 38 significant digits, magnitude 1E-130 to 1E+126)"
        )


def _storable_number(value: int | Decimal) -> bool:
    try:  # boto3's serializer converts through this context, and raises where it would round
        number = DYNAMODB_CONTEXT.create_decimal(value)
    except DecimalException:
        return False
    return number.is_finite() and (number == 0 or _SMALLEST_NUMBER <= number.copy_abs() < _NUMBER_BOUND)
