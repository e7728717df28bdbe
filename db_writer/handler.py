"""Lambda entry point: metadata messages from SQS into DynamoDB, with per-message failures.

Returns ReportBatchItemFailures' response so a poison message is retried alone and reaches the
DLQ through the queue's redrive policy, while the rest of its batch is deleted as written.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config

from db_writer.batch import BatchResponse, WriteResult, write_batch
from db_writer.config import load_settings
from db_writer.latency import end_to_end_latencies_ms
from pipeline_common.observability import ColdStart, Logger, emit_metrics

SETTINGS = load_settings(os.environ)
dynamodb = boto3.client(
    "dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=10)
)
logger = Logger("db_writer")
cold_start = ColdStart()


def lambda_handler(event: dict[str, Any], context: Any) -> BatchResponse:
    logger.bind_invocation(context)
    cold_start.report(getattr(context, "function_name", "db_writer"))
    result = write_batch(event.get("Records", []), dynamodb=dynamodb, table_name=SETTINGS.table_name)
    for failed in result.failures:
        logger.error(
            "message not written",
            message_id=failed.message_id,
            key=failed.key,
            error=failed.error,
            receive_count=failed.receive_count,
        )
    skipped = result.outcomes[WriteResult.DUPLICATE] + result.outcomes[WriteResult.STALE]
    logger.info(
        "batch written",
        received=result.received,
        written=result.outcomes[WriteResult.WRITTEN],
        duplicate=result.outcomes[WriteResult.DUPLICATE],
        stale=result.outcomes[WriteResult.STALE],
        failed=len(result.failures),
    )
    emit_metrics(
        getattr(context, "function_name", "db_writer"),
        {
            "RecordsWritten": (result.outcomes[WriteResult.WRITTEN], "Count"),
            "RecordsSkipped": (skipped, "Count"),
            "RecordsFailed": (len(result.failures), "Count"),
        },
    )
    failed_ids = {failed.message_id for failed in result.failures}
    latencies = end_to_end_latencies_ms(event.get("Records", []), failed_ids, datetime.now(UTC))
    emit_metrics(getattr(context, "function_name", "db_writer"), {"EndToEndLatency": (latencies, "Milliseconds")})
    return result.response()
