"""Structured JSON logs and CloudWatch Embedded Metric Format (EMF) metrics.

Both functions write one JSON object per line to stdout, which Lambda ships to the function's
log group. CloudWatch turns the EMF lines into metrics without any PutMetricData call, so a
metric costs no request and no latency. The writer looks `sys.stdout` up at every call so a
host that redirects stdout per invocation (the local runner does) captures every line.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from pipeline_common.timestamps import s3_time

METRICS_NAMESPACE = "ImagePipeline"

_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


def _write_line(document: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, default=str, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class Logger:
    """A minimal structured logger: `logger.info("image processed", key=..., ms=...)`."""

    def __init__(self, service: str, level: str | None = None) -> None:
        level_name = (level or os.environ.get("LOG_LEVEL") or "INFO").upper()
        if level_name not in _LEVELS:
            raise ValueError(f"LOG_LEVEL must be one of {', '.join(_LEVELS)}, got {level_name!r}")
        self.service = service
        self._threshold = _LEVELS[level_name]
        # Per thread, not per logger: a host running invocations concurrently (the local runner)
        # must not stamp one invocation's lines with another's request id.
        self._invocation: ContextVar[dict[str, Any] | None] = ContextVar(f"{service}_invocation", default=None)

    def bind_invocation(self, context: Any) -> None:
        """Adds the Lambda request id and function name to every following line of this invocation."""
        self._invocation.set(
            {
                "function_name": getattr(context, "function_name", None),
                "request_id": getattr(context, "aws_request_id", None),
            }
        )

    def debug(self, message: str, **fields: Any) -> None:
        self._log("DEBUG", message, fields)

    def info(self, message: str, **fields: Any) -> None:
        self._log("INFO", message, fields)

    def warning(self, message: str, **fields: Any) -> None:
        self._log("WARNING", message, fields)

    def error(self, message: str, **fields: Any) -> None:
        self._log("ERROR", message, fields)

    def _log(self, level: str, message: str, fields: dict[str, Any]) -> None:
        if _LEVELS[level] < self._threshold:
            return
        _write_line(
            {
                "level": level,
                "message": message,
                "timestamp": s3_time(),
                "service": self.service,
                **(self._invocation.get() or {}),
                **fields,
            }
        )


class ColdStart:
    """The ColdStart metric (EMF, value 1) on the first invocation a container serves, and nothing after:
    the sum over a period counts the containers Lambda started. One per handler module."""

    def __init__(self) -> None:
        self._pending = True

    def report(self, function_name: str) -> None:
        if self._pending:
            self._pending = False
            emit_metrics(function_name, {"ColdStart": (1, "Count")})


def emit_metrics(
    function_name: str,
    metrics: Mapping[str, tuple[float | list[float], str]],
    properties: Mapping[str, Any] | None = None,
) -> None:
    """Writes one EMF document: `metrics` maps a metric name to (value, CloudWatch unit); a list of
    values (EMF allows 100) records each one, so percentiles stay exact.

    The single dimension is the function name, so two stacks in one account never mix figures.
    `properties` become searchable log fields that are not metrics (for example the object key).
    """
    metrics = {name: (value, unit) for name, (value, unit) in metrics.items() if value != []}
    if not metrics:
        return
    _write_line(
        {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": METRICS_NAMESPACE,
                        "Dimensions": [["FunctionName"]],
                        "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
                    }
                ],
            },
            "FunctionName": function_name,
            **{name: value for name, (value, _) in metrics.items()},
            **(properties or {}),
        }
    )
