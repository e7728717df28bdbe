"""The operator tools' tests: the scripts loaded as modules, and the local stack started as a user starts it."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from local_pipeline.stack import REGION
from tests.local.subprocess_stack import LocalStack, running_local_stack

REPO_ROOT = Path(__file__).resolve().parents[2]
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


@pytest.fixture(scope="module")
def local_stack() -> Iterator[LocalStack]:
    """`python -m local_pipeline --port N`, one per test module, stopped afterwards."""
    with running_local_stack() as local:
        yield local
