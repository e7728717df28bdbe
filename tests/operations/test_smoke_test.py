"""scripts/smoke_test.py against the local stack: it passes on a working pipeline, and fails with a message
that says what to look at when the pipeline is not working."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.local.subprocess_stack import LocalStack
from tests.operations.conftest import REPO_ROOT, load_script, operator_environment

pytestmark = pytest.mark.slow

SCRIPT = REPO_ROOT / "scripts" / "smoke_test.py"
smoke_tool = load_script("smoke_test")


def target(local: LocalStack, **override: str):
    stack = local.stack
    values = {
        "upload_bucket": stack.upload_bucket,
        "thumbnail_bucket": stack.thumbnail_bucket,
        "table_name": stack.table_name,
        "metadata_dlq_url": local.queue_url(stack.metadata_dlq.name),
        "processor_failures_queue_url": local.queue_url(stack.processor_failures_queue.name),
    }
    return smoke_tool.Target(**values | override)


def target_options(local: LocalStack, **override: str) -> list[str]:
    values = vars(target(local, **override))
    return [argument for option, _, _ in smoke_tool.SETTINGS for argument in (flag(option), values[option])]


def flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def smoke(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *arguments],
        capture_output=True,
        text=True,
        env=env or operator_environment(),
        timeout=300,
        check=False,
    )


def test_generated_image_is_a_valid_png_unique_to_its_seed():
    first, second = smoke_tool.generated_png(32, 20, "a"), smoke_tool.generated_png(32, 20, "b")

    image = Image.open(io.BytesIO(first))
    assert (image.format, image.size, image.mode) == ("PNG", (32, 20), "RGB")
    image.load()
    assert first != second


def test_smoke_test_passes_against_the_local_stack_described_by_terraform_output(local_stack, tmp_path: Path):
    # GIVEN a `terraform` on PATH whose `output -json` describes the local stack
    values = vars(target(local_stack))
    document = {
        output: {"sensitive": False, "type": "string", "value": values[option]}
        for option, _, output in smoke_tool.SETTINGS
    }
    (tmp_path / "outputs.json").write_text(json.dumps(document))
    terraform = tmp_path / "terraform"
    terraform.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/arguments\ncat {tmp_path}/outputs.json\n')
    terraform.chmod(0o755)
    environment = operator_environment(PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}")

    result = smoke("--endpoint-url", local_stack.endpoint, "--terraform-dir", "live", env=environment)

    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "arguments").read_text().split() == ["-chdir=live", "output", "-json"]
    steps = [re.match(r"ok +[\d.]+ s  (.*)", line)[1] for line in result.stdout.splitlines() if line.startswith("ok")]
    assert steps[0] == "buckets, table and queues exist"
    steps = steps[1:]
    assert [step.split()[0] for step in steps] == [
        "dead-letter",
        "uploaded",
        "record",
        "thumbnail",
        "dead-letter",
        "deleted",
        "record",
        "thumbnails",
    ]
    uploaded = steps[1].split()[1].removeprefix(f"s3://{local_stack.stack.upload_bucket}/")
    assert steps[2:4] == [
        "record PROCESSED",
        f"thumbnail s3://{local_stack.stack.thumbnail_bucket}/thumbnails/{uploaded}.webp ({steps[3].split('(')[1]}",
    ]
    assert steps[6:] == ["record DELETED", "thumbnails removed"]
    assert result.stdout.splitlines()[-1].startswith("PASS: the pipeline processed, recorded and removed an upload")
    # It cleaned up after itself: no thumbnail is left.
    listing = local_stack.client("s3").list_objects_v2(Bucket=local_stack.stack.thumbnail_bucket, Prefix="thumbnails/")
    assert listing.get("KeyCount", 0) == 0


def test_smoke_test_fails_when_a_dead_letter_queue_holds_a_message(local_stack: LocalStack):
    failures = local_stack.queue_url(local_stack.stack.processor_failures_queue.name)
    sqs = local_stack.client("sqs")
    sqs.send_message(QueueUrl=failures, MessageBody=json.dumps({"requestPayload": {"Records": []}}))
    variables = {variable: vars(target(local_stack))[option] for option, variable, _ in smoke_tool.SETTINGS}
    try:
        result = smoke("--endpoint-url", local_stack.endpoint, env=operator_environment(**variables))
    finally:
        sqs.purge_queue(QueueUrl=failures)

    assert result.returncode == 1
    assert "FAIL: dead-letter queues are not empty before the upload" in result.stderr
    assert "uploaded" not in result.stdout
    assert "image-pipeline-dev-processor-failures: 1" in result.stderr and "replay" in result.stderr


def test_smoke_test_fails_when_no_record_appears(local_stack: LocalStack):
    # GIVEN uploads go to a bucket nothing processes
    local_stack.client("s3").create_bucket(Bucket="smoke-unwatched")

    result = smoke(
        "--endpoint-url",
        local_stack.endpoint,
        "--timeout",
        "2",
        *target_options(local_stack, upload_bucket="smoke-unwatched"),
    )

    assert result.returncode == 1
    assert "FAIL: no PROCESSED record for smoke-test/" in result.stderr and "after 2 s" in result.stderr
    assert "image_processor's and db_writer's logs" in result.stderr
    # AND it deleted its upload all the same: no test image stays in the bucket
    assert "deleted s3://smoke-unwatched/smoke-test/" in result.stdout and "after the failure" in result.stdout
    assert local_stack.client("s3").list_objects_v2(Bucket="smoke-unwatched").get("KeyCount", 0) == 0


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"thumbnail_bucket": "no-such-thumbnails"}, "thumbnails bucket no-such-thumbnails"),
        ({"table_name": "no-such-table"}, "table no-such-table"),
    ],
)
def test_smoke_test_checks_every_resource_before_it_writes(local_stack: LocalStack, override, named):
    # GIVEN a setting that names a resource that does not exist
    uploads = local_stack.stack.upload_bucket
    before = local_stack.client("s3").list_objects_v2(Bucket=uploads, Prefix="smoke-test/").get("KeyCount", 0)

    result = smoke("--endpoint-url", local_stack.endpoint, *target_options(local_stack, **override))

    # THEN it is a configuration error (exit status 2) naming the resource, and nothing was uploaded
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"error: {named} cannot be used" in result.stderr and "nothing was uploaded" in result.stderr
    assert "uploaded" not in result.stdout
    after = local_stack.client("s3").list_objects_v2(Bucket=uploads, Prefix="smoke-test/").get("KeyCount", 0)
    assert after == before


def test_smoke_test_reports_a_rejection_with_its_reason(local_stack: LocalStack):
    # GIVEN the upload's record says REJECTED
    key = "smoke-test/rejected.png"
    local_stack.client("dynamodb").put_item(
        TableName=local_stack.stack.table_name,
        Item={
            "image_key": {"S": key},
            "status": {"S": "REJECTED"},
            "reason": {"S": "corrupt_image"},
            "reason_detail": {"S": "broken PNG file"},
        },
    )
    clients = {name: local_stack.client(name) for name in ("s3", "sqs", "dynamodb")}
    test = smoke_tool.SmokeTest(target(local_stack), clients, 30, lambda line: None)

    with pytest.raises(smoke_tool.SmokeTestFailedError, match=r"REJECTED: corrupt_image: broken PNG file"):
        test.wait_for_record(key, "PROCESSED")


def test_smoke_test_names_what_is_missing(tmp_path: Path):
    terraform = tmp_path / "terraform"
    terraform.write_text("#!/bin/sh\necho '{}'\n")
    terraform.chmod(0o755)

    result = smoke(env=operator_environment(PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}"))

    assert result.returncode == 2
    assert "no upload_bucket_name: pass --upload-bucket, set SMOKE_UPLOAD_BUCKET, or deploy terraform/ first" in (
        result.stderr
    )
