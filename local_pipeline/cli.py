"""`python -m local_pipeline [--port N] [--demo]`: start the local stack and play the Lambda service."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from local_pipeline.alarms import CHECK_INTERVAL_S, AlarmEvaluator
from local_pipeline.async_invoke import AsyncInvoker
from local_pipeline.console import Console
from local_pipeline.demo import run_demo
from local_pipeline.event_source import LOCAL_RETRY_VISIBILITY_S, SqsEventSource
from local_pipeline.loop import BackgroundLoop
from local_pipeline.resources import Resources, create_resources
from local_pipeline.runtime import HandlerImportError, LambdaFunction, load_handler, output_routing
from local_pipeline.s3_notifications import NotificationPump, describe, moto_sending_s3_notifications
from local_pipeline.server import PortInUseError, start_server
from local_pipeline.stack import ACCOUNT_ID, FAKE_CREDENTIALS, REGION, Stack, default_stack

DEFAULT_PORT = 4566
# image_processor invocations at once. Pillow releases the GIL while it decodes and resizes, so a
# few threads keep two cores busy, and a slow image holds up only its own thread.
IMAGE_PROCESSOR_CONCURRENCY = 4


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local_pipeline",
        description="Run the image pipeline on this machine: moto's server plays AWS, this runner plays Lambda.",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"port of the local AWS endpoint on 127.0.0.1 (default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="upload a generated set of images, print a summary when all are recorded, then stop; "
        "exits non-zero if any upload has no record or an unexpected status",
    )
    return parser.parse_args(argv)


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 65535, got {text!r}")
    return int(text)


@dataclass
class Runner:
    """Everything started, so that shutdown can stop it in the right order."""

    console: Console
    server: Any = None
    loops: list[BackgroundLoop] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)

    def shutdown(self) -> None:
        for loop in self.loops:
            loop.stop()
        for close in self.closers:
            close()
        if self.server is not None:
            self.server.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(sys.stdout)
    signal.signal(signal.SIGTERM, _interrupt)
    runner = Runner(console)
    try:
        with output_routing(), moto_sending_s3_notifications():
            return _run(runner, args.port, args.demo)
    except (PortInUseError, HandlerImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        console.say("stopping (Ctrl-C again to quit at once)")
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        return 130
    finally:
        runner.shutdown()
        if runner.server is not None:
            console.say("local pipeline stopped")


def _run(runner: Runner, port: int, demo: bool) -> int:
    started = time.monotonic()
    stack = default_stack()
    runner.server, endpoint = _start_aws(port)

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=endpoint, region_name=REGION)

    resources = create_resources(stack, client)
    _start_functions(runner, stack, resources, client)
    _print_ready(runner.console, stack, resources, endpoint, time.monotonic() - started)
    if demo:
        ok = run_demo(client("s3"), client("dynamodb"), stack.uploads_bucket, stack.table, runner.console)
        return 0 if ok else 1
    while True:
        time.sleep(3600)


def _start_aws(port: int) -> tuple[Any, str]:
    """Starts moto and points every AWS client this process creates, the handlers' included, at it."""
    server, endpoint = start_server(port)
    for name in [n for n in os.environ if n == "AWS_PROFILE" or n.startswith(("AWS_ENDPOINT_URL_", "AWS_SESSION"))]:
        del os.environ[name]  # a profile, session or per-service endpoint would win over the values below
    os.environ.update(FAKE_CREDENTIALS)
    os.environ.update({"AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": endpoint})
    return server, endpoint


def _start_functions(runner: Runner, stack: Stack, resources: Resources, client: Callable[[str], Any]) -> None:
    metadata_queue_url = resources.queue_urls[stack.metadata_queue.name]
    # Both handlers share this process and read their configuration at import (a test checks they agree).
    os.environ.update(
        stack.image_processor.environment | {"METADATA_QUEUE_URL": metadata_queue_url} | stack.db_writer.environment
    )
    logs = client("logs")
    image_processor = LambdaFunction(stack.image_processor, load_handler(stack.image_processor.handler), logs)
    db_writer = LambdaFunction(stack.db_writer, load_handler(stack.db_writer.handler), logs)
    sqs = client("sqs")
    failures_url = resources.queue_urls[stack.processor_failures_queue.name]

    def send_to_failures_queue(record: dict[str, Any]) -> None:
        sqs.send_message(QueueUrl=failures_url, MessageBody=json.dumps(record))

    invoker = AsyncInvoker(
        image_processor,
        stack.async_invoke,
        send_to_failures_queue,
        runner.console,
        describe,
        IMAGE_PROCESSOR_CONCURRENCY,
    )
    event_source = SqsEventSource(
        db_writer, sqs, stack.metadata_queue, metadata_queue_url, stack.event_source, runner.console
    )
    pump = NotificationPump(sqs, resources.events_queue_url, invoker.submit)
    evaluator = AlarmEvaluator(stack.alarms, client("cloudwatch"), sqs, runner.console)
    runner.loops = [
        BackgroundLoop("s3-notifications", pump.step, runner.console),
        BackgroundLoop("sqs-event-source", event_source.step, runner.console),
        BackgroundLoop("alarms", evaluator.step, runner.console, pause_s=CHECK_INTERVAL_S),
    ]
    runner.closers = [invoker.close, event_source.close]
    for loop in runner.loops:
        loop.start()


def _print_ready(console: Console, stack: Stack, resources: Resources, endpoint: str, seconds: float) -> None:
    aws = f"aws --endpoint-url {endpoint}"
    image_processor_logs = stack.image_processor.log_group
    dlq_url = resources.queue_urls[stack.metadata_dlq.name]
    failures_url = resources.queue_urls[stack.processor_failures_queue.name]
    credentials = " ".join(f"{name}={value}" for name, value in FAKE_CREDENTIALS.items())
    thumbnails = f"s3://{stack.thumbnails_bucket}/{stack.image_processor.environment['THUMBNAIL_PREFIX']}"
    console.raw(
        f"""
Local pipeline ready at {endpoint} (account {ACCOUNT_ID}, region {REGION}) after {seconds:.1f} s. Ctrl-C stops it.
Functions run in this process; a failed metadata message is retried after {LOCAL_RETRY_VISIBILITY_S} s \
(on AWS: {stack.metadata_queue.visibility_timeout_s} s).

In another shell (the virtualenv has AWS CLI v1: source .venv/bin/activate):
  export {credentials} AWS_DEFAULT_REGION={REGION}
  {aws} s3 cp photo.jpg s3://{stack.uploads_bucket}/
  {aws} s3 ls {thumbnails} --recursive
  {aws} dynamodb scan --table-name {stack.table}
  {aws} logs filter-log-events --log-group-name {image_processor_logs}
  {aws} logs filter-log-events --log-group-name {stack.db_writer.log_group}
  {aws} logs tail {image_processor_logs} --follow      # AWS CLI v2 only
  {aws} sqs receive-message --visibility-timeout 0 --queue-url {dlq_url}
  {aws} sqs receive-message --visibility-timeout 0 --queue-url {failures_url}
  {aws} cloudwatch describe-alarms --state-value ALARM
"""
    )


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
