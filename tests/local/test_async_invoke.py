"""Asynchronous invocation: concurrency, retries with one request id, and the on-failure record."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from local_pipeline.async_invoke import AsyncInvoker
from local_pipeline.stack import AsyncInvokeSettings
from tests.local.conftest import wait_until

SETTINGS = AsyncInvokeSettings(maximum_retry_attempts=2, maximum_event_age_s=3600)


class Flaky:
    """A stand-in image_processor that fails its first `failures` calls for each event."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[tuple[str, str]] = []  # (event name, request id)
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, int]:
        with self._lock:
            self.calls.append((event["name"], context.aws_request_id))
            attempt = sum(1 for name, _ in self.calls if name == event["name"])
        if attempt <= self.failures:
            raise RuntimeError(f"attempt {attempt} failed")
        return {"PROCESSED": 1}


@pytest.fixture
def invoker(make_function, console) -> Iterator[Any]:
    """Builds an AsyncInvoker whose failure records land in `records`; closes it afterwards."""
    made: list[AsyncInvoker] = []

    def make(handler: Any, settings: AsyncInvokeSettings = SETTINGS, concurrency: int = 2) -> AsyncInvoker:
        function = make_function(handler, name="processor")
        made.append(AsyncInvoker(function, settings, records.append, console, str, concurrency, (0.1, 0.2)))
        return made[-1]

    records: list[dict[str, Any]] = []
    make.records = records  # type: ignore[attr-defined]
    yield make
    for each in made:
        each.close()


def test_a_failing_event_is_retried_twice_then_recorded_as_lambda_does(invoker):
    handler = Flaky(failures=99)
    event = {"name": "broken"}
    invoker(handler).submit(event)

    wait_until(lambda: invoker.records, 10, "the failure record")

    assert len(handler.calls) == 3
    # Lambda keeps an asynchronous event's request id across its retries.
    assert len({request_id for _, request_id in handler.calls}) == 1
    record = invoker.records[0]
    assert set(record) == {
        "version",
        "timestamp",
        "requestContext",
        "requestPayload",
        "responseContext",
        "responsePayload",
    }
    assert record["version"] == "1.0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["timestamp"])
    assert record["requestContext"] == {
        "requestId": handler.calls[0][1],
        "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:processor:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    }
    assert record["requestPayload"] == event
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    payload = record["responsePayload"]
    assert payload["errorType"] == "RuntimeError"
    assert payload["errorMessage"] == "attempt 3 failed"
    assert payload["requestId"] == handler.calls[0][1]
    assert isinstance(payload["stackTrace"], list)


def test_an_event_that_succeeds_on_a_retry_leaves_no_record(invoker, console):
    handler = Flaky(failures=1)
    invoker(handler).submit({"name": "flaky"})

    wait_until(lambda: len(handler.calls) == 2, 10, "the retry")
    wait_until(lambda: any("PROCESSED" in line for line in console.lines), 10, "the success line")

    assert invoker.records == []
    assert any("retry 1 of 2 next" in line for line in console.lines)


def test_an_event_older_than_the_maximum_age_is_not_retried(invoker):
    handler = Flaky(failures=99)
    invoker(handler, AsyncInvokeSettings(maximum_retry_attempts=2, maximum_event_age_s=0)).submit({"name": "old"})

    wait_until(lambda: invoker.records, 10, "the failure record")

    # The first attempt is under way before any time passes; its retry finds the event too old.
    assert len(handler.calls) <= 1
    assert invoker.records[0]["requestContext"]["condition"] == "EventAgeExceeded"
    assert invoker.records[0]["requestContext"]["approximateInvokeCount"] == len(handler.calls)


def test_a_slow_event_does_not_hold_up_the_others(invoker):
    finished: list[str] = []
    release = threading.Event()

    def handler(event: dict[str, Any], context: Any) -> None:
        if event["name"] == "slow":
            release.wait(10)
        finished.append(event["name"])

    async_invoker = invoker(handler, concurrency=2)
    for name in ("slow", "fast-1", "fast-2", "fast-3"):
        async_invoker.submit({"name": name})

    wait_until(lambda: len(finished) == 3, 5, "the fast events")
    assert finished == ["fast-1", "fast-2", "fast-3"]
    release.set()
    wait_until(lambda: len(finished) == 4, 5, "the slow event")


def test_closing_finishes_the_invocation_under_way_and_counts_what_it_drops(make_function, console):
    started, release, finished = threading.Event(), threading.Event(), []

    def handler(event: dict[str, Any], context: Any) -> None:
        started.set()
        release.wait(10)
        finished.append(event["name"])

    async_invoker = AsyncInvoker(make_function(handler), SETTINGS, print, console, str, 1)
    for name in ("first", "second", "third"):
        async_invoker.submit({"name": name})
    started.wait(5)
    threading.Timer(0.3, release.set).start()

    async_invoker.close()

    assert finished == ["first"]
    assert console.lines[-1].endswith("stand-in: dropped 2 event(s) not processed yet")


def test_the_console_line_names_outcomes_and_reasons_in_words(invoker, console):
    # GIVEN image_processor's answer: counts per outcome and each object's status and reason
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        results = [{"key": "a.jpg", "status": "PROCESSED", "reason": None}]
        results += [{"key": k, "status": "REJECTED", "reason": "not_an_image"} for k in ("b.jpg", "c.jpg")]
        return {"PROCESSED": 1, "REJECTED": 2, "DELETED": 0, "results": results}

    invoker(handler).submit({"name": "mixed"})

    line = wait_until(lambda: next((x for x in console.lines if "->" in x), None), 10, "the invocation line")
    assert line.endswith("-> PROCESSED REJECTED=2 (not_an_image)")
