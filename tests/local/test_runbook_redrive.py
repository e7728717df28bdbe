"""The runbook's metadata-DLQ redrive (docs/operations.md) run as written, with bash and the real AWS CLI v1 and v2,
against the local stack; and a call the local stack does not emulate, which is one clear error line."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore
import pytest

from local_pipeline.stack import queue_arn
from tests.local.conftest import wait_until
from tests.local.subprocess_stack import LocalStack, cli_environment, running_local_stack
from tests.local.test_users_day import aws_cli

pytestmark = pytest.mark.slow

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
# At the runbook's 10 a second, moving these takes 30 s: time enough to list and cancel the move.
SLOW_MOVE_MESSAGES = 300
MOVE_TIMEOUT_S = 60


def runbook_commands() -> list[str]:
    """The shell commands of the runbook's "Replaying the metadata DLQ" block, continuation lines joined."""
    section = RUNBOOK.read_text().split("## Replaying the metadata DLQ", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)[1]
    return [command.strip() for command in block.replace("\\\n", " ").splitlines() if command.strip()]


def sqs_model_folder(folder: Path) -> Path:
    """The SQS API model of the virtualenv's botocore, as `aws configure add-model` would install it."""
    source = Path(botocore.__file__).parent / "data" / "sqs" / "2012-11-05" / "service-2.json.gz"
    target = folder / "sqs" / "2012-11-05" / "service-2.json"
    target.parent.mkdir(parents=True)
    with gzip.open(source) as model, target.open("wb") as copy:
        shutil.copyfileobj(model, copy)
    return folder


def knows_move_tasks(cli: str) -> bool:
    help_text = subprocess.run([cli, "sqs", "help"], capture_output=True, text=True, env=cli_environment(), timeout=60)
    return "start-message-move-task" in help_text.stdout


@pytest.fixture(scope="module", params=[1, 2], ids=["cli-v1", "cli-v2"])
def redrive(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A local stack, the CLI of one version, and the environment the runbook's commands run in."""
    cli = aws_cli(request.param)
    environment = cli_environment() | {"AWS_DEFAULT_OUTPUT": "json", "AWS_PAGER": ""}
    if not knows_move_tasks(cli):
        # Debian 12's v2 (2.9.19) predates message move tasks; docs/local.md gives it the newer SQS model.
        environment["AWS_DATA_PATH"] = str(sqs_model_folder(tmp_path_factory.mktemp("models")))
    with running_local_stack() as local:
        yield {"local": local, "cli": cli, "environment": environment}


def run_runbook(redrive: dict[str, Any], command: str, **values: str) -> subprocess.CompletedProcess[str]:
    """Runs the DLQ_ARN assignment and one more command of the runbook in bash, `aws` pointed at the local
    stack and `terraform output -raw metadata_dlq_url` answered with the local DLQ's URL."""
    local: LocalStack = redrive["local"]
    dlq_arn, *_ = runbook_commands()
    for name, value in values.items():
        command = command.replace(f"<{name}>", value)
    script = "\n".join(
        [
            "set -euo pipefail",
            'aws() { "$AWS_CLI" --endpoint-url "$ENDPOINT" "$@"; }',
            'terraform() { echo "$METADATA_DLQ_URL"; }',
            dlq_arn,
            command,
        ]
    )
    variables = {
        "AWS_CLI": redrive["cli"],
        "ENDPOINT": local.endpoint,
        "METADATA_DLQ_URL": local.queue_url(local.stack.metadata_dlq.name),
    }
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=redrive["environment"] | variables, timeout=120
    )
    assert result.returncode == 0, f"{command}\n{result.stderr}"
    return result


def latest_task(redrive: dict[str, Any]) -> dict[str, Any]:
    """The newest move task of the metadata DLQ ({} before the first)."""
    _, _, list_tasks, _ = runbook_commands()
    return (json.loads(run_runbook(redrive, list_tasks).stdout)["Results"] or [{}])[0]


def dead_letter(local: LocalStack, count: int) -> None:
    """`count` messages db_writer could not write, in the metadata DLQ."""
    sqs = local.client("sqs")
    for first in range(0, count, 10):
        entries = [{"Id": str(i), "MessageBody": f"not a metadata message {i}"} for i in range(first, first + 10)]
        sqs.send_message_batch(QueueUrl=local.queue_url(local.stack.metadata_dlq.name), Entries=entries)


def test_runbook_redrive_moves_the_metadata_dlq_back(redrive: dict[str, Any]):
    local: LocalStack = redrive["local"]
    _, start, _, _ = runbook_commands()
    dead_letter(local, 10)

    run_runbook(redrive, start)

    task = wait_until(lambda: (t := latest_task(redrive))["Status"] == "COMPLETED" and t, MOVE_TIMEOUT_S, "COMPLETED")
    assert task["SourceArn"] == queue_arn(local.stack.metadata_dlq.name) and "DestinationArn" not in task
    assert task["ApproximateNumberOfMessagesMoved"] == task["ApproximateNumberOfMessagesToMove"] == 10
    # db_writer received them again from the metadata queue (and, as they are still not metadata, failed them)
    wait_until(lambda: any("retried" in line for line in local.output), MOVE_TIMEOUT_S, "db_writer's retry line")


def test_runbook_redrive_lists_and_cancels_a_running_move(redrive: dict[str, Any]):
    local: LocalStack = redrive["local"]
    _, start, _, cancel = runbook_commands()
    wait_until(lambda: latest_task(redrive).get("Status") != "RUNNING", MOVE_TIMEOUT_S, "no move running")
    dead_letter(local, SLOW_MOVE_MESSAGES)

    handle = json.loads(run_runbook(redrive, start).stdout)["TaskHandle"]
    running = latest_task(redrive)
    cancelled = json.loads(run_runbook(redrive, cancel, TaskHandle=handle).stdout)

    assert running["Status"] == "RUNNING" and running["TaskHandle"] == handle
    assert running["MaxNumberOfMessagesPerSecond"] == 10
    assert running["ApproximateNumberOfMessagesToMove"] >= SLOW_MOVE_MESSAGES
    task = wait_until(lambda: (t := latest_task(redrive))["Status"] == "CANCELLED" and t, MOVE_TIMEOUT_S, "CANCELLED")
    assert task["ApproximateNumberOfMessagesMoved"] == cancelled["ApproximateNumberOfMessagesMoved"]
    assert task["ApproximateNumberOfMessagesMoved"] < task["ApproximateNumberOfMessagesToMove"]


def test_an_unemulated_call_is_one_error_line_and_one_console_line(redrive: dict[str, Any]):
    local: LocalStack = redrive["local"]
    command = [redrive["cli"], "--endpoint-url", local.endpoint, "cloudwatch", "describe-anomaly-detectors"]

    result = subprocess.run(command, capture_output=True, text=True, env=redrive["environment"], timeout=60)

    expected = "The local stack does not emulate cloudwatch DescribeAnomalyDetectors."
    assert result.returncode != 0 and [line for line in result.stderr.splitlines() if line.strip()] == [
        f"An error occurred (NotImplemented) when calling the DescribeAnomalyDetectors operation: {expected}"
    ]
    said = wait_until(lambda: [line for line in local.output if "DescribeAnomalyDetectors" in line], 10, "the line")
    assert len(said) == 1 and "not emulated: cloudwatch DescribeAnomalyDetectors" in said[0]
    assert not any("Traceback" in line for line in local.output)
