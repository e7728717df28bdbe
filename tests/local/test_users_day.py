"""The users' day (README) on the local stack, with the real AWS CLI: v1 from the virtualenv and v2 where it is
installed. `aws s3 cp` an image and a file that is not one, `aws logs tail` (v2 only) shows each object's log
line, also with --follow, `aws dynamodb get-item` shows the records, both dead-letter queues are empty, and
every widget of the dashboard the stack serves shows something that received data."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.local.conftest import wait_until
from tests.local.subprocess_stack import VENV_AWS_CLI, LocalStack, cli_environment, running_local_stack
from tests.terraform.offline import require

pytestmark = pytest.mark.slow

RECORD_TIMEOUT_S = 60
PHOTO, NOT_AN_IMAGE, FOLLOWED = "day/photo.jpg", "day/notes.jpg", "day/followed.jpg"
GET_V2 = "Debian/Ubuntu: apt-get install awscli; macOS: brew install awscli; or AWS's installer"


def cli_version(executable: str) -> int | None:
    result = subprocess.run(
        [executable, "--version"], capture_output=True, text=True, env=cli_environment(), timeout=60
    )
    match = re.match(r"aws-cli/(\d+)\.", result.stdout + result.stderr)
    return int(match[1]) if match else None


def aws_cli_v2() -> str | None:
    """The first `aws` on PATH (or in the usual folders) that is AWS CLI v2: the virtualenv's is v1."""
    folders = [*os.environ.get("PATH", "").split(os.pathsep), "/usr/local/bin", "/usr/bin"]
    for folder in dict.fromkeys(folders):
        candidate = Path(folder) / "aws"
        if candidate.is_file() and os.access(candidate, os.X_OK) and cli_version(str(candidate)) == 2:
            return str(candidate)
    return None


def aws_cli(version: int) -> str:
    """AWS CLI v1 (the virtualenv's) or v2 (aws_cli_v2); a test needing a v2 that is absent skips, or fails in CI."""
    cli = VENV_AWS_CLI if version == 1 else aws_cli_v2()
    require(cli is not None, f"AWS CLI v2 on PATH ({GET_V2}; .ci/run installs it)")
    assert cli is not None and cli_version(cli) == version
    return cli


@pytest.fixture(scope="module", params=[1, 2], ids=["cli-v1", "cli-v2"])
def day(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """One local stack per CLI version, with a photo and a text file named .jpg copied in with `aws s3 cp`."""
    cli = aws_cli(request.param)
    folder = tmp_path_factory.mktemp("day")
    Image.radial_gradient("L").resize((1600, 1200)).convert("RGB").save(folder / "photo.jpg", "JPEG")
    (folder / "notes.jpg").write_text("meeting notes, not a photo\n")
    with running_local_stack() as local:
        local.cli = cli
        for key, name in ((PHOTO, "photo.jpg"), (NOT_AN_IMAGE, "notes.jpg")):
            copied = local.run("s3", "cp", str(folder / name), f"s3://{local.stack.upload_bucket}/{key}")
            assert re.search(rf"^upload: \S*{name} to s3://{local.stack.upload_bucket}/{key}$", copied.stdout, re.M)
        for key in (PHOTO, NOT_AN_IMAGE):
            wait_until(lambda key=key: local.item(key), RECORD_TIMEOUT_S, f"the record of {key}")
        yield local


def needs_logs_tail(local: LocalStack) -> None:
    if cli_version(local.cli) != 2:
        pytest.skip("`aws logs tail` exists only in AWS CLI v2")


def logged_objects(lines: list[str]) -> dict[str, dict]:
    """image_processor's JSON log line per object key, from `aws logs tail --format short` output."""
    found = {}
    for line in lines:
        _, _, message = line.partition(" ")
        if message.startswith("{") and '"outcome"' in message:
            entry = json.loads(message)
            found[entry["key"]] = entry
    return found


def test_get_item_shows_a_record_for_each_upload(day: LocalStack):
    photo, rejected = day.item(PHOTO), day.item(NOT_AN_IMAGE)

    assert photo["status"] == {"S": "PROCESSED"} and photo["format"] == {"S": "JPEG"}
    assert photo["thumbnails"]["L"][0]["M"]["key"] == {"S": f"thumbnails/{PHOTO}.webp"}
    assert rejected["status"] == {"S": "REJECTED"} and rejected["reason"] == {"S": "not_an_image"}


def test_logs_tail_shows_each_objects_structured_line(day: LocalStack):
    needs_logs_tail(day)

    tailed = day.run("logs", "tail", day.stack.image_processor.log_group, "--format", "short").stdout.splitlines()

    logged = logged_objects(tailed)
    assert logged[PHOTO]["outcome"] == "PROCESSED" and logged[PHOTO]["level"] == "INFO"
    assert logged[NOT_AN_IMAGE]["outcome"] == "REJECTED" and logged[NOT_AN_IMAGE]["reason"] == "not_an_image"
    assert any(line.partition(" ")[2].startswith("REPORT RequestId: ") for line in tailed)


def test_logs_tail_follow_shows_a_new_upload_then_stops(day: LocalStack, tmp_path: Path):
    needs_logs_tail(day)
    # GIVEN `aws logs tail --follow` running, as a user leaves it in a terminal
    command = [day.cli, "--endpoint-url", day.endpoint, "logs", "tail", day.stack.image_processor.log_group]
    follow = subprocess.Popen(
        [*command, "--follow", "--format", "short", "--since", "1m"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=cli_environment(),
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(follow.stdout), daemon=True).start()  # type: ignore[arg-type]
    try:
        # WHEN a photo is uploaded after it started
        time.sleep(1)
        Image.new("RGB", (800, 600), "teal").save(tmp_path / "followed.jpg", "JPEG")
        day.run("s3", "cp", str(tmp_path / "followed.jpg"), f"s3://{day.stack.upload_bucket}/{FOLLOWED}")

        # THEN its line appears while --follow runs, and stopping it ends the command
        logged = wait_until(lambda: logged_objects(list(lines)).get(FOLLOWED), RECORD_TIMEOUT_S, "the followed line")
        assert logged["outcome"] == "PROCESSED"
        assert follow.poll() is None, "logs tail --follow exited by itself:\n" + "".join(lines)
    finally:
        follow.terminate()
        follow.wait(10)


@pytest.mark.parametrize("queue", ["metadata_dlq", "processor_failures_queue"])
def test_the_dead_letter_queues_are_empty(day: LocalStack, queue: str):
    url = day.queue_url(getattr(day.stack, queue).name)

    attributes = day.aws("sqs", "get-queue-attributes", "--queue-url", url, "--attribute-names", "All")["Attributes"]

    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def dashboard_metrics(widget: dict) -> list[tuple[str, ...]]:
    """A metric widget's metrics as (namespace, name[, dimension, value]); a trailing options object is dropped,
    and so are metric math rows ([{expression}]), whose inputs are rows of their own."""
    rows = [tuple(part for part in metric if isinstance(part, str))[:4] for metric in widget["properties"]["metrics"]]
    return [row for row in rows if row]


def has_datapoints(day: LocalStack, namespace: str, name: str, *dimension: str) -> bool:
    """Whether the metric has data; without a dimension, the account-wide figure (ConcurrentExecutions)."""
    now = time.time()
    dimensions = ["--dimensions", f"Name={dimension[0]},Value={dimension[1]}"] if dimension else []
    statistics = day.aws(
        "cloudwatch", "get-metric-statistics", "--namespace", namespace, "--metric-name", name, *dimensions,
        "--statistics", "SampleCount", "--period", "60",
        "--start-time", str(int(now - 3600)), "--end-time", str(int(now + 300)),
    )  # fmt: skip
    return bool(statistics["Datapoints"])


def test_every_dashboard_widget_shows_data(day: LocalStack):
    # GIVEN the dashboard the stack serves, as `terraform output dashboard_url` opens it on AWS
    body = json.loads(day.aws("cloudwatch", "get-dashboard", "--dashboard-name", day.stack.dashboard)["DashboardBody"])
    alarms = {a["AlarmArn"] for a in day.aws("cloudwatch", "describe-alarms")["MetricAlarms"]}
    # Metrics the handlers emit only when it happens: no upload was deleted and every record was written.
    only_when_it_happens = {"ImagesDeleted", "RecordsSkipped", "RecordsFailed"}

    # THEN each widget resolves: its alarms exist, its log groups hold the functions' lines, its metrics have data
    for widget in body["widgets"]:
        title = widget["properties"].get("title")
        if widget["type"] == "alarm":
            assert set(widget["properties"]["alarms"]) <= alarms, title
        elif widget["type"] == "log":
            groups = re.findall(r"SOURCE '([^']+)'", widget["properties"]["query"])
            assert groups == [f.log_group for f in day.stack.functions], title
            for group in groups:
                assert day.aws("logs", "filter-log-events", "--log-group-name", group, "--limit", "1")["events"], group
        else:
            metrics = dashboard_metrics(widget)
            without_data = {metric[1] for metric in metrics if not has_datapoints(day, *metric)}
            assert without_data <= only_when_it_happens and len(without_data) < len(metrics), (title, without_data)
