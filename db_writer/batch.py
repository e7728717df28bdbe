"""Writes one SQS batch and reports the messages that failed, for ReportBatchItemFailures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

from db_writer.records import MalformedMessageError, parse_message, to_item
from db_writer.table import WriteResult, put_if_newer
from pipeline_common.metadata_message import MetadataMessage
from pipeline_common.timestamps import s3_time


class SqsRecord(TypedDict, total=False):
    messageId: str
    body: str
    attributes: dict[str, str]


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class BatchResponse(TypedDict):
    batchItemFailures: list[BatchItemFailure]


@dataclass(frozen=True)
class FailedMessage:
    message_id: str
    error: str
    receive_count: int | None
    key: str | None  # None when the body does not say it


@dataclass
class BatchResult:
    received: int = 0
    outcomes: dict[WriteResult, int] = field(default_factory=lambda: dict.fromkeys(WriteResult, 0))
    failures: list[FailedMessage] = field(default_factory=list)

    def response(self) -> BatchResponse:
        """AWS's rules: only ids from this batch, and an empty list when everything succeeded."""
        return {"batchItemFailures": [{"itemIdentifier": failed.message_id} for failed in self.failures]}


def write_batch(records: list[SqsRecord], *, dynamodb: Any, table_name: str) -> BatchResult:
    result = BatchResult(received=len(records))
    for record in records:
        key = None
        try:
            message = parse_message(record["body"])
            key = message["key"]
            outcome = _write_message(message, record["messageId"], dynamodb, table_name)
        except MalformedMessageError as error:
            result.failures.append(_failure(record, error, error.key))
        except Exception as error:  # noqa: BLE001 - one bad message must never fail the others
            result.failures.append(_failure(record, error, key))
        else:
            result.outcomes[outcome] += 1
    return result


def _write_message(message: MetadataMessage, message_id: str, dynamodb: Any, table_name: str) -> WriteResult:
    item = to_item(message, message_id=message_id, written_at=s3_time())
    return put_if_newer(dynamodb, table_name, item)


def _failure(record: SqsRecord, error: Exception, key: str | None) -> FailedMessage:
    receive_count = record.get("attributes", {}).get("ApproximateReceiveCount")
    return FailedMessage(
        message_id=record["messageId"],
        error=f"{type(error).__name__}: {error}",
        receive_count=int(receive_count) if receive_count else None,
        key=key,
    )
