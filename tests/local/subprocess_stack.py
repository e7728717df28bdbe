"""The local stack as a user starts it, `python -m local_pipeline` in a subprocess, driven with a real AWS CLI."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from local_pipeline.outputs_file import OUTPUTS_VARIABLE
from local_pipeline.stack import ACCOUNT_ID, REGION, Stack, default_stack
from tests.local.conftest import free_port, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_AWS_CLI = str(Path(sys.executable).parent / "aws")  # awscli v1, from requirements-dev.txt
READY_TIMEOUT_S = 60


@dataclass
class LocalStack:
    process: subprocess.Popen[str]
    endpoint: str
    stack: Stack
    output: list[str] = field(default_factory=list)
    cli: str = VENV_AWS_CLI

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Runs `aws --endpoint-url <local> ARGS` as a user would, with the credentials the ready text suggests."""
        result = subprocess.run(
            [self.cli, "--endpoint-url", self.endpoint, *args],
            capture_output=True,
            text=True,
            env=cli_environment(),
            timeout=60,
        )
        if check:
            assert result.returncode == 0, f"aws {' '.join(args)} failed:\n{result.stderr}"
        return result

    def aws(self, *args: str, check: bool = True) -> Any:
        """Runs `aws --endpoint-url <local> ARGS --output json`; returns the parsed JSON, if any."""
        stdout = self.run(*args, "--output", "json", check=check).stdout
        return json.loads(stdout) if stdout.strip().startswith(("{", "[")) else stdout

    def item(self, key: str) -> dict[str, Any] | None:
        response = self.aws("dynamodb", "get-item", "--table-name", self.stack.table_name, "--key", key_json(key))
        return response.get("Item") if isinstance(response, dict) else None

    def queue_url(self, name: str) -> str:
        return f"{self.endpoint}/{ACCOUNT_ID}/{name}"

    def client(self, service: str) -> Any:
        """A boto3 client of the local stack, for set-up and checks the test makes beside the CLI."""
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def depth(self, queue_name: str) -> int:
        """Messages in the queue, visible or in flight."""
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url(queue_name),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())


def cli_environment() -> dict[str, str]:
    """The user's environment without their AWS settings, plus the fake credentials the ready line prints."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return environment | {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def key_json(image_key: str) -> str:
    return json.dumps({"image_key": {"S": image_key}})


@contextlib.contextmanager
def running_local_stack(*args: str, outputs_file: Path | None = None) -> Iterator[LocalStack]:
    """`python -m local_pipeline ARGS` on a free port, until its ready line; killed on the way out. Its
    outputs file is `outputs_file`, else one in a temporary directory: never the user's."""
    scratch = tempfile.TemporaryDirectory(prefix="local-stack-")
    outputs_file = outputs_file or Path(scratch.name) / "outputs.json"
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "local_pipeline", "--port", str(port), *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=cli_environment() | {"PYTHONUNBUFFERED": "1", OUTPUTS_VARIABLE: str(outputs_file)},
    )
    local = LocalStack(process, f"http://127.0.0.1:{port}", default_stack())
    reader = threading.Thread(target=lambda: local.output.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        wait_until(
            lambda: (
                any(line.startswith("Local pipeline ready at") for line in local.output) or process.poll() is not None
            ),
            READY_TIMEOUT_S,
            "the ready line",
        )
        assert process.poll() is None, "the local stack exited:\n" + "".join(local.output)
        yield local
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        scratch.cleanup()
