"""Fixtures for the local runner's tests: a real moto server, as the runner uses it, and stand-in
functions built from tiny handlers defined in the tests."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest

from local_pipeline.console import Console
from local_pipeline.faults import FaultConfig
from local_pipeline.lambda_api import LambdaApi
from local_pipeline.pipeline import Pipeline, start_pipeline
from local_pipeline.runtime import Handler, LambdaFunction, output_routing
from local_pipeline.server import LocalEndpoint, start_server
from local_pipeline.stack import (
    FAKE_CREDENTIALS,
    REGION,
    FunctionSettings,
    QueueSettings,
    Stack,
    default_stack,
    queue_arn,
)
from moto_extensions.s3_notifications import moto_sending_s3_notifications

Clients = Callable[[str], Any]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Polls `condition` until it returns something truthy, which it returns; fails after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


@pytest.fixture(scope="module")
def local_endpoint() -> Iterator[LocalEndpoint]:
    # Per module, so moto stays patched only while these tests run.
    with moto_sending_s3_notifications():
        server, _ = start_server(free_port())
        yield server
        server.stop()


@pytest.fixture(scope="module")
def endpoint(local_endpoint: LocalEndpoint) -> str:
    return local_endpoint.url


@pytest.fixture
def aws(endpoint: str) -> Clients:
    """A client factory for a freshly emptied moto."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    return client


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Routes output per thread as the runner does. Here, inside pytest's own capturing, which
    replaces sys.stdout when each test's call phase starts, so a fixture's routing would be lost."""
    with output_routing():
        yield


class ConsoleLines(Console):
    """The runner's console, kept in a list for assertions."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def raw(self, text: str) -> None:
        self.lines.append(text)


@pytest.fixture
def console() -> ConsoleLines:
    return ConsoleLines()


@pytest.fixture
def make_function(aws: Clients) -> Callable[..., LambdaFunction]:
    """A LambdaFunction around a stand-in handler, with its log group in moto."""

    def make(handler: Handler, name: str = "stand-in", timeout_s: int = 5, memory_mb: int = 128) -> LambdaFunction:
        settings = FunctionSettings(name, f"tests.{name}", memory_mb, timeout_s, environment={})
        logs = aws("logs")
        logs.create_log_group(logGroupName=settings.log_group)
        return LambdaFunction(settings, handler, logs)

    return make


def log_messages(aws: Clients, function: LambdaFunction) -> list[str]:
    events = aws("logs").filter_log_events(logGroupName=function.settings.log_group)["events"]
    return [event["message"] for event in events]


def make_queue(aws: Clients, queue: QueueSettings) -> str:
    attributes = {"VisibilityTimeout": str(queue.visibility_timeout_s)}
    if queue.dead_letter_queue:
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": queue_arn(queue.dead_letter_queue),
                "maxReceiveCount": queue.max_receive_count,
            }
        )
    return aws("sqs").create_queue(QueueName=queue.name, Attributes=attributes)["QueueUrl"]


def receive_all(aws: Clients, queue_url: str) -> list[dict[str, Any]]:
    """Every visible message, without hiding them (visibility timeout 0)."""
    response = aws("sqs").receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"]
    )
    return response.get("Messages", [])


HANDLER_MODULES = ("image_processor.handler", "db_writer.handler")


def local_stack() -> Stack:
    """The default stack with a 1-second batching window: the window only delays db_writer, and
    these tests wait for it several times."""
    stack = default_stack()
    return replace(stack, event_source=replace(stack.event_source, maximum_batching_window_s=1))


@pytest.fixture
def start(aws, endpoint) -> Iterator[Any]:
    """Starts the pipeline in this process, with the handlers imported afresh for this stack."""
    saved_environment = dict(os.environ)
    started: list[Pipeline] = []
    os.environ.update(FAKE_CREDENTIALS | {"AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION})
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)

    def start_it(faults: FaultConfig | None = None, lambda_api: LambdaApi | None = None) -> Pipeline:
        for module in HANDLER_MODULES:
            sys.modules.pop(module, None)
        started.append(start_pipeline(local_stack(), endpoint, ConsoleLines(), faults, lambda_api))
        return started[-1]

    yield start_it
    for pipeline in started:
        pipeline.stop()
    for module in HANDLER_MODULES:
        sys.modules.pop(module, None)  # their clients point at this test's endpoint
    os.environ.clear()
    os.environ.update(saved_environment)
