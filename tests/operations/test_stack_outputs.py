"""Where the operator tools find the stack: an option first, else the running local stack's outputs file, else
`terraform output -json`; each tool says which it used, and names the option and output of a missing value."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest

from local_pipeline.outputs_file import OUTPUTS_VARIABLE
from scripts import stack_outputs
from scripts.stack_outputs import OUTPUT_OF, ConfigurationError, add_stack_options, locate
from tests.operations.conftest import operator_environment, outputs_document, run_tool

LOCAL = "http://127.0.0.1:4599"
VALUES = {output: f"local-{output}" for output in OUTPUT_OF.values()}


def parsed(*arguments: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_stack_options(parser, *OUTPUT_OF)
    return parser.parse_args(arguments)


def outputs_file(tmp_path, pid: int, monkeypatch) -> str:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs_document(pid, LOCAL, VALUES)))
    monkeypatch.setenv(OUTPUTS_VARIABLE, str(path))
    return str(path)


def fake_terraform(folder, outputs: dict[str, str]) -> str:
    """A folder holding a `terraform` whose `output -json` prints these outputs; returns it for PATH."""
    document = {name: {"sensitive": False, "type": "string", "value": value} for name, value in outputs.items()}
    (folder / "terraform-outputs.json").write_text(json.dumps(document))
    script = folder / "terraform"
    script.write_text(f'#!/bin/sh\necho "$@" > {folder}/terraform-arguments\ncat {folder}/terraform-outputs.json\n')
    script.chmod(0o755)
    return str(folder)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_live_local_stack_gives_every_value_its_endpoint_and_region(tmp_path, monkeypatch, capsys):
    path = outputs_file(tmp_path, os.getpid(), monkeypatch)

    located = locate(parsed(), *OUTPUT_OF)

    assert located.values == {stack_outputs.attribute(option): VALUES[output] for option, output in OUTPUT_OF.items()}
    assert (located.endpoint_url, located.region, located.local) == (LOCAL, "us-east-1", True)
    assert capsys.readouterr().err == f"stack: local stack at {LOCAL} ({path})\n"


def test_an_option_overrides_the_local_stack_value(tmp_path, monkeypatch):
    outputs_file(tmp_path, os.getpid(), monkeypatch)

    located = locate(parsed("--upload-bucket", "mine", "--region", "eu-west-1"), *OUTPUT_OF)

    assert located.values["upload_bucket"] == "mine"
    assert located.values["table_name"] == VALUES["dynamodb_table_name"]
    assert located.region == "eu-west-1"


@pytest.mark.parametrize(
    ("arguments", "why"),
    [
        ((), "is from a local stack that is no longer running"),
        (("--endpoint-url", "http://127.0.0.1:1"), f"the running local stack is at {LOCAL}, not http://127.0.0.1:1"),
    ],
)
def test_a_stale_file_or_another_endpoint_falls_back_to_terraform_output(tmp_path, monkeypatch, capsys, arguments, why):
    outputs_file(tmp_path, dead_pid() if not arguments else os.getpid(), monkeypatch)
    monkeypatch.setenv(
        "PATH", f"{fake_terraform(tmp_path, {'upload_bucket_name': 'deployed'})}{os.pathsep}{os.environ['PATH']}"
    )

    located = locate(parsed(*arguments, "--terraform-dir", "deployed"), "--upload-bucket")

    assert located.values == {"upload_bucket": "deployed"} and not located.local
    assert "stack: terraform output in deployed/ (" in capsys.readouterr().err
    assert (tmp_path / "terraform-arguments").read_text().split() == ["-chdir=deployed", "output", "-json"]


def test_every_value_given_as_an_option_reads_nothing_else(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", f"{fake_terraform(tmp_path, {})}{os.pathsep}{os.environ['PATH']}")

    located = locate(parsed("--table-name", "t", "--endpoint-url", "http://elsewhere"), "--table-name")

    assert (located.values, located.endpoint_url) == ({"table_name": "t"}, "http://elsewhere")
    assert capsys.readouterr().err == "stack: the command line\n"
    assert not (tmp_path / "terraform-arguments").exists()


def test_a_missing_value_names_its_option_and_output(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{fake_terraform(tmp_path, {})}{os.pathsep}{os.environ['PATH']}")

    with pytest.raises(ConfigurationError, match=r"^no metadata_dlq_url: pass --metadata-dlq-url, start the local"):
        locate(parsed(), "--metadata-dlq-url")


def test_an_unreadable_outputs_file_is_named(tmp_path, monkeypatch):
    (tmp_path / "outputs.json").write_text("{not json")
    monkeypatch.setenv(OUTPUTS_VARIABLE, str(tmp_path / "outputs.json"))

    with pytest.raises(ConfigurationError, match=r"outputs.json is not a local stack's outputs file"):
        locate(parsed(), "--upload-bucket")


@pytest.mark.parametrize("tool", ["reprocess", "replay", "smoke_test", "reconcile"])
def test_with_a_stale_local_stack_file_each_tool_says_what_is_missing(tmp_path, tool):
    # GIVEN the outputs file of a local stack that has stopped, and no deployed stack (terraform output: none)
    (tmp_path / "stale.json").write_text(json.dumps(outputs_document(dead_pid(), LOCAL, VALUES)))
    path = f"{fake_terraform(tmp_path, {})}{os.pathsep}{os.environ['PATH']}"

    result = run_tool(
        tool, env=operator_environment(PATH=path, **{OUTPUTS_VARIABLE: str(tmp_path / "stale.json")}), timeout=120
    )

    # THEN it ignored the file, asked Terraform, and says which value is missing and how to give it
    assert result.returncode == 2, result.stdout + result.stderr
    stale = tmp_path / "stale.json"
    assert f"stack: terraform output in terraform/ ({stale} is from a local stack that is no longer running)" in (
        result.stderr
    )
    assert (tmp_path / "terraform-arguments").read_text().split() == ["-chdir=terraform", "output", "-json"]
    assert "error: no " in result.stderr and ": pass --" in result.stderr and "start the local stack" in result.stderr
