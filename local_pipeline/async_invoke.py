"""Lambda's asynchronous invocation: retries on error, then an on-failure destination record."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from moto.core.utils import iso_8601_datetime_with_milliseconds

from local_pipeline.console import Console, error_text
from local_pipeline.runtime import Invocation, LambdaFunction
from local_pipeline.stack import AsyncInvokeSettings

# AWS waits about one minute before the first retry and two before the second; locally it is seconds.
LOCAL_RETRY_DELAYS_S = (1.0, 2.0)


def failure_record(
    event: Any, function_arn: str, condition: str, invoke_count: int, last: Invocation | None
) -> dict[str, Any]:
    """The JSON document Lambda sends to an on-failure destination (condition: RetriesExhausted or
    EventAgeExceeded). Python exceptions and timeouts are both "Unhandled" function errors."""
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": iso_8601_datetime_with_milliseconds(),
        "requestContext": {
            "requestId": last.request_id if last else str(uuid.uuid4()),
            "functionArn": f"{function_arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "requestPayload": event,
    }
    if last is not None:
        record["responseContext"] = {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
        record["responsePayload"] = last.error
    return record


class AsyncInvoker:
    """Runs events on a thread pool, so one slow event never holds up the others.

    A failed event is retried `maximum_retry_attempts` times with the same request id, as Lambda does;
    then, or once it is older than `maximum_event_age_s`, `on_failure` receives its failure record.
    """

    def __init__(
        self,
        function: LambdaFunction,
        settings: AsyncInvokeSettings,
        on_failure: Callable[[dict[str, Any]], None],
        console: Console,
        describe: Callable[[Any], str],
        concurrency: int,
        retry_delays_s: tuple[float, ...] = LOCAL_RETRY_DELAYS_S,
    ) -> None:
        self._function = function
        self._settings = settings
        self._on_failure = on_failure
        self._console = console
        self._describe = describe
        self._retry_delays_s = retry_delays_s
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix=function.settings.name)
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._pending = 0  # events submitted and not done with yet
        self.finished = 0  # events done with: processed, or sent to the on-failure destination

    def submit(self, event: Any) -> str:
        """Queues `event`; returns the request id its invocations (and their retries) will have."""
        request_id = str(uuid.uuid4())
        with self._lock:
            self._pending += 1
        self._pool.submit(self._attempt, event, request_id, 1, time.monotonic(), None)
        return request_id

    @property
    def pending(self) -> int:
        """Events queued, running or waiting for a retry."""
        with self._lock:
            return self._pending

    def close(self) -> None:
        """Finishes the invocations under way; queued events and those waiting for a retry are dropped."""
        with self._lock:
            self._closed = True
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._pending:
            self._console.say(f"{self._name}: dropped {self._pending} event(s) not processed yet")

    @property
    def _name(self) -> str:
        return self._function.settings.name

    def _attempt(self, event: Any, request_id: str, attempt: int, queued_at: float, last: Invocation | None) -> None:
        try:
            if time.monotonic() - queued_at > self._settings.maximum_event_age_s:
                self._give_up(event, "EventAgeExceeded", attempt - 1, last)
                return
            result = self._function.invoke(event, request_id)
            retries_left = self._settings.maximum_retry_attempts - (attempt - 1)
            self._report(event, result, attempt, retries_left)
            if not result.failed:
                self._done(finished=True)
            elif retries_left == 0:
                self._give_up(event, "RetriesExhausted", attempt, result)
            else:
                delay = self._retry_delays_s[min(attempt, len(self._retry_delays_s)) - 1]
                self._schedule(delay, event, request_id, attempt + 1, queued_at, result)
        except Exception as exc:  # noqa: BLE001 - a broken emulator must say so, not lose the event silently
            self._console.say(f"{self._name}: runner error, event dropped: {error_text(exc)}")
            self._done(finished=False)

    def _done(self, finished: bool) -> None:
        with self._lock:
            self._pending -= 1
            if finished:
                self.finished += 1

    def _schedule(self, delay: float, *args: Any) -> None:
        timer = threading.Timer(delay, self._retry, args)
        timer.daemon = True
        with self._lock:
            if self._closed:
                return
            self._timers.add(timer)
        timer.start()

    def _retry(self, *args: Any) -> None:
        with self._lock:
            self._timers.discard(threading.current_thread())  # a Timer is the thread it runs its function in
            if not self._closed:
                self._pool.submit(self._attempt, *args)

    def _report(self, event: Any, result: Invocation, attempt: int, retries_left: int) -> None:
        head = f"{self._name} {result.request_id[:8]} {result.duration_ms:7.0f} ms  {self._describe(event)}"
        if not result.failed:
            self._console.say(f"{head}  -> {_summary(result.response)}")
            return
        error = f"{result.error['errorType']}: {result.error['errorMessage']}" if result.error else ""
        then = f"retry {attempt} of {self._settings.maximum_retry_attempts} next" if retries_left else "giving up"
        self._console.say(f"{head}  -> ERROR {error} ({then})")

    def _give_up(self, event: Any, condition: str, invoke_count: int, last: Invocation | None) -> None:
        self._on_failure(failure_record(event, self._function.settings.arn, condition, invoke_count, last))
        self._console.say(f"{self._name}: {condition}, failure record sent to the on-failure destination")
        self._done(finished=True)


def _summary(response: Any) -> str:
    """image_processor returns counts per outcome, and each object's status and reason; the console shows
    the non-zero counts and the reasons, as words rather than Python's notation."""
    if not isinstance(response, dict):
        return json.dumps(response)
    counts = [
        name if count == 1 else f"{name}={count}"
        for name, count in response.items()
        if isinstance(count, int) and not isinstance(count, bool) and count
    ]
    results = response.get("results")
    reasons = sorted({r["reason"] for r in results if r.get("reason")}) if isinstance(results, list) else []
    return " ".join(counts) + (f" ({', '.join(reasons)})" if reasons else "")
