"""The operator tools' tests: the tools run as operators run them (`python -m scripts.<tool>`), and the local
stack started as a user starts it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_pipeline.stack import REGION
from scripts.stack_outputs import OUTPUTS_FILE_VARIABLE
from tests.local.subprocess_stack import LocalStack, running_local_stack

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION}
# Where the tests' tools look for a local stack unless a test gives them one: never the user's own file.
NO_LOCAL_STACK = str(Path(tempfile.gettempdir()) / f"no-local-stack-{os.getpid()}" / "outputs.json")


@pytest.fixture(autouse=True)
def no_local_stack_of_the_users(monkeypatch) -> None:
    """A tool called in this process must not find a local stack the user runs meanwhile."""
    monkeypatch.setenv(OUTPUTS_FILE_VARIABLE, NO_LOCAL_STACK)


def operator_environment(**extra: str) -> dict[str, str]:
    """This environment without any AWS settings of the user's or their local stack, plus the local
    stack's fake credentials."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    defaults = {"AWS_CONFIG_FILE": os.devnull, OUTPUTS_FILE_VARIABLE: NO_LOCAL_STACK}
    return environment | LOCAL_CREDENTIALS | defaults | extra


def run_tool(tool: str, *arguments: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`python -m scripts.<tool> ARGUMENTS` from the project root, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", f"scripts.{tool}", *arguments],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def outputs_document(pid: int, endpoint_url: str, outputs: dict[str, Any]) -> dict[str, Any]:
    """The local stack's outputs file (docs/local.md): `terraform output -json`'s shape, plus how to reach it."""
    shaped = {name: {"sensitive": False, "type": "string", "value": value} for name, value in outputs.items()}
    return {"pid": pid, "endpoint_url": endpoint_url, "region": REGION, "outputs": shaped}


@pytest.fixture(scope="module")
def local_stack() -> Iterator[LocalStack]:
    """`python -m local_pipeline --port N`, one per test module, stopped afterwards."""
    with running_local_stack() as local:
        yield local


@pytest.fixture(scope="module")
def local_outputs(local_stack: LocalStack, tmp_path_factory) -> dict[str, str]:
    """The running local stack's outputs file, at a temporary path; the environment that points the tools
    at it (PIPELINE_LOCAL_OUTPUTS) is `local_environment`.

    STAND-IN for the local stack's own writer (issue 25): until `python -m local_pipeline` writes this file
    itself, this fixture writes it from the started stack, with the outputs the tools read. Once the stack
    writes it, start the stack with PIPELINE_LOCAL_OUTPUTS set to this path and drop the writing here.
    """
    stack = local_stack.stack
    outputs = {
        "upload_bucket_name": stack.uploads_bucket,
        "thumbnail_bucket_name": stack.thumbnails_bucket,
        "dynamodb_table_name": stack.table,
        "image_processor_function_name": stack.image_processor.name,
        "metadata_queue_url": local_stack.queue_url(stack.metadata_queue.name),
        "metadata_dlq_url": local_stack.queue_url(stack.metadata_dlq.name),
        "processor_failures_queue_url": local_stack.queue_url(stack.processor_failures_queue.name),
    }
    path = tmp_path_factory.mktemp("local-stack") / "outputs.json"
    path.write_text(json.dumps(outputs_document(local_stack.process.pid, local_stack.endpoint, outputs)))
    return {"path": str(path), **outputs}


@pytest.fixture(scope="module")
def local_environment(local_outputs: dict[str, str]) -> dict[str, str]:
    """An operator's environment in which the tools find the running local stack, and nothing else."""
    return operator_environment(**{OUTPUTS_FILE_VARIABLE: local_outputs["path"]})
