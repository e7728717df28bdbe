"""Lambda's SQS event source mapping, with FunctionResponseTypes = ReportBatchItemFailures."""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from local_pipeline.console import Console, error_text
from local_pipeline.runtime import Invocation, LambdaFunction
from local_pipeline.stack import REGION, EventSourceSettings, QueueSettings

# Long-poll wait while idle: bounds how long stopping the runner waits for the poll under way.
POLL_WAIT_S = 1
# A failed message becomes visible again after the queue's visibility timeout (185 s by default);
# locally it is this many seconds, so retries and the redrive to the DLQ happen while you watch.
LOCAL_RETRY_VISIBILITY_S = 2
# SQS's limit of entries in one DeleteMessageBatch or ChangeMessageVisibilityBatch call.
SQS_BATCH_LIMIT = 10


class BatchVerdict(NamedTuple):
    retry: frozenset[str]
    # Why the whole batch failed although the function returned: its response broke the rules.
    invalid_response: str | None = None


def judge_response(response: Any, message_ids: list[str]) -> BatchVerdict:
    """Which messages to retry, after AWS's rules for a function's partial batch response.

    The batch succeeds whole on a null or empty response, or a null or empty `batchItemFailures`
    list. It fails whole when an item's `itemIdentifier` is missing, null, empty or not in the
    batch, or when the response is not that shape at all.
    """
    batch = frozenset(message_ids)
    if response is None or response == "" or response == {}:
        return BatchVerdict(frozenset())
    if not isinstance(response, dict):
        return BatchVerdict(batch, f"the response is a {type(response).__name__}, not an object")
    failures = response.get("batchItemFailures")
    if failures is None:
        return BatchVerdict(frozenset())
    if not isinstance(failures, list):
        return BatchVerdict(batch, "batchItemFailures is not a list")
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in batch:
            return BatchVerdict(batch, f"itemIdentifier {json.dumps(identifier)} is not a message id of this batch")
        failed.add(identifier)
    return BatchVerdict(frozenset(failed))


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """A ReceiveMessage result as Lambda passes it in `Records`."""
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: _lambda_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _lambda_attribute(value: dict[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute


class SqsEventSource:
    """Polls the queue, gathers batches (batch size, batching window) and runs up to
    `maximum_concurrency` invocations at once, by the rules docs/local.md lists; a failed message is
    visible again after LOCAL_RETRY_VISIBILITY_S."""

    def __init__(
        self,
        function: LambdaFunction,
        sqs: Any,
        queue: QueueSettings,
        queue_url: str,
        settings: EventSourceSettings,
        console: Console,
        retry_visibility_s: int = LOCAL_RETRY_VISIBILITY_S,
        redeliver: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """`redeliver(message)` true keeps a message that succeeded in the queue, to be delivered again
        (fault injection: SQS delivers at least once)."""
        self._function = function
        self._sqs = sqs
        self._queue = queue
        self._queue_url = queue_url
        self._settings = settings
        self._console = console
        self._retry_visibility_s = retry_visibility_s
        self._pool = ThreadPoolExecutor(settings.maximum_concurrency, thread_name_prefix=function.settings.name)
        self._slots = threading.BoundedSemaphore(settings.maximum_concurrency)
        self._redeliver = redeliver or (lambda message: False)
        self._lock = threading.Lock()
        self._busy = 0

    @property
    def busy(self) -> int:
        """Batches handed to a worker and not settled yet (the queue counts those being gathered as in flight)."""
        with self._lock:
            return self._busy

    def step(self) -> None:
        batch = self._gather()
        if batch:
            self._slots.acquire()
            with self._lock:
                self._busy += 1
            self._pool.submit(self._process, batch)

    def close(self) -> None:
        """Waits for the batches under way."""
        self._pool.shutdown(wait=True)

    def _gather(self) -> list[dict[str, Any]]:
        """Receives until the batch is full or the batching window, opened by the first message, closes."""
        batch: list[dict[str, Any]] = []
        window_closes: float | None = None
        while len(batch) < self._settings.batch_size:
            wait = POLL_WAIT_S if window_closes is None else math.ceil(window_closes - time.monotonic())
            messages = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=min(SQS_BATCH_LIMIT, self._settings.batch_size - len(batch)),
                WaitTimeSeconds=max(0, min(POLL_WAIT_S, wait)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            batch += messages
            if window_closes is None:
                if not messages:
                    break
                window_closes = time.monotonic() + self._settings.maximum_batching_window_s
            if time.monotonic() >= window_closes:
                break
        return batch

    def _process(self, batch: list[dict[str, Any]]) -> None:
        try:
            ids = [message["MessageId"] for message in batch]
            result = self._function.invoke({"Records": [sqs_record(m, self._queue.arn) for m in batch]})
            verdict = BatchVerdict(frozenset(ids)) if result.failed else judge_response(result.response, ids)
            self._settle(batch, verdict.retry)
            self._report(batch, verdict, result)
        except Exception as exc:  # noqa: BLE001 - say so; the messages reappear after the visibility timeout
            self._console.say(f"{self._function.settings.name}: runner error: {error_text(exc)}")
        finally:
            with self._lock:
                self._busy -= 1
            self._slots.release()

    def _settle(self, batch: list[dict[str, Any]], failed: frozenset[str]) -> None:
        retry = {m["MessageId"] for m in batch if m["MessageId"] in failed or self._redeliver(m)}
        for entries in _entry_batches([m for m in batch if m["MessageId"] not in retry]):
            self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=entries)
        retried = [m for m in batch if m["MessageId"] in retry]
        for entries in _entry_batches(retried, VisibilityTimeout=self._retry_visibility_s):
            self._sqs.change_message_visibility_batch(QueueUrl=self._queue_url, Entries=entries)

    def _report(self, batch: list[dict[str, Any]], verdict: BatchVerdict, result: Invocation) -> None:
        failed = verdict.retry
        line = (
            f"{self._function.settings.name} {result.request_id[:8]} {result.duration_ms:7.0f} ms  "
            f"batch of {len(batch)}: {len(batch) - len(failed)} done"
        )
        if failed:
            line += f", {len(failed)} retried in {self._retry_visibility_s} s"
            limit = self._queue.max_receive_count
            spent = [
                m
                for m in batch
                if m["MessageId"] in failed and limit and int(m["Attributes"]["ApproximateReceiveCount"]) >= limit
            ]
            if spent:
                line += f" ({len(spent)} received {limit} times: to {self._queue.dead_letter_queue} on next receive)"
        if result.error:
            line += f"  ERROR {result.error['errorType']}: {result.error['errorMessage']}"
        if verdict.invalid_response:
            line += f"  INVALID RESPONSE: {verdict.invalid_response}"
        self._console.say(line)


def _entry_batches(messages: list[dict[str, Any]], **fields: Any) -> list[list[dict[str, Any]]]:
    """The messages' receipt handles (and `fields`) as batch entries, at most SQS_BATCH_LIMIT to a call."""
    entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], **fields} for i, m in enumerate(messages)]
    return [entries[i : i + SQS_BATCH_LIMIT] for i in range(0, len(entries), SQS_BATCH_LIMIT)]
