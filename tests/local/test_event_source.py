"""The SQS event source mapping: Lambda's record shape, batching and ReportBatchItemFailures."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from local_pipeline.event_source import BatchVerdict, SqsEventSource, judge_response
from local_pipeline.loop import BackgroundLoop
from local_pipeline.stack import EventSourceSettings, QueueSettings
from tests.local.conftest import make_queue, receive_all, wait_until

IDS = ["id-1", "id-2", "id-3"]
ALL = frozenset(IDS)
NONE: frozenset[str] = frozenset()
QUEUE = QueueSettings("source", 3600, visibility_timeout_s=60, dead_letter_queue="source-dlq", max_receive_count=3)
DLQ = QueueSettings("source-dlq", 3600)


@pytest.mark.parametrize(
    ("response", "retry"),
    [
        (None, NONE),
        ("", NONE),
        ({}, NONE),
        ({"batchItemFailures": None}, NONE),
        ({"batchItemFailures": []}, NONE),
        ({"somethingElse": 1}, NONE),
        ({"batchItemFailures": [{"itemIdentifier": "id-2"}]}, frozenset({"id-2"})),
        ({"batchItemFailures": [{"itemIdentifier": "id-1"}, {"itemIdentifier": "id-3"}]}, frozenset({"id-1", "id-3"})),
    ],
)
def test_judge_response_retries_only_the_listed_messages(response, retry):
    assert judge_response(response, IDS) == BatchVerdict(retry)


@pytest.mark.parametrize(
    "response",
    [
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"itemIdentifer": "id-1"}]},
        {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]},
        {"batchItemFailures": [{"itemIdentifier": "id-1"}, "id-2"]},
        {"batchItemFailures": "id-1"},
        ["id-1"],
        "id-1",
    ],
)
def test_judge_response_fails_the_whole_batch_on_an_invalid_response(response):
    verdict = judge_response(response, IDS)

    assert verdict.retry == ALL
    assert verdict.invalid_response


class Recorder:
    """A stand-in db_writer: records each batch and answers with `respond(records)`."""

    def __init__(self, respond: Any = lambda records: None) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self._respond = respond
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with self._lock:
            self.batches.append(event["Records"])
        return self._respond(event["Records"])

    def received(self, body: str) -> int:
        return sum(1 for batch in self.batches for record in batch if record["body"] == body)


@pytest.fixture
def queues(aws) -> tuple[str, str]:
    dlq_url = make_queue(aws, DLQ)
    return make_queue(aws, QUEUE), dlq_url


@pytest.fixture
def run_source(aws, make_function, console, queues) -> Iterator[Any]:
    """Starts an event source over the `source` queue for a stand-in handler; stops it afterwards."""
    started: list[tuple[BackgroundLoop, SqsEventSource]] = []

    def run(handler: Any, batch_size: int = 10, window_s: int = 0) -> None:
        settings = EventSourceSettings(batch_size, window_s, maximum_concurrency=2)
        source = SqsEventSource(
            make_function(handler), aws("sqs"), QUEUE, queues[0], settings, console, retry_visibility_s=1
        )
        loop = BackgroundLoop("test-source", source.step, console)
        loop.start()
        started.append((loop, source))

    yield run
    for loop, source in started:
        loop.stop()
        source.close()


def test_records_have_the_shape_lambda_gives_them(aws, queues, run_source):
    recorder = Recorder()
    aws("sqs").send_message(
        QueueUrl=queues[0],
        MessageBody='{"hello": "world"}',
        MessageAttributes={
            "origin": {"DataType": "String", "StringValue": "test"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )

    run_source(recorder)
    wait_until(lambda: recorder.batches, 10, "the first batch")

    record = recorder.batches[0][0]
    assert set(record) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "md5OfMessageAttributes",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["body"] == '{"hello": "world"}'
    assert record["md5OfBody"] == hashlib.md5(b'{"hello": "world"}').hexdigest()
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:source"
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    assert record["messageAttributes"] == {
        "origin": {"stringValue": "test", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "blob": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
    }


def test_only_listed_failures_are_received_again(aws, queues, run_source):
    def fail_bad(records: list[dict[str, Any]]) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records if r["body"] == "bad"]}

    recorder = Recorder(fail_bad)
    for body in ("good-1", "bad", "good-2"):
        aws("sqs").send_message(QueueUrl=queues[0], MessageBody=body)

    run_source(recorder, window_s=1)
    wait_until(lambda: recorder.received("bad") >= 2, 15, "the failed message to come back")

    assert recorder.received("good-1") == 1
    assert recorder.received("good-2") == 1
    retried = [r for batch in recorder.batches[1:] for r in batch]
    assert [r["body"] for r in retried] == ["bad"]
    assert retried[0]["attributes"]["ApproximateReceiveCount"] == "2"


def test_an_exception_returns_the_whole_batch_to_the_queue(aws, queues, run_source):
    calls: list[int] = []

    def fail_first(records: list[dict[str, Any]]) -> None:
        calls.append(len(records))
        if len(calls) == 1:
            raise RuntimeError("table unavailable")

    recorder = Recorder(fail_first)
    for body in ("a", "b"):
        aws("sqs").send_message(QueueUrl=queues[0], MessageBody=body)

    run_source(recorder, window_s=1)
    wait_until(lambda: recorder.received("a") == 2 and recorder.received("b") == 2, 15, "both messages again")
    wait_until(lambda: not receive_all(aws, queues[0]), 5, "the queue to empty once the retry succeeded")


def test_a_message_that_keeps_failing_moves_to_the_dlq(aws, queues, run_source, console):
    recorder = Recorder(lambda records: {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]})
    aws("sqs").send_message(QueueUrl=queues[0], MessageBody="poison")

    run_source(recorder)
    moved = wait_until(lambda: receive_all(aws, queues[1]), 20, "the message in the DLQ")

    assert [m["Body"] for m in moved] == ["poison"]
    assert recorder.received("poison") == QUEUE.max_receive_count
    assert any("to source-dlq on next receive" in line for line in console.lines)


def test_batches_respect_the_batch_size(aws, queues, run_source):
    recorder = Recorder()
    aws("sqs").send_message_batch(
        QueueUrl=queues[0], Entries=[{"Id": str(i), "MessageBody": json.dumps(i)} for i in range(7)]
    )

    run_source(recorder, batch_size=3, window_s=1)
    wait_until(lambda: sum(len(b) for b in recorder.batches) == 7, 15, "all seven messages")

    assert max(len(b) for b in recorder.batches) == 3
    assert sorted(int(r["body"]) for b in recorder.batches for r in b) == list(range(7))


def test_the_batching_window_gathers_messages_sent_apart(aws, queues, run_source):
    recorder = Recorder()
    sqs = aws("sqs")
    run_source(recorder, batch_size=10, window_s=2)

    sqs.send_message(QueueUrl=queues[0], MessageBody="first")
    wait_until(lambda: not receive_all(aws, queues[0]), 5, "the first message to be received")
    sqs.send_message(QueueUrl=queues[0], MessageBody="second")
    wait_until(lambda: recorder.batches, 10, "a batch")

    assert [r["body"] for r in recorder.batches[0]] == ["first", "second"]
