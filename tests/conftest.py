"""Shared fixtures: fake AWS (moto) with the stack's resources, real event shapes, handler loading."""

from __future__ import annotations

import copy
import importlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from moto import mock_aws

from local_pipeline.outputs_file import OUTPUTS_VARIABLE
from local_pipeline.stack import REGION, default_stack

EVENTS_DIR = Path(__file__).parent / "events"
TERRAFORM = default_stack()


@pytest.fixture(autouse=True, scope="session")
def local_stack_outputs_apart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every local stack the tests start writes its outputs file here, inherited by subprocesses, never
    over .local-stack/outputs.json: a stack the developer runs meanwhile keeps its file, which the
    operator tools read (a test that kills its stack would otherwise leave a stale file in its place)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(OUTPUTS_VARIABLE, str(tmp_path_factory.mktemp("local-stack") / "outputs.json"))
        yield


def load_event(name: str) -> dict[str, Any]:
    """A real event shape from tests/events, as a fresh copy the test may change."""
    return copy.deepcopy(json.loads((EVENTS_DIR / f"{name}.json").read_text()))


def s3_event(
    name: str,
    *,
    bucket: str,
    key: str,
    size: int | None = None,
    sequencer: str | None = None,
    version_id: str | None = None,
    etag: str | None = None,
) -> dict:
    """An S3 notification of the given shape for `key`, URL-encoded the way S3 encodes it."""
    event = load_event(name)
    record = event["Records"][0]
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    obj = record["s3"]["object"]
    obj["key"] = quote_plus(key, safe="/")
    given = {"size": size, "sequencer": sequencer, "versionId": version_id, "eTag": etag}
    obj |= {field: value for field, value in given.items() if value is not None}
    return event


@dataclass
class Stack:
    """The pipeline's AWS resources in moto, named as terraform/ names them."""

    upload_bucket: str = TERRAFORM.upload_bucket
    thumbnail_bucket: str = TERRAFORM.thumbnail_bucket
    table_name: str = TERRAFORM.table_name
    queue_url: str = ""
    dlq_url: str = ""
    s3: Any = None
    sqs: Any = None
    dynamodb: Any = None

    def item(self, key: str) -> dict[str, Any] | None:
        response = self.dynamodb.get_item(TableName=self.table_name, Key={"image_key": {"S": key}})
        if "Item" not in response:
            return None
        deserializer = boto3.dynamodb.types.TypeDeserializer()
        return {name: deserializer.deserialize(value) for name, value in response["Item"].items()}

    def thumbnail_keys(self) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=self.thumbnail_bucket)
        return [entry["Key"] for entry in listing.get("Contents", [])]

    def queued_messages(self, queue_url: str | None = None) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=queue_url or self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        )
        return [json.loads(message["Body"]) for message in response.get("Messages", [])]


@pytest.fixture
def aws(monkeypatch):
    """Fake credentials before any client exists, then moto for the whole test."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def stack(aws) -> Stack:
    stack = Stack(s3=boto3.client("s3"), sqs=boto3.client("sqs"), dynamodb=boto3.client("dynamodb"))
    stack.s3.create_bucket(Bucket=stack.upload_bucket)
    stack.s3.create_bucket(Bucket=stack.thumbnail_bucket)
    stack.dlq_url = stack.sqs.create_queue(QueueName=TERRAFORM.metadata_dlq.name)["QueueUrl"]
    dlq_arn = stack.sqs.get_queue_attributes(QueueUrl=stack.dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    stack.queue_url = stack.sqs.create_queue(
        QueueName=TERRAFORM.metadata_queue.name,
        Attributes={
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": TERRAFORM.metadata_queue.max_receive_count}
            )
        },
    )["QueueUrl"]
    stack.dynamodb.create_table(
        TableName=stack.table_name,
        KeySchema=[{"AttributeName": "image_key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "image_key", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return stack


def fresh_import(module_name: str) -> ModuleType:
    """Imports a handler anew, so it reads this test's environment and creates clients under moto."""
    sys.modules.pop(module_name, None)
    return importlib.import_module(module_name)


@pytest.fixture
def image_processor(stack, monkeypatch) -> ModuleType:
    monkeypatch.setenv("THUMBNAIL_BUCKET", stack.thumbnail_bucket)
    monkeypatch.setenv("METADATA_QUEUE_URL", stack.queue_url)
    return fresh_import("image_processor.handler")


@pytest.fixture
def db_writer(stack, monkeypatch) -> ModuleType:
    monkeypatch.setenv("TABLE_NAME", stack.table_name)
    return fresh_import("db_writer.handler")


@dataclass
class LambdaContext:
    function_name: str = f"{TERRAFORM.prefix}-test"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    memory_limit_in_mb: int = 1024

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def context() -> LambdaContext:
    return LambdaContext()
