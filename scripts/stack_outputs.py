"""What the operator tools share: their one vocabulary for the stack, where its values come from, its AWS
clients, the pacing of the calls they make, and the two reads they check the pipeline's work with.

Every tool names the stack's resources with the same options, each named after the Terraform output it
defaults to (OUTPUT_OF). A value comes from the option, else from the running local stack's outputs file
(scripts/local.sh writes it: PIPELINE_LOCAL_OUTPUTS, default .local-stack/outputs.json) while the process
that wrote it is alive and no other endpoint was asked for, else from `terraform output -json`. Each tool
says on stderr which of those it used.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config
from botocore.exceptions import ClientError

from local_pipeline.outputs_file import outputs_path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TERRAFORM_DIR = "terraform"
# The local stack accepts any credentials: the tools bring these, so that none need be set to use it.
LOCAL_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}

# The tools' vocabulary: each option naming a part of the stack, and the Terraform output it defaults to.
OUTPUT_OF = {
    "--upload-bucket": "upload_bucket_name",
    "--thumbnail-bucket": "thumbnail_bucket_name",
    "--table-name": "dynamodb_table_name",
    "--image-processor-function-name": "image_processor_function_name",
    "--metadata-queue-url": "metadata_queue_url",
    "--metadata-dlq-url": "metadata_dlq_url",
    "--processor-failures-queue-url": "processor_failures_queue_url",
}

_deserializer = TypeDeserializer()


class ConfigurationError(Exception):
    """A value a tool needs is missing or unusable; the message says which and where it looked."""


def attribute(option: str) -> str:
    """The option's name on argparse's namespace (and on Located.values): --table-name -> table_name."""
    return option.removeprefix("--").replace("-", "_")


def add_stack_options(parser: argparse.ArgumentParser, *options: str) -> None:
    """The OUTPUT_OF options the tool uses, plus where the stack is: the same for every tool."""
    group = parser.add_argument_group(
        "the stack", "each value defaults to the running local stack's, else to `terraform output`"
    )
    for option in options:
        group.add_argument(option, help=f"default: output {OUTPUT_OF[option]}")
    group.add_argument(
        "--endpoint-url", help="AWS endpoint (default: the local stack's when it runs, else AWS_ENDPOINT_URL)"
    )
    group.add_argument("--region", help="AWS region (default: the local stack's, else a queue URL's, else boto3's)")
    group.add_argument(
        "--terraform-dir",
        default=DEFAULT_TERRAFORM_DIR,
        help="where to run `terraform output -json` (default: terraform)",
    )


@dataclass(frozen=True)
class Located:
    """The stack's values a tool asked for, by attribute name, and how to reach it."""

    values: dict[str, str]
    source: str
    endpoint_url: str | None
    region: str | None
    local: bool

    def clients(self, services: tuple[str, ...], configs: dict[str, Config] | None = None) -> dict[str, Any]:
        """boto3 clients in the region, else the first queue URL's, else boto3's own; `configs` per service."""
        region = self.region
        for value in self.values.values():
            if not region and (match := re.match(r"https://sqs\.([a-z0-9-]+)\.amazonaws\.com/", value)):
                region = match[1]
        session = boto3.session.Session(region_name=region, **(LOCAL_CREDENTIALS if self.local else {}))
        configs = configs or {}
        return {
            service: session.client(service, endpoint_url=self.endpoint_url, config=configs.get(service))
            for service in services
        }


def locate(args: argparse.Namespace, *options: str) -> Located:
    """The values of `options` (see module doc for the order), announced on stderr; ConfigurationError
    names the option and the output when one has no value."""
    given = {attribute(option): getattr(args, attribute(option)) for option in options}
    asked_endpoint = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    outputs_file = outputs_path()
    local, passed_over = _live_local_stack(outputs_file, asked_endpoint)
    endpoint_url, region = asked_endpoint, args.region
    if local is not None:
        found = {name: output["value"] for name, output in local["outputs"].items()}
        source = f"local stack at {local['endpoint_url']} ({_shown(outputs_file)})"
        endpoint_url, region = local["endpoint_url"], args.region or local["region"]
    elif all(given.values()):
        found, source = {}, "the command line"
    else:
        found = _terraform_outputs(args.terraform_dir)
        source = f"terraform output in {args.terraform_dir.rstrip('/')}/" + (f" ({passed_over})" if passed_over else "")
    print(f"stack: {source}", file=sys.stderr, flush=True)
    values = {}
    for option in options:
        value = given[attribute(option)] or found.get(OUTPUT_OF[option])
        if not value:
            raise ConfigurationError(
                f"no {OUTPUT_OF[option]}: pass {option}, start the local stack (scripts/local.sh) or deploy "
                f"terraform/ first ({source} has none)"
            )
        values[attribute(option)] = str(value)
    return Located(values, source, endpoint_url, region, local=local is not None)


def _live_local_stack(path: Path, asked_endpoint: str | None) -> tuple[dict[str, Any] | None, str]:
    """The local stack's outputs file when it is live and the endpoint asked for (if any) is its own;
    else None, and why a file that exists was passed over."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return None, ""
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"{path} is not a local stack's outputs file ({error}): delete it") from None
    if not isinstance(document, dict) or not {"pid", "endpoint_url", "region", "outputs"} <= document.keys():
        raise ConfigurationError(f"{path} is not a local stack's outputs file (pid, endpoint_url, region, outputs)")
    if not _running(document["pid"]):
        return None, f"{_shown(path)} is from a local stack that is no longer running"
    if asked_endpoint and asked_endpoint.rstrip("/") != document["endpoint_url"].rstrip("/"):
        return None, f"the running local stack is at {document['endpoint_url']}, not {asked_endpoint}"
    return document, ""


def _running(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process, but alive
    return True


def _shown(path: Path) -> str:
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def _terraform_outputs(terraform_dir: str) -> dict[str, Any]:
    command = ["terraform", f"-chdir={terraform_dir}", "output", "-json"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError as error:
        raise ConfigurationError(
            "terraform is not installed and no local stack is running: pass the values as options"
        ) from error
    if result.returncode != 0:
        raise ConfigurationError(f"`terraform output -json` failed in {terraform_dir}: {result.stderr.strip()}")
    return {name: output["value"] for name, output in json.loads(result.stdout or "{}").items()}


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
