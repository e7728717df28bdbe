"""The operator tools' tests: the scripts loaded as modules, and the local stack started as a user starts it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from local_pipeline.stack import ACCOUNT_ID, REGION, Stack, default_stack
from tests.local.conftest import free_port, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 60
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION}


def load_script(name: str) -> ModuleType:
    """scripts/<name>.py as a module (scripts/ is not a package: operators run the files)."""
    if str(REPO_ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / "scripts"))  # as when the file runs: its folder comes first
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def operator_environment(**extra: str) -> dict[str, str]:
    """This environment without any AWS settings of the user's, plus the local stack's fake credentials."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "SMOKE_"))}
    return environment | LOCAL_CREDENTIALS | {"AWS_CONFIG_FILE": os.devnull} | extra


@dataclass
class LocalStack:
    process: subprocess.Popen[str]
    endpoint: str
    stack: Stack
    output: list[str] = field(default_factory=list)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def queue_url(self, name: str) -> str:
        return f"{self.endpoint}/{ACCOUNT_ID}/{name}"

    def depth(self, name: str) -> int:
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url(name),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())


@pytest.fixture(scope="module")
def local_stack() -> Iterator[LocalStack]:
    """`python -m local_pipeline --port N`, one per test module, stopped afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "local_pipeline", "--port", str(port)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=operator_environment(PYTHONUNBUFFERED="1"),
    )
    local = LocalStack(process, f"http://127.0.0.1:{port}", default_stack())
    threading.Thread(target=lambda: local.output.extend(process.stdout), daemon=True).start()  # type: ignore[arg-type]
    try:
        wait_until(
            lambda: any(line.startswith("Local pipeline ready") for line in local.output) or process.poll() is not None,
            READY_TIMEOUT_S,
            "the local stack's ready line",
        )
        assert process.poll() is None, "the local stack exited:\n" + "".join(local.output)
        yield local
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(30)
