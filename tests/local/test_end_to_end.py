"""The local stack as a user meets it: started as a subprocess, driven only with the real AWS CLI.

The CLI is awscli (v1) from the virtualenv, pointed at the stack with --endpoint-url; the commands
the ready text prints are also run as a user pastes them into a shell.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from sample_images import images
from tests.local.conftest import wait_until
from tests.local.subprocess_stack import LocalStack, running_local_stack

pytestmark = pytest.mark.slow

# Upload to record: the batching window (5 s) plus processing, with room for a slow machine.
RECORD_TIMEOUT_S = 60
# A poison message is received 5 times, each after a 5 s batching window and a 2 s retry delay.
DLQ_TIMEOUT_S = 120

PHOTO = "e2e/photo with spaces.jpg"
NON_ASCII = "e2e/zürich ☀ café.png"
LARGE = "e2e/large scan.bmp"  # over awscli's 8 MB multipart threshold
IPHONE = "e2e/IMG_0001.HEIC"  # stored sideways, turned by its container (irot) and by EXIF Orientation 6


@pytest.fixture(scope="module")
def local() -> Iterator[LocalStack]:
    with running_local_stack() as local:
        yield local


@pytest.fixture(scope="module")
def uploaded(local: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Four images copied in with `aws s3 cp`, one of them through a multipart upload, one a HEIC."""
    folder = tmp_path_factory.mktemp("images")
    files = {
        PHOTO: _image(folder / "photo.jpg", (1200, 900), "JPEG"),
        NON_ASCII: _image(folder / "non-ascii.png", (500, 400), "PNG"),
        LARGE: _image(folder / "large.bmp", (1800, 1700), "BMP"),
        IPHONE: folder / "IMG_0001.HEIC",
    }
    files[IPHONE].write_bytes(images.heic(images.stored_for_orientation(6), transform=6))
    assert (folder / "large.bmp").stat().st_size > 8 * 1024 * 1024
    for key, path in files.items():
        local.aws("s3", "cp", str(path), f"s3://{local.stack.upload_bucket}/{key}")
    return list(files)


def _image(path: Path, size: tuple[int, int], image_format: str) -> Path:
    Image.radial_gradient("L").resize(size).convert("RGB").save(path, image_format)
    return path


def test_uploads_get_a_record_each(local: LocalStack, uploaded: list[str]):
    for key in uploaded:
        item = wait_until(lambda key=key: local.item(key), RECORD_TIMEOUT_S, f"the record of {key}")
        assert item["status"] == {"S": "PROCESSED"}, item
        assert item["thumbnails"]["L"][0]["M"]["key"] == {"S": f"thumbnails/{key}.webp"}
        assert re.fullmatch(r"#[0-9a-f]{6}", item["dominant_color"]["S"]) and len(item["phash"]["S"]) == 16
        assert item["placeholder"]["S"]
    assert local.item(LARGE)["event_name"] == {"S": "ObjectCreated:CompleteMultipartUpload"}
    scanned = local.aws("dynamodb", "scan", "--table-name", local.stack.table_name)
    assert {entry["image_key"]["S"] for entry in scanned["Items"]} == set(uploaded)


def test_a_ready_record_is_read_from_the_tables_stream(local: LocalStack, uploaded: list[str]):
    # GIVEN an upload's record, and the table's stream found as a consumer finds it
    item = wait_until(lambda: local.item(NON_ASCII), RECORD_TIMEOUT_S, f"the record of {NON_ASCII}")
    streams = local.client("dynamodbstreams")
    [stream] = streams.list_streams(TableName=local.stack.table_name)["Streams"]
    description = streams.describe_stream(StreamArn=stream["StreamArn"])["StreamDescription"]
    assert description["StreamViewType"] == "NEW_IMAGE"

    # WHEN every shard is read from its start
    records = []
    for shard in description["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream["StreamArn"], ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator)["Records"]

    # THEN the upload's record is there, whole, as a consumer filtering on PROCESSED receives it
    ready = [
        record["dynamodb"]["NewImage"]
        for record in records
        if record["dynamodb"]["Keys"] == {"image_key": {"S": NON_ASCII}}
        and record["dynamodb"]["NewImage"]["status"] == {"S": "PROCESSED"}
    ]
    assert ready[-1] == item


def test_thumbnails_appear_under_the_prefix(local: LocalStack, uploaded: list[str]):
    for key in uploaded:
        wait_until(lambda key=key: local.item(key), RECORD_TIMEOUT_S, f"the record of {key}")
    listing = local.aws("s3", "ls", f"s3://{local.stack.thumbnail_bucket}/thumbnails/e2e/", "--recursive")

    listed = {line.split(maxsplit=3)[3] for line in listing.splitlines()}
    assert listed == {f"thumbnails/{key}.webp" for key in uploaded}


def test_an_iphone_heic_gets_an_upright_thumbnail(local: LocalStack, uploaded: list[str], tmp_path: Path):
    item = wait_until(lambda: local.item(IPHONE), RECORD_TIMEOUT_S, f"the record of {IPHONE}")
    assert (item["status"], item["format"]) == ({"S": "PROCESSED"}, {"S": "HEIF"}), item

    local.aws("s3", "cp", f"s3://{local.stack.thumbnail_bucket}/thumbnails/{IPHONE}.webp", str(tmp_path / "t.webp"))

    # The marker is top-left in the upright picture: rotated once, by the container, not again by EXIF.
    thumbnail = Image.open(tmp_path / "t.webp").convert("RGB")
    assert thumbnail.size == (256, 171)
    red, green, _ = thumbnail.getpixel((10, 10))
    assert red > 200 and green < 80
    assert min(thumbnail.getpixel((245, 160))) > 200


def test_function_logs_can_be_read_with_filter_log_events(local: LocalStack, uploaded: list[str]):
    for function in local.stack.functions:

        def messages(group: str = function.log_group) -> list[str]:
            events = local.aws("logs", "filter-log-events", "--log-group-name", group)["events"]
            return [event["message"] for event in events]

        logged = wait_until(
            lambda: (found := messages()) and any(m.startswith("REPORT RequestId: ") for m in found) and found,
            RECORD_TIMEOUT_S,
            f"a REPORT line of {function.name}",
        )
        assert any(m.startswith("START RequestId: ") for m in logged), function.name
        assert any(m.startswith("END RequestId: ") for m in logged), function.name
        report = next(m for m in logged if m.startswith("REPORT RequestId: "))
        assert f"Memory Size: {function.memory_mb} MB" in report
        json_lines = [json.loads(m) for m in logged if m.startswith("{")]
        assert any(line.get("function_name") == function.name for line in json_lines), function.name


def test_s3_rm_removes_the_thumbnail_and_marks_the_record_deleted(local: LocalStack, uploaded: list[str]):
    wait_until(lambda: local.item(PHOTO), RECORD_TIMEOUT_S, "the record")

    local.aws("s3", "rm", f"s3://{local.stack.upload_bucket}/{PHOTO}")

    item = wait_until(
        lambda: (item := local.item(PHOTO)) and item["status"]["S"] == "DELETED" and item,
        RECORD_TIMEOUT_S,
        "the DELETED record",
    )
    assert item["event_name"] == {"S": "ObjectRemoved:DeleteMarkerCreated"}
    listing = local.aws("s3", "ls", f"s3://{local.stack.thumbnail_bucket}/thumbnails/e2e/", "--recursive")
    assert f"thumbnails/{PHOTO}.webp" not in listing
    assert f"thumbnails/{NON_ASCII}.webp" in listing


def test_the_printed_commands_work_pasted_into_a_shell(local: LocalStack, tmp_path: Path):
    # GIVEN the ready text's lines, a shell without the virtualenv on PATH, and a photo.jpg to upload
    setup, commands = _printed_commands(local.output)
    assert setup[0] == f"source {shlex.quote(str(Path(sys.prefix) / 'bin' / 'activate'))}"
    _image(tmp_path / "photo.jpg", (640, 480), "JPEG")
    pasted: list[str] = []

    def paste(fragment: str) -> str:
        [command] = [c for c in commands if fragment in c]
        pasted.append(command)
        return _paste(setup, command, tmp_path)

    uploaded = paste(" s3 cp photo.jpg ")
    assert f"upload: ./photo.jpg to s3://{local.stack.upload_bucket}/photo.jpg" in uploaded
    wait_until(lambda: local.item("photo.jpg"), RECORD_TIMEOUT_S, "the record of photo.jpg")

    assert "thumbnails/photo.jpg.webp" in paste(" s3 ls ")
    assert "photo.jpg" in {item["image_key"]["S"] for item in json.loads(paste(" dynamodb scan "))["Items"]}
    for function in local.stack.functions:
        events = json.loads(paste(f"filter-log-events --log-group-name {function.log_group}"))["events"]
        assert any(event["message"].startswith("START RequestId: ") for event in events), function.name
    for queue in (local.stack.metadata_dlq, local.stack.processor_failures_queue):
        paste(f"/{queue.name}")  # exits 0; whether a message is there depends on the tests before
    assert "MetricAlarms" in json.loads(paste(" cloudwatch describe-alarms "))
    assert sorted(pasted) == sorted(commands), "a printed command this test does not run"


def _printed_commands(output: list[str]) -> tuple[list[str], list[str]]:
    """The ready text's shell lines: the setup (source, export), and the aws commands AWS CLI v1 runs."""
    start = next(i for i, line in enumerate(output) if line.startswith("In another shell ("))
    hint = re.fullmatch(r"In another shell \(this virtualenv has AWS CLI v1: (source .+)\):\n", output[start])
    assert hint, output[start]
    lines = [line.strip() for line in itertools.takewhile(lambda line: line.startswith("  "), output[start + 1 :])]
    assert lines[0].startswith("export "), lines
    return [hint[1], lines[0]], [line for line in lines[1:] if "AWS CLI v2 only" not in line]


def _paste(setup: list[str], command: str, folder: Path) -> str:
    """Runs `command` after `setup` in bash, in `folder`, as a user's shell would; returns its output."""
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(entry for entry in os.environ["PATH"].split(os.pathsep) if entry != venv_bin)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "VIRTUAL_ENV"}
    # The user's ~/.aws files must not change the outcome; the export line supplies all the settings.
    environment |= {"PATH": path, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    result = subprocess.run(
        ["bash", "-c", "\n".join([*setup, command])],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}{result.stderr}"
    return result.stdout


def test_a_poison_message_reaches_the_dlq_and_turns_its_alarm_on(local: LocalStack):
    alarm = f"{local.stack.metadata_dlq.name}-not-empty"
    [before] = local.aws("cloudwatch", "describe-alarms", "--alarm-names", alarm)["MetricAlarms"]
    assert before["StateValue"] == "OK"

    local.aws(
        "sqs",
        "send-message",
        "--queue-url",
        local.queue_url(local.stack.metadata_queue.name),
        "--message-body",
        "{oops",
    )

    dlq_url = local.queue_url(local.stack.metadata_dlq.name)

    def dlq_depth() -> int:
        attributes = local.aws("sqs", "get-queue-attributes", "--queue-url", dlq_url, "--attribute-names", "All")
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    wait_until(dlq_depth, DLQ_TIMEOUT_S, "the poison message in the DLQ")
    state = wait_until(
        lambda: (
            local.aws("cloudwatch", "describe-alarms", "--alarm-names", alarm)["MetricAlarms"][0]["StateValue"]
            == "ALARM"
        ),
        10,
        "the DLQ alarm",
    )
    assert state
    messages = local.aws("sqs", "receive-message", "--queue-url", dlq_url, "--visibility-timeout", "0")["Messages"]
    assert [m["Body"] for m in messages] == ["{oops"]
    assert any(f"ALARM {alarm}" in line for line in local.output)


def test_ctrl_c_stops_the_stack_cleanly(local: LocalStack):
    local.process.send_signal(signal.SIGINT)

    assert local.process.wait(30) == 130
    time.sleep(0.2)  # the reader thread drains the last lines
    assert any("local pipeline stopped" in line for line in local.output)
    assert not any("Traceback" in line for line in local.output), "".join(local.output)
