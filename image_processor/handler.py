"""Lambda entry point: S3 object events in, thumbnails and metadata messages out.

Configuration and AWS clients are set up once per container, at import (Lambda's init phase),
so a misconfigured function fails at start-up with the variable's name. boto3 reads
AWS_ENDPOINT_URL itself, which is how the local stack points these clients at its emulator.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

from image_processor.config import load_settings
from image_processor.images import Decode
from image_processor.imaging import make_thumbnails
from image_processor.processing import Outcome, is_own_thumbnail, process_created, process_removed
from image_processor.s3_events import S3Event, parse_s3_event
from image_processor.storage import send_message
from image_processor.worker import Decoder, Limits
from pipeline_common.observability import ColdStart, Logger, emit_metrics

SETTINGS = load_settings(os.environ)
# Pillow and the decoders are imported here, once, and every image is decoded in a worker forked from
# this process now (worker.py), which starts with them loaded; forked before the clients exist, it copies less.
decoder = Decoder(make_thumbnails)
decoder.start()
_AWS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=20)
s3 = boto3.client("s3", config=_AWS_CONFIG)
sqs = boto3.client("sqs", config=_AWS_CONFIG)
logger = Logger("image_processor")
cold_start = ColdStart()


def lambda_handler(event: S3Event, context: Any) -> dict[str, Any]:
    """Counts of each outcome, and each object's status and reason in `results`, for callers that
    invoke it synchronously (scripts/reprocess.py); S3's asynchronous invocations discard them."""
    logger.bind_invocation(context)
    cold_start.report(getattr(context, "function_name", "image_processor"))
    counts = {"PROCESSED": 0, "REJECTED": 0, "DELETED": 0, "IGNORED": 0}
    results = []
    decode = _decode_within(context)
    for object_event in parse_s3_event(event):
        if object_event.kind is None:
            logger.warning("ignored event", event_name=object_event.event_name, key=object_event.key)
            counts["IGNORED"] += 1
            continue
        if is_own_thumbnail(object_event, SETTINGS):
            logger.error("ignored event: THUMBNAIL_BUCKET notifies this function", key=object_event.key)
            counts["IGNORED"] += 1
            continue
        process = process_created if object_event.kind == "created" else process_removed
        outcome = process(object_event, s3=s3, settings=SETTINGS, decode=decode)
        send_message(sqs, SETTINGS.metadata_queue_url, outcome.message)
        _report(outcome, context)
        counts[outcome.status] += 1
        results.append({"key": object_event.key, "status": outcome.status, "reason": outcome.message["reason"]})
    return counts | {"results": results}


def _decode_within(context: Any) -> Decode:
    """imaging.make_thumbnails in a worker process, within the function's memory and the invocation's time."""

    def decode(data: bytes, **options: Any) -> Any:
        limits = Limits.for_invocation(
            memory_mb=int(context.memory_limit_in_mb),
            remaining_seconds=context.get_remaining_time_in_millis() / 1000,
            max_decode_seconds=SETTINGS.max_decode_seconds,
            upload_bytes=len(data),
        )
        return decoder.thumbnails(data, limits, **options)

    return decode


def _report(outcome: Outcome, context: Any) -> None:
    message = outcome.message
    log = logger.warning if outcome.status == "REJECTED" else logger.info
    log(
        f"image {outcome.status.lower()}",
        key=message["key"],
        outcome=outcome.status,
        reason=message["reason"],
        reason_detail=message["reason_detail"],
        thumbnail_source=message.get("thumbnail_source"),
        ms=message["processing_ms"],
        bytes_in=outcome.bytes_in,
        bytes_out=outcome.bytes_out,
    )
    counter = {"PROCESSED": "ImagesProcessed", "REJECTED": "ImagesRejected", "DELETED": "ImagesDeleted"}
    metrics = {counter[outcome.status]: (1, "Count")}
    if outcome.status == "PROCESSED":
        metrics |= {
            "ProcessingTime": (message["processing_ms"], "Milliseconds"),
            "BytesIn": (outcome.bytes_in, "Bytes"),
            "BytesOut": (outcome.bytes_out, "Bytes"),
            "ThumbnailsWritten": (len(message["thumbnails"]), "Count"),
        }
    emit_metrics(getattr(context, "function_name", "image_processor"), metrics, {"key": message["key"]})
