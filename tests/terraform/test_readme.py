"""docs/deploy.md agrees with terraform/: every variable (table kept in sync here), output
and checkov skip is documented, and the commands a user follows are there."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.terraform.stack import REPO_ROOT, Stack, load_stack
from tests.terraform.test_checkov import inline_skips

TABLE_HEADER = "| Name | Type | Default | Description |"


def deploy_section() -> str:
    return (REPO_ROOT / "docs" / "deploy.md").read_text()


def render_default(value: Any) -> str:
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{json.dumps(value)}`"


def variables_table(stack: Stack) -> list[str]:
    """The variables table as it belongs in docs/deploy.md, in variables.tf's order."""
    rows = [TABLE_HEADER, "|---|---|---|---|"]
    for name, variable in stack.variables.items():
        type_ = variable["type"].removeprefix("${").removesuffix("}")
        rows.append(f"| `{name}` | `{type_}` | {render_default(variable['default'])} | {variable['description']} |")
    return rows


@pytest.fixture(scope="module")
def section() -> str:
    return deploy_section()


def test_readme_variables_table_matches_variables_tf(section: str):
    expected = variables_table(load_stack())
    lines = section.splitlines()
    assert TABLE_HEADER in lines, "the Deploy section needs the variables table:\n" + "\n".join(expected)
    start = lines.index(TABLE_HEADER)
    actual = lines[start : start + len(expected) + 1]
    assert actual[: len(expected)] == expected and not actual[-1].startswith("|"), (
        "docs/deploy.md's variables table is out of date; replace it with:\n" + "\n".join(expected)
    )


def test_readme_documents_every_output(section: str):
    for name in load_stack().outputs:
        assert f"`{name}`" in section, f"output {name} is not in docs/deploy.md"


def test_readme_explains_every_checkov_skip(section: str):
    for _, check, _ in inline_skips():
        assert check in section, f"checkov skip {check} is not explained in docs/deploy.md"


@pytest.mark.parametrize(
    "command",
    [
        "./build.sh",
        "terraform init",
        "terraform apply",
        "aws s3 cp",
        "aws logs tail",
        "terraform output -raw dashboard_url",
        "terraform destroy",
        "force_destroy",
        "scripts/checkov.sh",
    ],
)
def test_readme_deploy_section_shows(section: str, command: str):
    assert command in section
