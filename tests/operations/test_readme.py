"""docs/operations.md keeps up with the alarms terraform/ creates and the tools' options."""

from __future__ import annotations

import importlib
import re

import pytest

from local_pipeline.stack import default_stack
from tests.operations.conftest import REPO_ROOT


def operations_section() -> str:
    return (REPO_ROOT / "docs" / "operations.md").read_text()


def test_every_alarm_is_explained():
    # Each alarm's name as terraform/ gives it with its defaults, after "<project>-<environment>-"
    stack = default_stack()
    alarms = {alarm.name.removeprefix(f"{stack.prefix}-") for alarm in stack.alarms}

    # Every `…-name` in the first cell of a table row: a row may explain several alarms.
    first_cells = re.findall(r"^\| (`…-[^|]+)\|", operations_section(), re.M)
    explained = {name for cell in first_cells for name in re.findall(r"`…-([a-z-]+)`", cell)}

    assert alarms and alarms == explained, f"terraform/ has {sorted(alarms)}, docs/operations.md {sorted(explained)}"


@pytest.mark.parametrize("tool", ["reprocess", "replay", "smoke_test", "reconcile"])
def test_every_option_of_the_tools_is_documented(tool: str):
    parser = importlib.import_module(f"scripts.{tool}").build_parser()
    options = set(re.findall(r"--[a-z][a-z-]+", parser.format_help())) - {"--help"}

    undocumented = sorted(option for option in options if f"`{option}" not in operations_section())

    assert options and not undocumented, f"scripts.{tool}'s options missing from docs/operations.md: {undocumented}"
