"""Both handlers, called in this process against a moto server in another: the inputs of the cost model.

moto runs in its own process so that this process's CPU time is the handler's alone: boto3's
request signing and body reads, Pillow, JSON logs. Every AWS call is counted through botocore's
event hooks and every log line is captured, as CloudWatch would ingest it.

db_writer is called here with the SQS event the event source mapping would pass it, not through
the local stack's event source: the calls per message are the handler's own, whoever delivers the
batch, and counting them needs the hooks in the handler's process.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import boto3

from bench.environment import ROOT, lambda_like_environment
from bench.inputs import ImageSpec, load
from image_processor.imaging import thumbnail_key

PREFIX = "image-pipeline-dev"
# The key of the item whose size the cost model uses: 20 characters, which the report states.
ITEM_KEY = "bench/batch-10/0.jpg"
UPLOADS_BUCKET = f"{PREFIX}-uploads-123456789012-us-east-1"
THUMBNAILS_BUCKET = f"{PREFIX}-thumbnails-123456789012-us-east-1"
QUEUE = f"{PREFIX}-metadata"
TABLE = f"{PREFIX}-images"
IMAGE_PROCESSOR_NAME = f"{PREFIX}-image-processor"
DB_WRITER_NAME = f"{PREFIX}-db-writer"
_SERVER_START_TIMEOUT_S = 60


@dataclass
class ImageProcessorFigures:
    image: str
    source_bytes: int
    cpu_ms: list[float] = field(default_factory=list)
    aws_calls: Counter[str] = field(default_factory=Counter)  # per invocation
    log_bytes: int = 0  # per invocation, the handler's own lines
    message: str = ""  # the metadata message the last invocation sent
    delete_calls: Counter[str] = field(default_factory=Counter)  # one ObjectRemoved event for the same key

    @property
    def message_bytes(self) -> int:
        return len(self.message.encode())

    @property
    def median_cpu_ms(self) -> float:
        return statistics.median(self.cpu_ms)


@dataclass
class DbWriterFigures:
    batch_size: int
    messages: int
    seconds: float
    cpu_seconds: float
    dynamodb_calls: int
    log_bytes: int  # all invocations together

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds

    @property
    def calls_per_message(self) -> float:
        return self.dynamodb_calls / self.messages

    @property
    def cpu_ms_per_message(self) -> float:
        return self.cpu_seconds * 1000 / self.messages

    @property
    def log_bytes_per_message(self) -> float:
        return self.log_bytes / self.messages


@dataclass
class HandlerFigures:
    image_processor: list[ImageProcessorFigures]
    db_writer: list[DbWriterFigures]
    item: dict[str, Any]  # a real PROCESSED item, as DynamoDB returns it
    item_key: str  # the object key it was written for

    @property
    def item_bytes(self) -> int:
        return dynamodb_item_bytes(self.item)


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on a free loopback port, stopped on exit."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(endpoint, server)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_until_up(endpoint: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"moto server exited with {server.returncode} before answering")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"moto server did not answer at {endpoint} within {_SERVER_START_TIMEOUT_S} s")


def measure(images: list[ImageSpec], *, invocations: int, db_messages: int) -> HandlerFigures:
    with moto_server() as endpoint:
        for name in [name for name in os.environ if name.startswith("AWS_")]:
            del os.environ[name]  # a profile or per-service endpoint of the user's would win over moto
        os.environ.update(lambda_like_environment({"AWS_ENDPOINT_URL": endpoint}))
        os.environ["METADATA_QUEUE_URL"] = queue_url = _create_resources(endpoint)
        # Imported only now: each handler builds its configuration and clients at import.
        image_processor = importlib.import_module("image_processor.handler")
        db_writer = importlib.import_module("db_writer.handler")
        sqs = boto3.client("sqs", endpoint_url=endpoint)
        processor = [_image_processor(image_processor, spec, sqs, queue_url, endpoint, invocations) for spec in images]
        template = json.loads(processor[-1].message)
        prefix = image_processor.SETTINGS.thumbnail_prefix
        writer = [_db_writer(db_writer, template, prefix, size, db_messages) for size in (1, 10)]
        item = boto3.client("dynamodb", endpoint_url=endpoint).get_item(
            TableName=TABLE, Key={"image_key": {"S": ITEM_KEY}}
        )["Item"]
    return HandlerFigures(processor, writer, item, ITEM_KEY)


def _create_resources(endpoint: str) -> str:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    for bucket in (UPLOADS_BUCKET, THUMBNAILS_BUCKET):
        s3.create_bucket(Bucket=bucket)
    boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1").create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "image_key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "image_key", "AttributeType": "S"}],
    )
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    return sqs.create_queue(QueueName=QUEUE)["QueueUrl"]


def _image_processor(
    module: Any, spec: ImageSpec, sqs: Any, queue_url: str, endpoint: str, invocations: int
) -> ImageProcessorFigures:
    data = load(spec)
    key = f"bench/{spec.name.replace(' ', '-').replace(',', '')}.jpg"
    boto3.client("s3", endpoint_url=endpoint).put_object(Bucket=UPLOADS_BUCKET, Key=key, Body=data)
    figures = ImageProcessorFigures(spec.name, len(data))
    for number in range(invocations + 1):  # the first call warms connections and codecs: not counted
        calls: Counter[str] = Counter()
        with _counting(calls, module.s3, module.sqs), _captured_stdout() as output:
            started = time.process_time()
            counts = module.lambda_handler(_s3_event(key, len(data), number), _context(IMAGE_PROCESSOR_NAME))
            cpu_ms = (time.process_time() - started) * 1000
        if counts["PROCESSED"] != 1:
            raise RuntimeError(f"image_processor did not process {key}: {counts}\n{output.getvalue()}")
        if number > 0:
            figures.cpu_ms.append(cpu_ms)
            figures.aws_calls = calls
            figures.log_bytes = len(output.getvalue().encode())
    figures.message = _last_message(sqs, queue_url)
    figures.delete_calls = _delete_calls(module, key, endpoint)
    _last_message(sqs, queue_url)
    return figures


def _delete_calls(module: Any, key: str, endpoint: str) -> Counter[str]:
    """The AWS calls of one ObjectRemoved event, after the object is really gone."""
    boto3.client("s3", endpoint_url=endpoint).delete_object(Bucket=UPLOADS_BUCKET, Key=key)
    event = _s3_event(key, None, 999, "ObjectRemoved:Delete")
    calls: Counter[str] = Counter()
    with _counting(calls, module.s3, module.sqs), _captured_stdout() as output:
        counts = module.lambda_handler(event, _context(IMAGE_PROCESSOR_NAME))
    if counts["DELETED"] != 1:
        raise RuntimeError(f"image_processor did not handle the delete of {key}: {counts}\n{output.getvalue()}")
    return calls


def _db_writer(module: Any, template: dict[str, Any], prefix: str, batch_size: int, count: int) -> DbWriterFigures:
    """`count` messages like `template`, each for its own key (and that key's thumbnail key)."""
    bodies = []
    for number in range(count):
        key = f"bench/batch-{batch_size}/{number}.jpg"
        fields = {"key": key, "thumbnail_key": thumbnail_key(key, prefix), "sequencer": f"{number + 1:018X}"}
        bodies.append(json.dumps(template | fields))
    calls: Counter[str] = Counter()
    log_bytes = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, count, batch_size):
        event = {"Records": [_sqs_record(body) for body in bodies[start : start + batch_size]]}
        with _counting(calls, module.dynamodb), _captured_stdout() as output:
            response = module.lambda_handler(event, _context(DB_WRITER_NAME))
        if response["batchItemFailures"]:
            raise RuntimeError(f"db_writer failed messages: {response}\n{output.getvalue()}")
        log_bytes += len(output.getvalue().encode())
    seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    return DbWriterFigures(batch_size, count, seconds, cpu_seconds, sum(calls.values()), log_bytes)


@contextlib.contextmanager
def _counting(calls: Counter[str], *clients: Any) -> Iterator[None]:
    def count(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}:{model.name}"] += 1

    for client in clients:
        client.meta.events.register("before-call", count, unique_id="bench-count")
    try:
        yield
    finally:
        for client in clients:
            client.meta.events.unregister("before-call", unique_id="bench-count")


@contextlib.contextmanager
def _captured_stdout() -> Iterator[io.StringIO]:
    with contextlib.redirect_stdout(io.StringIO()) as output:
        yield output


def _last_message(sqs: Any, queue_url: str) -> str:
    """Drains the queue and returns the newest body (the handler sends exactly one per image)."""
    body = None
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            break
        body = messages[-1]["Body"]
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
    if body is None:
        raise RuntimeError("image_processor sent no message")
    return body


def _s3_event(key: str, size: int | None, number: int, name: str = "ObjectCreated:Put") -> dict[str, Any]:
    s3_object: dict[str, Any] = {"key": key, "sequencer": f"{number + 1:018X}"}
    if size is not None:  # ObjectRemoved events carry neither size nor eTag
        s3_object |= {"size": size, "eTag": "0" * 32}
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-11-22T10:00:00.000Z",
        "eventName": name,
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": UPLOADS_BUCKET, "arn": f"arn:aws:s3:::{UPLOADS_BUCKET}"},
            "object": s3_object,
        },
    }
    return {"Records": [record]}


def _sqs_record(body: str) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "bench",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{QUEUE}",
        "awsRegion": "us-east-1",
    }


def _context(function_name: str) -> SimpleNamespace:
    return SimpleNamespace(
        function_name=function_name,
        aws_request_id=str(uuid.uuid4()),
        get_remaining_time_in_millis=lambda: 60_000,
    )


def dynamodb_item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it (attribute names plus values, per the developer guide's rules)."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: dict[str, Any]) -> int:
    ((kind, content),) = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        digits = content.lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(name.encode()) + _value_bytes(inner) + 1 for name, inner in content.items())
    if kind == "L":
        return 3 + sum(_value_bytes(inner) + 1 for inner in content)
    raise ValueError(f"unexpected DynamoDB type {kind}")


def key_attributes(item: dict[str, Any], key: str) -> list[str]:
    """The item's string attributes that hold the object key (the key itself or a name made from it)."""
    return [name for name, value in item.items() if key in value.get("S", "")]


def item_bytes_with_key_length(item: dict[str, Any], key: str, length: int) -> int:
    """The item's size had its object key been `length` characters (ASCII): every copy of it grows."""
    stem, dot, extension = key.rpartition(".")
    longer = f"{stem}{'x' * (length - len(key))}{dot}{extension}"
    resized = {
        name: {"S": value["S"].replace(key, longer)} if name in key_attributes(item, key) else value
        for name, value in item.items()
    }
    return dynamodb_item_bytes(resized)


def key_length_for_bytes_over(item: dict[str, Any], key: str, limit: int) -> int:
    """The shortest object key (ASCII characters) that makes the item larger than `limit` bytes."""
    length = len(key)
    while item_bytes_with_key_length(item, key, length) <= limit:
        length += 1
    return length
