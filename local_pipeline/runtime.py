"""Plays the Lambda runtime for handlers imported into this process: a Lambda-like context, and each
invocation's output shipped to CloudWatch Logs as docs/local.md describes (one log stream per worker
thread, which stands for an execution environment)."""

from __future__ import annotations

import contextlib
import importlib
import json
import resource
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from moto.core.utils import iso_8601_datetime_with_milliseconds

from local_pipeline.metrics import MetricsRecorder
from local_pipeline.stack import FunctionSettings

Handler = Callable[[Any, Any], Any]

# CloudWatch Logs' limit on one event (it counts 26 bytes beyond the message); AWS truncates a longer line.
MAX_EVENT_BYTES = 256 * 1024 - 26

# Lambda's figure is one execution environment's; here both functions share the runner's process.
MEMORY_FIGURE_NOTE = "(local stack: the whole runner process's peak, both functions together)"

_current = threading.local()


class HandlerImportError(Exception):
    """A handler failed Lambda's init phase; the message names it and says why."""


class EnvironmentCrash(BaseException):
    """The execution environment died mid-invocation, as when Lambda kills it for memory.

    A BaseException, so handler code that catches Exception cannot survive it; the runtime reports
    it as Lambda does (Runtime.ExitError). Raised only by injected faults (faults.py).
    """


def load_handler(handler: str) -> Handler:
    """Imports a Lambda handler string such as `image_processor.handler.lambda_handler`."""
    module_name, _, function_name = handler.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), function_name)
    except Exception as error:
        raise HandlerImportError(f"cannot load the handler {handler}: {type(error).__name__}: {error}") from error


class _RoutedStream:
    """Stands in for sys.stdout/sys.stderr: a thread running an invocation writes to its log."""

    def __init__(self, fallback: TextIO) -> None:
        self._fallback = fallback

    def write(self, text: str) -> int:
        log = getattr(_current, "log", None)
        (log or self._fallback).write(text)
        return len(text)

    def flush(self) -> None:
        if getattr(_current, "log", None) is None:
            self._fallback.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fallback, name)


@contextlib.contextmanager
def output_routing() -> Iterator[None]:
    """Routes stdout and stderr per thread while the block runs (the handlers look sys.stdout up per call)."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _RoutedStream(saved[0]), _RoutedStream(saved[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


class InvocationLog:
    """One invocation's output as CloudWatch log events: (epoch milliseconds, line)."""

    def __init__(self) -> None:
        self.events: list[tuple[int, str]] = []
        self._partial = ""

    def write(self, text: str) -> None:
        *lines, self._partial = (self._partial + text).split("\n")
        self.events.extend((_now_ms(), line) for line in lines if line)

    def add(self, line: str) -> None:
        """Adds a line of the runtime's own, after any unterminated line the handler wrote."""
        if self._partial:
            self.write("\n")
        self.events.append((_now_ms(), line))


@dataclass(frozen=True)
class LambdaContext:
    """The attributes and method of the Python runtime's context object.

    memory_limit_in_mb is a string because the runtime reads it from an environment variable.
    """

    aws_request_id: str
    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: str
    log_group_name: str
    log_stream_name: str
    deadline: float
    function_version: str = "$LATEST"
    identity: None = None
    client_context: None = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class Invocation:
    request_id: str
    duration_ms: float
    response: Any = None
    # The runtime's error document: errorMessage, errorType, requestId, stackTrace.
    error: dict[str, Any] | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


class LambdaFunction:
    def __init__(
        self, settings: FunctionSettings, handler: Handler, logs: Any, metrics: MetricsRecorder | None = None
    ) -> None:
        self.settings = settings
        self.handler = handler  # replaced when the environment changes (pipeline.py)
        self._logs = logs
        self._metrics = metrics
        self._environment = threading.local()

    def invoke(self, event: Any, request_id: str | None = None) -> Invocation:
        """Runs the handler once; Lambda keeps an asynchronous event's request id across its retries."""
        request_id = request_id or str(uuid.uuid4())
        stream = self._log_stream()
        timeout_s = self.settings.timeout_s
        context = LambdaContext(
            aws_request_id=request_id,
            function_name=self.settings.name,
            invoked_function_arn=self.settings.arn,
            memory_limit_in_mb=str(self.settings.memory_mb),
            log_group_name=self.settings.log_group,
            log_stream_name=stream,
            deadline=time.monotonic() + timeout_s,
        )
        log = InvocationLog()
        log.add(f"START RequestId: {request_id} Version: $LATEST")
        if self._metrics:
            self._metrics.invocation_started(self.settings)
        started = time.perf_counter()
        response, error = self._run(event, context, log)
        duration_ms = (time.perf_counter() - started) * 1000
        # A thread cannot be killed: an overrun invocation runs to its end, then counts as timed out.
        if duration_ms > timeout_s * 1000:
            message = f"Task timed out after {timeout_s:.2f} seconds"
            log.add(f"{iso_8601_datetime_with_milliseconds()} {request_id} {message}")
            response = None
            error = {"errorMessage": f"RequestId: {request_id} Error: {message}", "errorType": "Sandbox.Timedout"}
        log.add(f"END RequestId: {request_id}")
        log.add(
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {max(1, int(duration_ms + 0.999))} ms\t"
            f"Memory Size: {self.settings.memory_mb} MB\tMax Memory Used: {int(peak_rss_mb())} MB"
            f" {MEMORY_FIGURE_NOTE}"
        )
        self._ship(stream, log.events)
        if self._metrics:
            self._metrics.invocation_ended(self.settings, duration_ms, error is not None, (m for _, m in log.events))
        return Invocation(request_id, duration_ms, response, error)

    def _run(self, event: Any, context: LambdaContext, log: InvocationLog) -> tuple[Any, dict[str, Any] | None]:
        _current.log = log
        try:
            result = self.handler(event, context)
        except EnvironmentCrash:
            message = f"RequestId: {context.aws_request_id} Error: Runtime exited with error: signal: killed"
            log.add(f"{message}\nRuntime.ExitError")
            return None, {"errorMessage": message, "errorType": "Runtime.ExitError"}
        except Exception as exc:  # noqa: BLE001 - as Lambda does: any exception is a function error
            # The first frame is _run's call into the handler, which Lambda's runtime would not show.
            frames = traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])
            error = _error_document(str(exc), type(exc).__name__, context.aws_request_id, frames)
            log.add(
                f"[ERROR] {error['errorType']}: {error['errorMessage']}\n"
                "Traceback (most recent call last):\n" + "".join(error["stackTrace"]).rstrip("\n")
            )
            return None, error
        finally:
            _current.log = None
        # The runtime sends the result as JSON; what the caller sees is that JSON, decoded.
        try:
            return json.loads(json.dumps(result)), None
        except (TypeError, ValueError) as exc:
            message = f"Unable to marshal response: {exc}"
            log.add(f"[ERROR] Runtime.MarshalError: {message}")
            return None, _error_document(message, "Runtime.MarshalError", context.aws_request_id, [])

    def _log_stream(self) -> str:
        stream = getattr(self._environment, "stream", None)
        if stream is None:
            stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[$LATEST]{uuid.uuid4().hex}"
            self._logs.create_log_stream(logGroupName=self.settings.log_group, logStreamName=stream)
            self._environment.stream = stream
        return stream

    def _ship(self, stream: str, events: list[tuple[int, str]]) -> None:
        # One call per invocation: moto takes any batch, where AWS would cap one at 1 MB or 10,000 events.
        log_events = [
            {"timestamp": timestamp, "message": message.encode()[:MAX_EVENT_BYTES].decode(errors="ignore")}
            for timestamp, message in events
        ]
        self._logs.put_log_events(logGroupName=self.settings.log_group, logStreamName=stream, logEvents=log_events)


def _error_document(message: str, error_type: str, request_id: str, stack_trace: list[str]) -> dict[str, Any]:
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack_trace}


def peak_rss_mb() -> float:
    """The whole runner process's peak resident memory (both functions share it)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
