"""The two functions wired to moto as Lambda wires them, with optional faults, and a way to tell that
the pipeline has drained (no event or message left anywhere but in a dead-letter queue)."""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import boto3

from image_processor.config import ConfigError, load_settings
from local_pipeline.async_invoke import AsyncInvoker
from local_pipeline.console import Console
from local_pipeline.event_source import SqsEventSource
from local_pipeline.faults import FaultConfig, Faults
from local_pipeline.lambda_api import ConfigurationRefusedError, LambdaApi, ServedFunction
from local_pipeline.loop import BackgroundLoop
from local_pipeline.metrics import QUEUE_CHECK_INTERVAL_S, MetricsRecorder, QueueWatcher, queue_depths
from local_pipeline.resources import Resources, create_resources
from local_pipeline.runtime import LambdaFunction, load_handler
from local_pipeline.stack import REGION, FunctionSettings, Stack

# image_processor invocations at once. Pillow releases the GIL while it decodes and resizes, so a
# few threads keep two cores busy, and a slow image holds up only its own thread.
IMAGE_PROCESSOR_CONCURRENCY = 4
# How long the pipeline must stay empty to count as drained: longer than the gap between an
# invocation ending and its retry starting, which the counts below cover, plus one poll.
DRAINED_FOR_S = 1.5
DRAIN_CHECK_INTERVAL_S = 0.25
# Long-poll wait for S3's notifications: bounds how long stopping the runner waits for the poll under way.
NOTIFICATION_POLL_WAIT_S = 1


class NotDrainedError(Exception):
    """The pipeline still had work after the time allowed; the message says where."""


@dataclass
class Pipeline:
    stack: Stack
    endpoint: str
    resources: Resources
    invoker: AsyncInvoker
    event_source: SqsEventSource
    faults: Faults | None
    # The S3 notification pump, apart so that a test can stop it and deliver events in its own order.
    notifications: BackgroundLoop
    loops: list[BackgroundLoop]
    lambda_api: LambdaApi | None  # the endpoint's Invoke API, where image_processor is served

    def client(self, service: str) -> Any:
        return _client(self.endpoint, service)

    def queue_url(self, name: str) -> str:
        return self.resources.queue_urls[name]

    @functools.cached_property
    def _sqs(self) -> Any:
        """One client for the drain checks, which read the queues four times a second."""
        return self.client("sqs")

    def pending(self) -> dict[str, int]:
        """Work not finished yet, by where it is; every value is 0 once the pipeline has drained."""
        sqs = self._sqs
        return {
            "S3 events held back by faults": self.faults.delayed if self.faults else 0,
            "S3 events queued for image_processor": sum(queue_depths(sqs, self.resources.events_queue_url).values()),
            "image_processor events queued, running or awaiting a retry": self.invoker.pending,
            "metadata messages": sum(queue_depths(sqs, self.queue_url(self.stack.metadata_queue.name)).values()),
            "db_writer batches running": self.event_source.busy,
        }

    def wait_until_drained(self, timeout_s: float) -> float:
        """Returns the seconds waited, once nothing is pending for DRAINED_FOR_S."""
        started = time.monotonic()
        empty_since: float | None = None
        while True:
            now = time.monotonic()
            if any(self.pending().values()):
                empty_since = None
            elif empty_since is None:
                empty_since = now
            elif now - empty_since >= DRAINED_FOR_S:
                return now - started
            if now - started > timeout_s:
                left = ", ".join(f"{n} {what}" for what, n in self.pending().items() if n)
                raise NotDrainedError(f"still busy after {timeout_s:.0f} s: {left}")
            time.sleep(DRAIN_CHECK_INTERVAL_S)

    def stop(self) -> None:
        """Stops polling, finishes the invocations under way; events not processed yet are dropped."""
        if self.lambda_api is not None:
            self.lambda_api.unserve(self.stack.image_processor.name)
        for loop in self.loops:
            loop.stop()
        if self.faults:
            self.faults.close()
        self.invoker.close()
        self.event_source.close()


def start_pipeline(
    stack: Stack,
    endpoint: str,
    console: Console,
    faults: FaultConfig | None = None,
    lambda_api: LambdaApi | None = None,
) -> Pipeline:
    """Creates the stack's resources in moto at `endpoint` and starts playing Lambda; with `lambda_api`
    (the endpoint's, when moto runs in this process) image_processor also answers Lambda's Invoke.

    The handlers are imported here, so AWS credentials, region and AWS_ENDPOINT_URL must already be
    in the environment; their own variables are added to it.
    """
    client = functools.partial(_client, endpoint)
    resources = create_resources(stack, client)
    metadata_queue_url = resources.queue_urls[stack.metadata_queue.name]
    # image_processor's environment as the Lambda API reports and changes it.
    environment = stack.image_processor.environment | {"METADATA_QUEUE_URL": metadata_queue_url}
    # Both handlers share this process and read their configuration at import (a test checks they agree).
    os.environ.update(environment | stack.db_writer.environment)
    image_processor_handler = load_handler(stack.image_processor.handler)
    db_writer_handler = load_handler(stack.db_writer.handler)
    injected = Faults(faults) if faults else None
    if injected:
        injected.install(_handler_clients(stack))
        image_processor_handler = injected.crashing(image_processor_handler)
        db_writer_handler = injected.crashing(db_writer_handler)
    logs = client("logs")
    sqs = client("sqs")
    metrics = MetricsRecorder(client("cloudwatch"), stack)
    metrics.watch_table_writes(_handler_clients(stack)[-1])
    image_processor = LambdaFunction(stack.image_processor, image_processor_handler, logs, metrics)
    db_writer = LambdaFunction(stack.db_writer, db_writer_handler, logs, metrics)
    failures_url = resources.queue_urls[stack.processor_failures_queue.name]

    def send_to_failures_queue(record: dict[str, Any]) -> None:
        sqs.send_message(QueueUrl=failures_url, MessageBody=json.dumps(record))

    invoker = AsyncInvoker(
        image_processor, stack.async_invoke, send_to_failures_queue, console, describe, IMAGE_PROCESSOR_CONCURRENCY
    )
    event_source = SqsEventSource(
        db_writer,
        sqs,
        stack.metadata_queue,
        metadata_queue_url,
        stack.event_source,
        console,
        redeliver=injected.redeliver if injected else None,
    )
    if lambda_api is not None:

        def configure(variables: dict[str, str]) -> None:
            """The new environment, for every invocation from now on: the handler is imported again,
            as a new execution environment would start. One its init would reject is refused."""
            try:
                load_settings(variables)
            except ConfigError as error:
                raise ConfigurationRefusedError(f"image_processor could not start with it: {error}") from None
            for name in environment:
                os.environ.pop(name, None)
            os.environ.update(variables)
            environment.clear()
            environment.update(variables)
            importlib.reload(sys.modules[stack.image_processor.handler.rpartition(".")[0]])
            handler = load_handler(stack.image_processor.handler)
            if injected:
                injected.install(_handler_clients(stack)[:2])
                handler = injected.crashing(handler)
            image_processor.handler = handler

        lambda_api.serve(
            ServedFunction(
                stack.image_processor.name,
                image_processor.invoke,
                invoker.submit,
                configuration=lambda: _function_configuration(stack.image_processor, environment),
                configure=configure,
                event_invoke_config=lambda: _event_invoke_config(stack),
            )
        )
    deliver = injected.delivering(invoker.submit) if injected else invoker.submit
    pump = functools.partial(pump_notifications, sqs, resources.events_queue_url, deliver)
    notifications = BackgroundLoop("s3-notifications", pump, console)
    queues = QueueWatcher(stack, sqs, resources.queue_urls, metrics, console)
    loops = [
        notifications,
        BackgroundLoop("sqs-event-source", event_source.step, console),
        BackgroundLoop("queues", queues.step, console, pause_s=QUEUE_CHECK_INTERVAL_S),
    ]
    for loop in loops:
        loop.start()
    return Pipeline(stack, endpoint, resources, invoker, event_source, injected, notifications, loops, lambda_api)


def describe(event: dict[str, Any]) -> str:
    """A console label for an invocation event: the event name and decoded key."""
    record = event["Records"][0]
    return f"{record['eventName']} {unquote_plus(record['s3']['object']['key'])}"


def pump_notifications(sqs: Any, queue_url: str, deliver: Callable[[dict[str, Any]], None]) -> None:
    """One step of S3's delivery to image_processor: moto can send S3's notifications to an SQS queue but
    cannot invoke a function, so the uploads bucket notifies an internal queue, and this step receives
    them and hands them to `deliver`, which invokes the function asynchronously. S3's set-up
    `s3:TestEvent` goes only to queues and topics, never to a function, so it is dropped here."""
    response = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=NOTIFICATION_POLL_WAIT_S)
    for message in response.get("Messages", []):
        notification = json.loads(message["Body"])
        if "Records" in notification:
            deliver(notification)
        # Accepted, as Lambda's own event queue accepts an invocation: retries are the invoker's job.
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _function_configuration(function: FunctionSettings, environment: dict[str, str]) -> dict[str, Any]:
    return {
        "FunctionName": function.name,
        "FunctionArn": function.arn,
        "Handler": function.handler,
        "MemorySize": function.memory_mb,
        "Timeout": function.timeout_s,
        "Environment": {"Variables": dict(environment)},
        "State": "Active",
        "LastUpdateStatus": "Successful",
    }


def _event_invoke_config(stack: Stack) -> dict[str, Any]:
    return {
        "FunctionArn": f"{stack.image_processor.arn}:$LATEST",
        "MaximumRetryAttempts": stack.async_invoke.maximum_retry_attempts,
        "MaximumEventAgeInSeconds": stack.async_invoke.maximum_event_age_s,
        "DestinationConfig": {"OnSuccess": {}, "OnFailure": {"Destination": stack.processor_failures_queue.arn}},
    }


def _client(endpoint: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION)


def _handler_clients(stack: Stack) -> list[Any]:
    """The boto3 clients the handler modules created at import: the ones whose calls faults hit."""
    image_processor = sys.modules[stack.image_processor.handler.rpartition(".")[0]]
    db_writer = sys.modules[stack.db_writer.handler.rpartition(".")[0]]
    return [image_processor.s3, image_processor.sqs, db_writer.dynamodb]
