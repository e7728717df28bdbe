"""Both handlers, called in this process against a moto server in another: the inputs of the cost model.

moto runs in its own process so that this process's CPU time is the handler's alone (boto3, Pillow,
JSON logs); AWS calls are counted through botocore's event hooks and log lines captured as CloudWatch
would ingest them. The events are the real shapes in tests/events; db_writer gets the batches Lambda's
SQS event source would pass it, since counting its calls needs the hooks in its own process.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import json
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import boto3

from bench.environment import ROOT, free_port, lambda_like_environment, server
from bench.inputs import ImageSpec, load
from image_processor.images import thumbnail_key

PREFIX = "image-pipeline-dev"
# The key of the item whose size the cost model uses: 20 characters, which the report states.
ITEM_KEY = "bench/batch-10/0.jpg"
UPLOADS_BUCKET = f"{PREFIX}-uploads-123456789012-us-east-1"
THUMBNAILS_BUCKET = f"{PREFIX}-thumbnails-123456789012-us-east-1"
QUEUE = f"{PREFIX}-metadata"
TABLE = f"{PREFIX}-images"
INVOCATIONS = 5  # of image_processor per image, after one to warm up
MESSAGES = 100  # for db_writer, at each batch size
EVENTS = {
    name: json.loads((ROOT / "tests" / "events" / f"{name}.json").read_text())
    for name in ("s3_put", "s3_delete", "sqs_batch")
}


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
    messages_per_second: float
    calls_per_message: float  # to DynamoDB
    cpu_ms_per_message: float
    log_bytes_per_message: float


@dataclass
class HandlerFigures:
    image_processor: list[ImageProcessorFigures]
    db_writer: list[DbWriterFigures]
    item: dict[str, Any]  # a real PROCESSED item, as DynamoDB returns it
    item_key: str  # the object key it was written for

    def processor(self, image: str) -> ImageProcessorFigures:
        return next(figures for figures in self.image_processor if figures.image == image)

    def batch(self, size: int) -> DbWriterFigures:
        return next(batch for batch in self.db_writer if batch.batch_size == size)


def measure(images: list[ImageSpec]) -> HandlerFigures:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with server(command, lambda log: "Running on" in log, timeout_s=60):  # werkzeug says so once it listens
        for name in [name for name in os.environ if name.startswith("AWS_")]:
            del os.environ[name]  # a profile or per-service endpoint of the user's would win over moto
        os.environ.update(lambda_like_environment({"AWS_ENDPOINT_URL": endpoint}))
        os.environ["METADATA_QUEUE_URL"] = queue_url = _create_resources()
        # Imported only now: each handler builds its configuration and clients at import.
        image_processor = importlib.import_module("image_processor.handler")
        db_writer = importlib.import_module("db_writer.handler")
        sqs = boto3.client("sqs")
        processor = [_image_processor(image_processor, spec, sqs, queue_url) for spec in images]
        template = json.loads(processor[-1].message)
        prefix = image_processor.SETTINGS.thumbnail_prefix
        writer = [_db_writer(db_writer, template, prefix, size) for size in (1, 10)]
        item = boto3.client("dynamodb").get_item(TableName=TABLE, Key={"image_key": {"S": ITEM_KEY}})["Item"]
    return HandlerFigures(processor, writer, item, ITEM_KEY)


def _create_resources() -> str:
    s3 = boto3.client("s3")
    for bucket in (UPLOADS_BUCKET, THUMBNAILS_BUCKET):
        s3.create_bucket(Bucket=bucket)
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "image_key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "image_key", "AttributeType": "S"}],
    )
    return boto3.client("sqs").create_queue(QueueName=QUEUE)["QueueUrl"]


def _image_processor(module: Any, spec: ImageSpec, sqs: Any, queue_url: str) -> ImageProcessorFigures:
    data = load(spec)
    key = f"bench/{spec.name.replace(' ', '-').replace(',', '')}.jpg"
    boto3.client("s3").put_object(Bucket=UPLOADS_BUCKET, Key=key, Body=data)
    figures = ImageProcessorFigures(spec.name, len(data))
    for number in range(INVOCATIONS + 1):  # the first call warms connections and codecs: not counted
        counts, calls, log, cpu_ms = _invoke(
            module, _s3_event("s3_put", key, number, size=len(data)), module.s3, module.sqs
        )
        if counts["PROCESSED"] != 1:
            raise RuntimeError(f"image_processor did not process {key}: {counts}\n{log}")
        if number > 0:
            figures.cpu_ms.append(cpu_ms)
            figures.aws_calls, figures.log_bytes = calls, len(log.encode())
    figures.message = _last_message(sqs, queue_url)
    # One ObjectRemoved event, after the object is really gone.
    boto3.client("s3").delete_object(Bucket=UPLOADS_BUCKET, Key=key)
    counts, figures.delete_calls, log, _ = _invoke(module, _s3_event("s3_delete", key, 999), module.s3, module.sqs)
    if counts["DELETED"] != 1:
        raise RuntimeError(f"image_processor did not handle the delete of {key}: {counts}\n{log}")
    _last_message(sqs, queue_url)
    return figures


def _db_writer(module: Any, template: dict[str, Any], prefix: str, batch_size: int) -> DbWriterFigures:
    """MESSAGES messages like `template`, each for its own key (and that key's thumbnail keys)."""
    bodies = []
    for number in range(MESSAGES):
        key = f"bench/batch-{batch_size}/{number}.jpg"
        thumbnails = [
            thumbnail | {"key": thumbnail_key(key, prefix, None if index == 0 else thumbnail["size"])}
            for index, thumbnail in enumerate(template["thumbnails"])
        ]
        fields = {"key": key, "thumbnails": thumbnails, "sequencer": f"{number + 1:018X}"}
        bodies.append(json.dumps(template | fields))
    calls: Counter[str] = Counter()
    log_bytes, cpu_ms, started = 0, 0.0, time.perf_counter()
    for start in range(0, MESSAGES, batch_size):
        event = {"Records": [_sqs_record(body) for body in bodies[start : start + batch_size]]}
        response, batch_calls, log, batch_cpu_ms = _invoke(module, event, module.dynamodb)
        if response["batchItemFailures"]:
            raise RuntimeError(f"db_writer failed messages: {response}\n{log}")
        calls, log_bytes, cpu_ms = calls + batch_calls, log_bytes + len(log.encode()), cpu_ms + batch_cpu_ms
    seconds = time.perf_counter() - started
    return DbWriterFigures(
        batch_size, MESSAGES / seconds, calls.total() / MESSAGES, cpu_ms / MESSAGES, log_bytes / MESSAGES
    )


def _invoke(module: Any, event: dict[str, Any], *clients: Any) -> tuple[Any, Counter[str], str, float]:
    """The handler's response, AWS calls (counted through botocore's hooks), log lines and CPU milliseconds."""
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}:{model.name}"] += 1

    for client in clients:
        client.meta.events.register("before-call", count, unique_id="bench-count")
    function = module.__name__.split(".")[0].replace("_", "-")
    context = SimpleNamespace(
        function_name=f"{PREFIX}-{function}",
        aws_request_id=str(uuid.uuid4()),
        memory_limit_in_mb="1024",
        get_remaining_time_in_millis=lambda: 60_000,
    )
    try:
        with contextlib.redirect_stdout(io.StringIO()) as output:
            started = _cpu_seconds(module)
            response = module.lambda_handler(event, context)
            return response, calls, output.getvalue(), (_cpu_seconds(module) - started) * 1000
    finally:
        for client in clients:
            client.meta.events.unregister("before-call", unique_id="bench-count")


def _cpu_seconds(module: Any) -> float:
    """The handler's process and, for image_processor, the children it decodes in (every thread counted)."""
    decoder = getattr(module, "decoder", None)
    return time.process_time() + (decoder.cpu_seconds if decoder else 0.0)


def _last_message(sqs: Any, queue_url: str) -> str:
    """Drains the queue and returns the newest body (the handler sends exactly one per image)."""
    body = None
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        body = messages[-1]["Body"]
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
    if body is None:
        raise RuntimeError("image_processor sent no message")
    return body


def _s3_event(shape: str, key: str, number: int, **fields: Any) -> dict[str, Any]:
    """The event in tests/events/<shape>.json, for `key` in the uploads bucket."""
    event = copy.deepcopy(EVENTS[shape])
    s3 = event["Records"][0]["s3"]
    s3["bucket"] |= {"name": UPLOADS_BUCKET, "arn": f"arn:aws:s3:::{UPLOADS_BUCKET}"}
    s3["object"] |= {"key": key, "sequencer": f"{number + 1:018X}", **fields}
    return event


def _sqs_record(body: str) -> dict[str, Any]:
    record = copy.deepcopy(EVENTS["sqs_batch"]["Records"][0])
    record["attributes"]["SentTimestamp"] = str(int(time.time() * 1000))
    return record | {"messageId": str(uuid.uuid4()), "body": body}
