"""Conditional, idempotent writes of metadata items: the newest S3 event for a key always wins."""

from __future__ import annotations

from enum import Enum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class WriteResult(Enum):
    WRITTEN = "written"
    DUPLICATE = "duplicate"  # the same event again: already recorded
    STALE = "stale"  # an older event than the one recorded: never overwrites it


def put_if_newer(dynamodb: Any, table_name: str, item: dict[str, Any]) -> WriteResult:
    """Writes `item` unless the table already holds the same or a newer event for its key.

    Ordering uses the S3 sequencer (comparable per key); an event without one falls back to
    its event time. A DELETED item is a tombstone, so an older PROCESSED can't resurrect it. The same
    event rendered again later (scripts/reprocess.py, or a retried invocation) replaces its record:
    it was made from the same object, with the settings of the moment.
    """
    condition, values = _newer_condition(item)
    try:
        dynamodb.put_item(
            TableName=table_name,
            Item={name: _serializer.serialize(value) for name, value in item.items()},
            ConditionExpression=condition,
            ExpressionAttributeValues={name: _serializer.serialize(value) for name, value in values.items()},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        existing = {name: _deserializer.deserialize(value) for name, value in error.response.get("Item", {}).items()}
        return WriteResult.DUPLICATE if _same_event(existing, item) else WriteResult.STALE
    return WriteResult.WRITTEN


def _newer_condition(item: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    clauses = ["attribute_not_exists(image_key)"]
    values: dict[str, Any] = {}
    rendered_later = "processed_at < :processed_at" if item.get("processed_at") else None
    if rendered_later:
        values[":processed_at"] = item["processed_at"]
    if "sequencer_order" in item:
        clauses.append("sequencer_order < :sequencer_order")
        values[":sequencer_order"] = item["sequencer_order"]
        if rendered_later:
            clauses.append(f"(sequencer_order = :sequencer_order AND {rendered_later})")
        if item.get("event_time"):
            clauses.append("(attribute_not_exists(sequencer_order) AND event_time < :event_time)")
            values[":event_time"] = item["event_time"]
    else:
        clauses.append("event_time < :event_time")
        values[":event_time"] = item["event_time"]
        if rendered_later:
            clauses.append(f"(attribute_not_exists(sequencer_order) AND event_time = :event_time AND {rendered_later})")
    return " OR ".join(clauses), values


def _same_event(existing: dict[str, Any], item: dict[str, Any]) -> bool:
    if "sequencer_order" in item:
        return existing.get("sequencer_order") == item["sequencer_order"]
    return existing.get("event_time") == item.get("event_time")
