"""Every hostile or odd upload in the catalogue ends PROCESSED or REJECTED with its reason, within its
time and memory budget, without crashing or hanging, and docs/reliability.md says what happens to each."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from moto import mock_aws
from PIL import Image, ImageCms

from image_processor.images import thumbnail_key
from sample_images import images
from sample_images.catalogue import CASES, P3_COLOUR, Case, light_cases, readme_tables
from tests.conftest import LambdaContext, Stack, fresh_import, load_event, s3_event

REPO_ROOT = Path(__file__).resolve().parents[2]
RELIABILITY_DOC = REPO_ROOT / "docs" / "reliability.md"
# The kernel counters the measurement reads (peak RSS and its reset) are Linux's.
LINUX = sys.platform.startswith("linux")
UPLOADS, THUMBNAILS, TABLE = Stack.upload_bucket, Stack.thumbnail_bucket, Stack.table_name
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
CONTEXT = LambdaContext()
DESERIALIZER = TypeDeserializer()


def params(cases: tuple[Case, ...], *, budget_bugs: bool) -> list[Any]:
    """One pytest param per case, expected to fail (strictly) while its known bug is there."""
    marked = []
    for case in cases:
        bug = case.outcome_bug or (case.budget_bug if budget_bugs else None)
        marks = [pytest.mark.xfail(strict=True, reason=f"image_processor: {bug}")] if bug else []
        marked.append(pytest.param(case, id=case.name, marks=marks))
    return marked


# --- the outcome, end to end through both handlers in moto ---------------------------------------------


@dataclass
class Processed:
    """What one upload left behind: its record, the thumbnails bucket's keys, the log lines."""

    item: dict[str, Any] | None
    thumbnail_keys: list[str]
    log_lines: list[str]
    thumbnail: bytes | None = None
    error: str | None = None  # what a handler raised: an upload that would be retried, then land in a DLQ


@pytest.fixture(scope="module")
def processed() -> Iterator[dict[str, Processed]]:
    """Every light case through image_processor and db_writer, in one moto session for speed.

    Each upload gets fresh buckets' contents and an empty queue, so cases cannot see each other.
    """
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        for name, value in {**FAKE_AWS, "TABLE_NAME": TABLE, "THUMBNAIL_BUCKET": THUMBNAILS}.items():
            patch.setenv(name, value)
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            patch.delenv(name, raising=False)
        s3, sqs = boto3.client("s3"), boto3.client("sqs")
        s3.create_bucket(Bucket=UPLOADS)
        s3.create_bucket(Bucket=THUMBNAILS)
        queue_url = sqs.create_queue(QueueName="image-pipeline-dev-metadata")["QueueUrl"]
        patch.setenv("METADATA_QUEUE_URL", queue_url)
        boto3.client("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "image_key", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "image_key", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        image_processor, db_writer = fresh_import("image_processor.handler"), fresh_import("db_writer.handler")
        yield {
            case.name: _process_safely(case, image_processor, db_writer, s3, sqs, queue_url) for case in light_cases()
        }


def _process_safely(case: Case, *clients: Any) -> Processed:
    try:
        return _process(case, *clients)
    except Exception as error:  # noqa: BLE001 - reported by this case's test, not by every test
        return Processed(None, [], [], error=f"{type(error).__name__}: {error}")


def _process(case: Case, image_processor, db_writer, s3, sqs, queue_url: str) -> Processed:
    # GIVEN the file is in the uploads bucket under its key, and the thumbnail of the key's earlier
    # image is still there (a good photo overwritten by this file), and nothing else is
    for bucket in (UPLOADS, THUMBNAILS):
        for entry in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=entry["Key"])
    data = case.data()
    s3.put_object(Bucket=UPLOADS, Key=case.key, Body=data)
    s3.put_object(Bucket=THUMBNAILS, Key=thumbnail_key(case.key, "thumbnails/"), Body=b"the earlier image's thumbnail")
    # WHEN S3's event reaches image_processor and its message reaches db_writer
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        image_processor.lambda_handler(s3_event("s3_put", bucket=UPLOADS, key=case.key, size=len(data)), CONTEXT)
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
        template = load_event("sqs_batch")["Records"][0]
        batch = [template | {"messageId": m["MessageId"], "body": m["Body"]} for m in messages]
        assert db_writer.lambda_handler({"Records": batch}, CONTEXT) == {"batchItemFailures": []}
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    # THEN: what the tests below look at
    item = db_writer.dynamodb.get_item(TableName=TABLE, Key={"image_key": {"S": case.key}}).get("Item")
    thumbnails = [entry["Key"] for entry in s3.list_objects_v2(Bucket=THUMBNAILS).get("Contents", [])]
    thumbnail = s3.get_object(Bucket=THUMBNAILS, Key=thumbnails[0])["Body"].read() if thumbnails else None
    record = {name: DESERIALIZER.deserialize(value) for name, value in item.items()} if item else None
    return Processed(record, thumbnails, output.getvalue().splitlines(), thumbnail)


@pytest.mark.parametrize("case", params(light_cases(), budget_bugs=False))
def test_upload_ends_in_the_table_with_its_outcome(processed: dict[str, Processed], case: Case):
    result = processed[case.name]

    assert result.error is None, f"a handler raised: {result.error}"
    item = result.item
    assert item is not None, f"no record for {case.key!r}"
    assert (item["status"], item.get("reason")) == (case.status, case.reason), item.get("reason_detail")
    if case.status == "REJECTED":
        assert item["reason_detail"]
        assert result.thumbnail_keys == []
    else:
        assert_thumbnail(result, case)
    # One JSON object per line, whatever the key holds (newlines, quotes, control characters).
    logged = [json.loads(line) for line in result.log_lines]
    assert all(isinstance(line, dict) for line in logged)
    assert any(line.get("key") == case.key and line.get("outcome") == case.status for line in logged)


def assert_thumbnail(result: Processed, case: Case) -> None:
    item, body = result.item, result.thumbnail
    expected_key = thumbnail_key(case.key, "thumbnails/")
    assert [thumbnail["key"] for thumbnail in item["thumbnails"]] == [expected_key] == result.thumbnail_keys
    assert len(expected_key.encode()) <= 1024
    thumbnail = Image.open(io.BytesIO(body))
    assert thumbnail.format == "WEBP" and max(thumbnail.size) <= 256
    assert len(thumbnail.getexif()) == 0 and b"PK\x03\x04" not in body and b"<script" not in body
    assert "icc_profile" not in thumbnail.info  # sRGB, which is what a thumbnail without a profile means
    if case.frame_count is not None:
        assert item["frame_count"] == case.frame_count


def test_display_p3_photo_gets_an_srgb_thumbnail_of_its_colours(processed: dict[str, Processed]):
    source = ImageCms.ImageCmsProfile(io.BytesIO(images.display_p3_profile()))
    pixel = Image.new("RGB", (1, 1), P3_COLOUR)
    expected = ImageCms.profileToProfile(pixel, source, ImageCms.createProfile("sRGB"), renderingIntent=1)

    shown = Image.open(io.BytesIO(processed["display-p3"].thumbnail)).getpixel((100, 75))

    assert all(abs(a - e) <= 4 for a, e in zip(shown, expected.getpixel((0, 0)), strict=True)), shown


def test_text_icc_profile_never_reaches_the_thumbnail(processed: dict[str, Processed]):
    thumbnail = processed["icc-garbage"].thumbnail

    assert len(thumbnail) < 20_000 and b"Lorem" not in thumbnail


def test_long_keys_get_the_hashed_thumbnail_key():
    for name in ("key-1024-ascii", "key-1024-utf8"):
        (case,) = [case for case in CASES if case.name == name]
        assert len(case.key.encode()) == 1024
        assert thumbnail_key(case.key, "thumbnails/").startswith("thumbnails/_long/")


# --- time and memory, in Lambda-like processes --------------------------------------------------------


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """Every case measured once, in one run of tests.hostile.measure (a forked child per case)."""
    folder = tmp_path_factory.mktemp("hostile")
    spec = []
    for case in CASES:
        path = folder / case.name
        path.write_bytes(case.data())
        spec.append({"name": case.name, "path": str(path), "kill_after_s": case.max_seconds + 2})
    (folder / "spec.json").write_text(json.dumps(spec))
    result = subprocess.run(
        [sys.executable, "-m", "tests.hostile.measure", str(folder / "spec.json")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60 + sum(entry["kill_after_s"] for entry in spec),
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return {entry["name"]: entry for entry in map(json.loads, result.stdout.splitlines())}


@pytest.mark.slow  # a fresh Lambda-like process per file: about a minute in all
@pytest.mark.skipif(not LINUX, reason="reads Linux's per-process peak RSS (/proc/self/status)")
@pytest.mark.parametrize("case", params(CASES, budget_bugs=True))
def test_upload_is_decided_within_its_time_and_memory_budget(measured, case: Case):
    result = measured[case.name]

    assert result["ended"] == "ok", f"{result['ended']} (budget {case.max_seconds} s): a crash or a hang"
    assert (result["status"], result["reason"]) == (case.status, case.reason), result.get("reason_detail")
    assert result["seconds"] <= case.max_seconds, f"took {result['seconds']} s"
    assert result["peak_mb"] <= case.max_mb, f"peak RSS {result['peak_mb']} MB (baseline {result['base_mb']} MB)"


# --- the docs --------------------------------------------------------------------------------------------


def test_docs_say_what_happens_to_each_upload():
    text = RELIABILITY_DOC.read_text()
    match = re.search(r"## What happens when you upload X\n\n.*?\n\n(\| Files .*?)(?=\n\n[^|])", text, re.S)
    assert match, "docs/reliability.md has no 'What happens when you upload X' section with the catalogue's tables"
    assert match[1] + "\n" == readme_tables(), "regenerate with: .venv/bin/python -m sample_images.catalogue"
