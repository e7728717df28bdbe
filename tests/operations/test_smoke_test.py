"""scripts.smoke_test against the local stack: it passes on a working pipeline, and fails with a message
that says what to look at when the pipeline is not working."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest
from PIL import Image

from scripts import smoke_test as smoke_tool
from scripts.stack_outputs import OUTPUT_OF, attribute
from tests.local.subprocess_stack import LocalStack
from tests.operations.conftest import operator_environment, run_tool

pytestmark = pytest.mark.slow


def target(local_outputs: dict[str, str]):
    """The smoke test's target on the local stack, from its outputs."""
    return smoke_tool.Target(
        **{attribute(option): local_outputs[OUTPUT_OF[option]] for option in smoke_tool.STACK_OPTIONS}
    )


def smoke(*arguments: str, env: dict[str, str]):
    return run_tool("smoke_test", *arguments, env=env)


def test_generated_image_is_a_valid_png_unique_to_its_seed():
    first, second = smoke_tool.generated_png(32, 20, "a"), smoke_tool.generated_png(32, 20, "b")

    image = Image.open(io.BytesIO(first))
    assert (image.format, image.size, image.mode) == ("PNG", (32, 20), "RGB")
    image.load()
    assert first != second


def test_smoke_test_passes_against_the_local_stack_described_by_terraform_output(
    local_stack, local_outputs, tmp_path: Path
):
    # GIVEN a `terraform` on PATH whose `output -json` describes the local stack (the stack's own file unused)
    document = {
        OUTPUT_OF[option]: {"sensitive": False, "type": "string", "value": local_outputs[OUTPUT_OF[option]]}
        for option in smoke_tool.STACK_OPTIONS
    }
    (tmp_path / "outputs.json").write_text(json.dumps(document))
    terraform = tmp_path / "terraform"
    terraform.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/arguments\ncat {tmp_path}/outputs.json\n')
    terraform.chmod(0o755)
    environment = operator_environment(PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}")

    result = smoke("--endpoint-url", local_stack.endpoint, "--terraform-dir", "live", env=environment)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.startswith("stack: terraform output in live/\n")
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
    uploaded = steps[1].split()[1].removeprefix(f"s3://{local_outputs['upload_bucket_name']}/")
    thumbnail_bucket = local_outputs["thumbnail_bucket_name"]
    assert steps[2:4] == [
        "record PROCESSED",
        f"thumbnail s3://{thumbnail_bucket}/thumbnails/{uploaded}.webp ({steps[3].split('(')[1]}",
    ]
    assert steps[6:] == ["record DELETED", "thumbnails removed"]
    assert result.stdout.splitlines()[-1].startswith("PASS: the pipeline processed, recorded and removed an upload")
    # It cleaned up after itself: no thumbnail is left.
    listing = local_stack.client("s3").list_objects_v2(Bucket=thumbnail_bucket, Prefix="thumbnails/")
    assert listing.get("KeyCount", 0) == 0


def test_smoke_test_fails_when_a_dead_letter_queue_holds_a_message(
    local_stack: LocalStack, local_outputs, local_environment
):
    failures = local_outputs["processor_failures_queue_url"]
    sqs = local_stack.client("sqs")
    sqs.send_message(QueueUrl=failures, MessageBody=json.dumps({"requestPayload": {"Records": []}}))
    try:
        result = smoke(env=local_environment)
    finally:
        sqs.purge_queue(QueueUrl=failures)

    assert result.returncode == 1
    assert "FAIL: dead-letter queues are not empty before the upload" in result.stderr
    assert "uploaded" not in result.stdout
    assert "image-pipeline-dev-processor-failures: 1" in result.stderr and "replay" in result.stderr


def test_smoke_test_fails_when_no_record_appears(local_stack: LocalStack, local_environment):
    # GIVEN uploads go to a bucket nothing processes
    local_stack.client("s3").create_bucket(Bucket="smoke-unwatched")

    result = smoke("--timeout", "2", "--upload-bucket", "smoke-unwatched", env=local_environment)

    assert result.returncode == 1
    assert "FAIL: no PROCESSED record for smoke-test/" in result.stderr and "after 2 s" in result.stderr
    assert "image_processor's and db_writer's logs" in result.stderr
    # AND it deleted its upload all the same: no test image stays in the bucket
    assert "deleted s3://smoke-unwatched/smoke-test/" in result.stdout and "after the failure" in result.stdout
    assert local_stack.client("s3").list_objects_v2(Bucket="smoke-unwatched").get("KeyCount", 0) == 0


@pytest.mark.parametrize(
    ("override", "named"),
    [
        (("--thumbnail-bucket", "no-such-thumbnails"), "thumbnails bucket no-such-thumbnails"),
        (("--table-name", "no-such-table"), "table no-such-table"),
    ],
)
def test_smoke_test_checks_every_resource_before_it_writes(
    local_stack: LocalStack, local_outputs, local_environment, override, named
):
    # GIVEN an option that names a resource that does not exist
    uploads = local_outputs["upload_bucket_name"]
    before = local_stack.client("s3").list_objects_v2(Bucket=uploads, Prefix="smoke-test/").get("KeyCount", 0)

    result = smoke(*override, env=local_environment)

    # THEN it is a configuration error (exit status 2) naming the resource, and nothing was uploaded
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"error: {named} cannot be used" in result.stderr and "nothing was uploaded" in result.stderr
    assert "uploaded" not in result.stdout
    after = local_stack.client("s3").list_objects_v2(Bucket=uploads, Prefix="smoke-test/").get("KeyCount", 0)
    assert after == before


def test_smoke_test_reports_a_rejection_with_its_reason(local_stack: LocalStack, local_outputs):
    # GIVEN the upload's record says REJECTED
    key = "smoke-test/rejected.png"
    local_stack.client("dynamodb").put_item(
        TableName=local_outputs["dynamodb_table_name"],
        Item={
            "image_key": {"S": key},
            "status": {"S": "REJECTED"},
            "reason": {"S": "corrupt_image"},
            "reason_detail": {"S": "broken PNG file"},
        },
    )
    clients = {name: local_stack.client(name) for name in ("s3", "sqs", "dynamodb")}
    test = smoke_tool.SmokeTest(target(local_outputs), clients, 30, lambda line: None)

    with pytest.raises(smoke_tool.SmokeTestFailedError, match=r"REJECTED: corrupt_image: broken PNG file"):
        test.wait_for_record(key, "PROCESSED")


def test_smoke_test_names_what_is_missing(tmp_path: Path):
    terraform = tmp_path / "terraform"
    terraform.write_text("#!/bin/sh\necho '{}'\n")
    terraform.chmod(0o755)

    result = smoke(env=operator_environment(PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}"))

    assert result.returncode == 2
    assert result.stderr.startswith("stack: terraform output in terraform/\n")
    assert (
        "error: no upload_bucket_name: pass --upload-bucket, start the local stack (scripts/local.sh) or deploy "
        in (result.stderr)
    )
