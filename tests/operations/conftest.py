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

from local_pipeline.outputs_file import OUTPUTS_VARIABLE
from local_pipeline.stack import REGION
from tests.local.subprocess_stack import LocalStack, running_local_stack

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION}
# Where the tests' tools look for a local stack unless a test gives them one: never the user's own file.
NO_LOCAL_STACK = str(Path(tempfile.gettempdir()) / f"no-local-stack-{os.getpid()}" / "outputs.json")


@pytest.fixture(autouse=True)
def no_local_stack_of_the_users(monkeypatch) -> None:
    """A tool called in this process must not find a local stack the user runs meanwhile."""
    monkeypatch.setenv(OUTPUTS_VARIABLE, NO_LOCAL_STACK)


def operator_environment(**extra: str) -> dict[str, str]:
    """This environment without any AWS settings of the user's or their local stack, plus the local
    stack's fake credentials."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    defaults = {"AWS_CONFIG_FILE": os.devnull, OUTPUTS_VARIABLE: NO_LOCAL_STACK}
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
def local_outputs_file(tmp_path_factory) -> Path:
    """Where this module's local stack writes its outputs file: never the user's."""
    return tmp_path_factory.mktemp("local-stack") / "outputs.json"


@pytest.fixture(scope="module")
def local_stack(local_outputs_file: Path) -> Iterator[LocalStack]:
    """`python -m local_pipeline --port N`, one per test module, stopped afterwards."""
    with running_local_stack(outputs_file=local_outputs_file) as local:
        yield local


@pytest.fixture(scope="module")
def local_outputs(local_stack: LocalStack, local_outputs_file: Path) -> dict[str, str]:
    """The outputs file the running local stack wrote: its path, and each output's value by name. The
    environment that points the tools at it (PIPELINE_LOCAL_OUTPUTS) is `local_environment`."""
    document = json.loads(local_outputs_file.read_text())
    assert (document["pid"], document["endpoint_url"]) == (local_stack.process.pid, local_stack.endpoint)
    values = {name: output["value"] for name, output in document["outputs"].items()}
    return {"path": str(local_outputs_file), **values}


@pytest.fixture(scope="module")
def local_environment(local_outputs: dict[str, str]) -> dict[str, str]:
    """An operator's environment in which the tools find the running local stack, and nothing else."""
    return operator_environment(**{OUTPUTS_VARIABLE: local_outputs["path"]})
