"""scripts.reprocess on the local stack, run as an operator runs it: 200 photos thumbnailed at 256, the
size changed to 128 the way it is changed on AWS, a run interrupted half way, a second run that finishes
without redoing the first half; then extra sizes, from one upload to its delete."""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from PIL import Image

from sample_images import images
from tests.local.conftest import wait_until
from tests.local.subprocess_stack import LocalStack
from tests.operations.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

UPLOADS = 200


def reprocess(environment: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """`python -m scripts.reprocess ARGS` on the local stack `environment` points at (local_environment)."""
    return subprocess.Popen(
        [sys.executable, "-m", "scripts.reprocess", "--log-every", "10", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    )


def finished(process: subprocess.Popen[str]) -> tuple[int, str]:
    output, _ = process.communicate(timeout=300)
    return process.returncode, output


def records(local: LocalStack) -> dict[str, dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    for page in local.client("dynamodb").get_paginator("scan").paginate(TableName=local.stack.table_name):
        for item in page["Items"]:
            assert item["image_key"]["S"] not in items, "two items for one key"
            items[item["image_key"]["S"]] = item
    return items


def thumbnail_listing(local: LocalStack) -> dict[str, str]:
    s3 = local.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=local.stack.thumbnail_bucket)
    return {entry["Key"]: entry["ETag"] for page in pages for entry in page.get("Contents", [])}


def thumbnail_size(local: LocalStack, key: str) -> tuple[int, int]:
    body = local.client("s3").get_object(Bucket=local.stack.thumbnail_bucket, Key=key)["Body"].read()
    return Image.open(io.BytesIO(body)).size


def settle(local: LocalStack) -> None:
    """Until db_writer has written every message image_processor sent (the queue stays empty a while)."""

    def empty_for_a_while() -> bool:
        if local.depth(local.stack.metadata_queue.name):
            return False
        time.sleep(1.5)
        return local.depth(local.stack.metadata_queue.name) == 0

    wait_until(empty_for_a_while, 120, "an empty metadata queue")


def set_environment(local: LocalStack, **changes: str) -> None:
    client = local.client("lambda")
    name = local.stack.image_processor.name
    variables = client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    client.update_function_configuration(FunctionName=name, Environment={"Variables": variables | changes})


def test_a_size_change_is_rendered_again_for_every_object_across_an_interrupted_run(
    local_stack: LocalStack, local_environment
):
    s3, stack = local_stack.client("s3"), local_stack.stack
    photo = images.jpeg(400, 300)
    keys = [f"batch/{number:03}.jpg" for number in range(UPLOADS)]
    for key in keys:
        s3.put_object(Bucket=stack.upload_bucket, Key=key, Body=photo)
    wait_until(lambda: len(records(local_stack)) == UPLOADS, 180, f"{UPLOADS} records")
    settle(local_stack)
    assert {thumbnail_size(local_stack, f"thumbnails/{key}.webp") for key in keys[:5]} == {(256, 192)}

    set_environment(local_stack, THUMBNAIL_SIZE="128")

    # A dry run lists all 200 and changes nothing
    before = (thumbnail_listing(local_stack), records(local_stack))
    code, output = finished(reprocess(local_environment, "--dry-run"))
    assert code == 0, output
    assert f"dry run: {UPLOADS} of {UPLOADS} would be re-rendered, 0 skipped" in output
    assert output.count("would re-render s3://") == UPLOADS and "rendered with 256;thumbnails/;" in output
    assert (thumbnail_listing(local_stack), records(local_stack)) == before

    # Interrupted (Ctrl-C) once it has done about half
    first = reprocess(local_environment, "--concurrency", "4", "--rate", "40")
    lines = []
    for line in first.stdout:
        lines.append(line)
        if line.startswith("progress: 100/"):
            first.send_signal(signal.SIGINT)
            break
    code, rest = finished(first)
    output = "".join(lines) + rest
    assert code == 130, output
    assert "interrupted: " in output and "run it again to finish" in output
    done_first = int(re.search(r"interrupted: \d+ seen, (\d+) re-rendered, 0 skipped", output)[1])
    assert 100 <= done_first < UPLOADS, output
    settle(local_stack)

    # The second run skips what the first one did and finishes the rest
    code, output = finished(reprocess(local_environment))
    assert code == 0, output
    assert f"done: {UPLOADS} seen, {UPLOADS - done_first} re-rendered, {done_first} skipped, 0 rejected, 0 failed" in (
        output
    )
    settle(local_stack)

    items = records(local_stack)
    assert sorted(items) == keys
    assert {item["thumbnails"]["L"][0]["M"]["width"]["N"] for item in items.values()} == {"128"}
    assert all(item["rendered_with"]["S"].startswith("128;") for item in items.values())
    assert {thumbnail_size(local_stack, f"thumbnails/{key}.webp") for key in keys} == {(128, 96)}

    # A third run has nothing left to do
    code, output = finished(reprocess(local_environment))
    assert f"done: {UPLOADS} seen, 0 re-rendered, {UPLOADS} skipped" in output, output


def test_extra_sizes_come_with_each_upload_and_a_reprocess_and_go_with_its_delete(
    local_stack: LocalStack, local_environment
):
    s3, stack = local_stack.client("s3"), local_stack.stack
    s3.put_object(Bucket=stack.upload_bucket, Key="sizes/before.jpg", Body=images.jpeg(1200, 800))
    wait_until(lambda: local_stack.item("sizes/before.jpg"), 60, "the record of the photo uploaded before")
    set_environment(local_stack, THUMBNAIL_SIZE="128", EXTRA_THUMBNAIL_SIZES="512")

    # An upload now gets both sizes from one decode, both in its record
    s3.put_object(Bucket=stack.upload_bucket, Key="sizes/after.jpg", Body=images.jpeg(1200, 800))
    wait_until(lambda: local_stack.item("sizes/after.jpg"), 60, "the new record")
    sizes = [
        (int(rendition["M"]["size"]["N"]), rendition["M"]["key"]["S"])
        for rendition in local_stack.item("sizes/after.jpg")["thumbnails"]["L"]
    ]
    assert sizes == [(128, "thumbnails/sizes/after.jpg.webp"), (512, "thumbnails/_sizes/512/sizes/after.jpg.webp")]
    assert thumbnail_size(local_stack, sizes[1][1]) == (512, 341)

    # The photo uploaded before gets them from a reprocess of its prefix; the new one is skipped
    code, output = finished(reprocess(local_environment, "--prefix", "sizes/"))
    assert code == 0 and "done: 2 seen, 1 re-rendered, 1 skipped" in output, output
    assert thumbnail_size(local_stack, "thumbnails/_sizes/512/sizes/before.jpg.webp") == (512, 341)

    # A delete removes every size
    for key in ("sizes/before.jpg", "sizes/after.jpg"):
        s3.delete_object(Bucket=stack.upload_bucket, Key=key)
    wait_until(lambda: not any("sizes/" in key for key in thumbnail_listing(local_stack)), 60, "no thumbnail left")
    wait_until(lambda: local_stack.item("sizes/after.jpg")["status"]["S"] == "DELETED", 60, "a DELETED record")


def test_records_from_before_the_fingerprints_are_named_and_rendered_again_with_force(
    local_stack: LocalStack, local_environment
):
    # GIVEN two photos, one of whose records was written before placeholder, dominant_color and phash existed
    s3, stack = local_stack.client("s3"), local_stack.stack
    for key in ("older/a.jpg", "older/b.jpg"):
        s3.put_object(Bucket=stack.upload_bucket, Key=key, Body=images.jpeg(400, 300))
        wait_until(lambda key=key: local_stack.item(key), 60, f"the record of {key}")
    settle(local_stack)
    local_stack.client("dynamodb").update_item(
        TableName=stack.table_name,
        Key={"image_key": {"S": "older/a.jpg"}},
        UpdateExpression="REMOVE placeholder, dominant_color, phash",
    )

    # WHEN an ordinary run goes over them, THEN it keeps both but says which lacks what, and how to add them
    code, output = finished(reprocess(local_environment, "--prefix", "older/", "--dry-run"))
    assert code == 0 and "would keep s3://" in output and "older/a.jpg: its record has no placeholder" in output
    code, output = finished(reprocess(local_environment, "--prefix", "older/"))
    assert code == 0 and "done: 2 seen, 0 re-rendered, 2 skipped" in output, output
    assert "1 skipped records have no thumbnail_source, placeholder, dominant_color, phash" in output
    assert "--force" in output
    assert "placeholder" not in local_stack.item("older/a.jpg")

    # WHEN it is forced, THEN the record has them
    code, output = finished(reprocess(local_environment, "--prefix", "older/", "--force"))
    assert code == 0 and "done: 2 seen, 2 re-rendered" in output, output
    settle(local_stack)
    assert {"placeholder", "dominant_color", "phash"} <= set(local_stack.item("older/a.jpg"))


def test_an_error_while_handling_an_object_is_a_failure_not_a_silent_skip(local_stack: LocalStack, local_environment):
    # GIVEN an upload whose record the tool cannot read (its thumbnails are not a list of renditions)
    s3, stack = local_stack.client("s3"), local_stack.stack
    s3.put_object(Bucket=stack.upload_bucket, Key="odd/record.jpg", Body=images.jpeg(400, 300))
    wait_until(lambda: local_stack.item("odd/record.jpg"), 60, "the record of odd/record.jpg")
    settle(local_stack)
    local_stack.client("dynamodb").update_item(
        TableName=stack.table_name,
        Key={"image_key": {"S": "odd/record.jpg"}},
        UpdateExpression="SET thumbnails = :odd",
        ExpressionAttributeValues={":odd": {"S": "not a list"}},
    )

    code, output = finished(reprocess(local_environment, "--prefix", "odd/"))

    # THEN the object counts as failed, with the error, and the exit status says so
    assert code == 1, output
    assert f"FAILED s3://{stack.upload_bucket}/odd/record.jpg: TypeError" in output
    assert "done: 1 seen, 0 re-rendered, 0 skipped, 0 rejected, 1 failed" in output


def test_a_bucket_that_does_not_notify_the_function_is_refused_unless_asked_for(
    local_stack: LocalStack, local_environment
):
    # GIVEN another bucket with a photo in it: a mistyped --upload-bucket
    s3 = local_stack.client("s3")
    s3.create_bucket(Bucket="reprocess-other-bucket")
    s3.put_object(Bucket="reprocess-other-bucket", Key="elsewhere.jpg", Body=images.jpeg(400, 300))

    code, output = finished(reprocess(local_environment, "--dry-run", "--upload-bucket", "reprocess-other-bucket"))

    # THEN it stops as a configuration error before listing anything
    assert code == 2, output
    name = local_stack.stack.image_processor.name
    assert f"s3://reprocess-other-bucket is not {name}'s event source (its notifications invoke no function)" in output
    assert "would re-render" not in output

    # WHEN the operator means it
    code, output = finished(
        reprocess(local_environment, "--dry-run", "--any-bucket", "--upload-bucket", "reprocess-other-bucket")
    )
    # THEN it goes ahead
    assert code == 0, output
    assert "would re-render s3://reprocess-other-bucket/elsewhere.jpg: no record" in output
