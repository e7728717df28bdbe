"""Every operator tool runs on the local stack with no options at all, as `python -m scripts.<tool>`: the
values come from the running stack's outputs file, and an option still overrides one of them."""

from __future__ import annotations

import pytest

from sample_images import images
from tests.local.conftest import wait_until
from tests.local.subprocess_stack import LocalStack
from tests.operations.conftest import run_tool

pytestmark = pytest.mark.slow


def test_reprocess_dry_run_needs_no_options(local_stack: LocalStack, local_outputs, local_environment):
    upload_bucket = local_outputs["upload_bucket_name"]
    local_stack.client("s3").put_object(Bucket=upload_bucket, Key="noflags/a.jpg", Body=images.jpeg(400, 300))
    wait_until(lambda: local_stack.item("noflags/a.jpg"), 60, "the record of noflags/a.jpg")

    result = run_tool("reprocess", "--dry-run", "--prefix", "noflags/", env=local_environment)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.startswith(f"stack: local stack at {local_stack.endpoint} ({local_outputs['path']})\n")
    assert f"listing what would be re-rendered in s3://{upload_bucket}/noflags/" in result.stdout
    assert "dry run: 0 of 1 would be re-rendered, 1 skipped" in result.stdout


def test_an_option_overrides_the_local_stack_value(local_stack: LocalStack, local_environment):
    # GIVEN another bucket: the option names it, the rest still comes from the local stack
    local_stack.client("s3").create_bucket(Bucket="noflags-other-bucket")

    result = run_tool("reprocess", "--dry-run", "--upload-bucket", "noflags-other-bucket", env=local_environment)

    # THEN it is that bucket it checks (and refuses: it does not notify the local stack's image_processor)
    assert result.returncode == 2, result.stdout + result.stderr
    function = local_stack.stack.image_processor.name
    assert f"s3://noflags-other-bucket is not {function}'s event source" in result.stderr


def test_replay_dry_run_needs_no_options(local_outputs, local_environment):
    result = run_tool("replay", "--dry-run", env=local_environment, timeout=120)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.startswith("stack: local stack at ")
    assert f"listing (dry run): {local_outputs['processor_failures_queue_url']}" in result.stdout
    assert "0 would be replayed, 0 left in the queue" in result.stdout


def test_smoke_test_then_reconcile_need_no_options(local_stack: LocalStack, local_outputs, local_environment):
    smoke = run_tool("smoke_test", env=local_environment)

    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert smoke.stderr.startswith("stack: local stack at ")
    assert smoke.stdout.splitlines()[-1].startswith("PASS: the pipeline processed, recorded and removed an upload")

    reconciled = run_tool("reconcile", env=local_environment, timeout=120)

    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    assert reconciled.stderr.startswith("stack: local stack at ")
    assert "reconciliation: OK" in reconciled.stdout

    # WHEN the table holds a record of a key never uploaded, THEN reconcile finds it and fails
    local_stack.client("dynamodb").put_item(
        TableName=local_outputs["dynamodb_table_name"],
        Item={"image_key": {"S": "noflags/never.jpg"}, "status": {"S": "DELETED"}, "version_id": {"S": "x"}},
    )
    reconciled = run_tool("reconcile", env=local_environment, timeout=120)

    assert reconciled.returncode == 1, reconciled.stdout + reconciled.stderr
    assert "reconciliation: FAILED, 1 problem(s)" in reconciled.stdout
    assert "PROBLEM: 'noflags/never.jpg': a record, but the key was never uploaded" in reconciled.stdout
