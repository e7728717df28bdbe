"""What the operator scripts share: where a deployed stack is (an option, else an environment variable,
else the stack's `terraform output`, read once and only when a value is missing), its AWS clients, the
pacing of the calls they make, and the two reads they check the pipeline's work with."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config
from botocore.exceptions import ClientError

_deserializer = TypeDeserializer()


class ConfigurationError(Exception):
    """A value a script needs is missing; the message says where it looked."""


class StackOutputs:
    def __init__(self, terraform_dir: str, environment: dict[str, str]) -> None:
        self._terraform_dir = terraform_dir
        self._environment = environment
        self._outputs: dict[str, Any] | None = None

    def value(self, given: str | None, variable: str, output: str, option: str) -> str:
        found = given or self._environment.get(variable) or self._terraform_outputs().get(output)
        if not found:
            raise ConfigurationError(f"no {output}: pass {option}, set {variable}, or deploy terraform/ first")
        return str(found)

    def _terraform_outputs(self) -> dict[str, Any]:
        if self._outputs is None:
            command = ["terraform", f"-chdir={self._terraform_dir}", "output", "-json"]
            try:
                result = subprocess.run(command, capture_output=True, text=True, check=False)
            except FileNotFoundError as error:
                raise ConfigurationError("terraform is not installed: pass the values as options instead") from error
            if result.returncode != 0:
                where = self._terraform_dir
                raise ConfigurationError(f"`terraform output -json` failed in {where}: {result.stderr.strip()}")
            self._outputs = {name: output["value"] for name, output in json.loads(result.stdout or "{}").items()}
        return self._outputs


def clients(
    services: tuple[str, ...],
    queue_url: str,
    region: str | None,
    endpoint_url: str | None,
    configs: dict[str, Config] | None = None,
) -> dict[str, Any]:
    """boto3 clients in `region`, else the queue URL's region, else boto3's own; `configs` per service."""
    match = re.match(r"https://sqs\.([a-z0-9-]+)\.amazonaws\.com/", queue_url)
    session = boto3.session.Session(region_name=region or (match[1] if match else None))
    configs = configs or {}
    return {
        service: session.client(service, endpoint_url=endpoint_url, config=configs.get(service)) for service in services
    }


def read_record(dynamodb: Any, table: str, key: str) -> dict[str, Any] | None:
    """The key's record as plain values, read consistently: what db_writer last wrote, or None."""
    item = dynamodb.get_item(TableName=table, Key={"image_key": {"S": key}}, ConsistentRead=True).get("Item")
    return {name: _deserializer.deserialize(value) for name, value in item.items()} if item else None


def head_object(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """The object's HEAD response, or None when there is no such object."""
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


class Pacer:
    """At most `rate` calls a second, from any number of threads: each wait() returns no sooner than
    1/rate after the previous one."""

    def __init__(self, rate: float) -> None:
        self._interval = 1 / rate
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        # The next slot counts from when this wait returns, not from when it was due: a sleep that
        # overshoots (a busy machine) must not let the next call follow sooner than 1/rate.
        with self._lock:
            delay = self._next - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._next = time.monotonic() + self._interval


def positive(kind: type) -> Callable[[str], Any]:
    """An argparse type: a number of `kind` above 0."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
        return value

    return parse
