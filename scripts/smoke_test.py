"""Post-deploy smoke test: one generated image through the deployed pipeline, and both dead-letter queues empty.

    .venv/bin/python -m scripts.smoke_test          # the running local stack, else the one `terraform output` describes
    .venv/bin/python -m scripts.smoke_test --keep   # leave the upload and its record in place

Steps: check that every resource it uses exists (both buckets, the table, both queues) before writing
anything, check that the metadata DLQ and the processor-failures queue hold no message, upload a small
PNG made for this run under `<upload prefix>smoke-test/`, wait for its record (PROCESSED, with the
image's size) and its thumbnails (WebP, under each key the record's `thumbnails` list), check both queues
again, then delete the upload and wait for its DELETED record and the thumbnails' removal (--keep skips
this). Each failure stops the test with a message saying what to look at; the exit status is then
1, or 2 for bad configuration (a setting missing, or naming a resource that does not exist). A failure
or an interruption after the upload still deletes it (unless --keep), so no test image stays behind.

Values come from the running local stack, else `terraform output -json`, unless given as options
(scripts/stack_outputs.py). The caller needs s3:PutObject,
s3:DeleteObject and s3:ListBucket (HeadBucket) on the uploads bucket, s3:GetObject and s3:ListBucket on
the thumbnails (without ListBucket a removed thumbnail answers 403, not 404), dynamodb:GetItem on the table and
sqs:GetQueueAttributes on both queues.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from PIL import Image

from scripts.stack_outputs import ConfigurationError, add_stack_options, head_object, locate, read_record

DEFAULT_TIMEOUT_S = 120
POLL_S = 1.0
IMAGE_SIZE = (320, 200)


class SmokeTestFailedError(Exception):
    """A step failed; the message says which and what to look at."""


@dataclass(frozen=True)
class Target:
    upload_bucket: str
    thumbnail_bucket: str
    table_name: str
    metadata_dlq_url: str
    processor_failures_queue_url: str
    upload_prefix: str = ""


STACK_OPTIONS = (
    "--upload-bucket",
    "--thumbnail-bucket",
    "--table-name",
    "--metadata-dlq-url",
    "--processor-failures-queue-url",
)


def generated_png(width: int, height: int, seed: str) -> bytes:
    """A gradient PNG tinted by `seed`, so every run uploads a different object."""
    gradient = Image.linear_gradient("L").resize((width, height))
    tint = Image.new("L", (width, height), zlib.crc32(seed.encode()) & 0xFF)
    buffer = io.BytesIO()
    Image.merge("RGB", (gradient, gradient.rotate(90).resize((width, height)), tint)).save(buffer, "PNG")
    return buffer.getvalue()


class SmokeTest:
    def __init__(self, target: Target, clients: dict[str, Any], timeout_s: float, say: Callable[[str], None]):
        self.target = target
        self.s3, self.sqs, self.dynamodb = clients["s3"], clients["sqs"], clients["dynamodb"]
        self.timeout_s = timeout_s
        self.say = say
        self.started = time.monotonic()

    def run(self, *, keep: bool) -> None:
        self.check_resources_exist()
        self.check_dead_letter_queues_empty("before the upload: they hold failures from earlier")
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        key = f"{self.target.upload_prefix}smoke-test/{stamp}-{uuid.uuid4().hex[:8]}.png"
        image = generated_png(*IMAGE_SIZE, seed=key)
        self.s3.put_object(Bucket=self.target.upload_bucket, Key=key, Body=image, ContentType="image/png")
        self.step(f"uploaded s3://{self.target.upload_bucket}/{key} ({len(image):,} bytes)")
        try:
            record = self.check_processed(key)
        except BaseException:  # a failed step, an AWS error or Ctrl-C: the test's upload must not stay behind
            if not keep:
                self.remove_after_failure(key)
            raise
        if keep:
            self.say(f"kept s3://{self.target.upload_bucket}/{key} and its record (--keep)")
            return
        self.s3.delete_object(Bucket=self.target.upload_bucket, Key=key)
        self.step("deleted the upload")
        self.wait_for_record(key, "DELETED")
        thumbnail_keys = [thumbnail["key"] for thumbnail in record["thumbnails"]]
        self.wait_for(
            lambda: not any(head_object(self.s3, self.target.thumbnail_bucket, key) for key in thumbnail_keys),
            "the thumbnails' removal",
        )
        self.step("thumbnails removed")

    def check_processed(self, key: str) -> dict[str, Any]:
        record = self.wait_for_record(key, "PROCESSED")
        if (record.get("width"), record.get("height")) != IMAGE_SIZE:
            raise SmokeTestFailedError(
                f"the record says {record.get('width')}x{record.get('height')}, not {IMAGE_SIZE}"
            )
        thumbnail_keys = [thumbnail["key"] for thumbnail in record.get("thumbnails") or []]
        if not thumbnail_keys:
            raise SmokeTestFailedError(f"the PROCESSED record lists no thumbnails (schema_version 2 does): {record}")
        for thumbnail_key in thumbnail_keys:
            self.check_thumbnail(thumbnail_key)
        self.check_dead_letter_queues_empty("after the upload")
        return record

    def remove_after_failure(self, key: str) -> None:
        where = f"s3://{self.target.upload_bucket}/{key}"
        try:
            self.s3.delete_object(Bucket=self.target.upload_bucket, Key=key)
        except (ClientError, BotoCoreError) as error:
            self.say(f"could not delete {where} after the failure ({error}): delete it by hand")
        else:
            self.say(f"deleted {where} after the failure")

    def check_resources_exist(self) -> None:
        """Raises ConfigurationError naming the first resource that is missing or out of reach; writes nothing."""
        target = self.target
        checks: list[tuple[str, Callable[[], Any]]] = [
            (f"uploads bucket {target.upload_bucket}", lambda: self.s3.head_bucket(Bucket=target.upload_bucket)),
            (
                f"thumbnails bucket {target.thumbnail_bucket}",
                lambda: self.s3.head_bucket(Bucket=target.thumbnail_bucket),
            ),
            (f"table {target.table_name}", lambda: read_record(self.dynamodb, target.table_name, "smoke-test/")),
        ]
        for url in (target.metadata_dlq_url, target.processor_failures_queue_url):
            checks.append((f"queue {url}", lambda url=url: self.sqs.get_queue_attributes(QueueUrl=url)))
        for what, check in checks:
            try:
                check()
            except (ClientError, BotoCoreError) as error:
                raise ConfigurationError(f"{what} cannot be used ({error}): nothing was uploaded") from None
        self.step("buckets, table and queues exist")

    def step(self, text: str) -> None:
        self.say(f"ok  {time.monotonic() - self.started:6.1f} s  {text}")

    def wait_for(self, condition: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + self.timeout_s
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise SmokeTestFailedError(f"no {what} after {self.timeout_s:g} s")
            time.sleep(POLL_S)

    def wait_for_record(self, key: str, status: str) -> dict[str, Any]:
        def settled() -> dict[str, Any] | None:
            record = read_record(self.dynamodb, self.target.table_name, key)
            if record and record["status"] == "REJECTED":
                raise SmokeTestFailedError(
                    f"the upload was REJECTED: {record.get('reason')}: {record.get('reason_detail')}"
                )
            return record if record and record["status"] == status else None

        try:
            record = self.wait_for(settled, f"{status} record for {key} in {self.target.table_name}")
        except SmokeTestFailedError as error:
            raise SmokeTestFailedError(
                f"{error}. Look at image_processor's and db_writer's logs, and at the two dead-letter queues: "
                f"{self.queue_depths()}"
            ) from None
        self.step(f"record {status}")
        return record

    def check_thumbnail(self, key: str) -> None:
        head = self.wait_for(lambda: head_object(self.s3, self.target.thumbnail_bucket, key), "thumbnail")
        if head["ContentType"] != "image/webp" or head["ContentLength"] == 0:
            where = f"s3://{self.target.thumbnail_bucket}/{key}"
            raise SmokeTestFailedError(
                f"thumbnail {where} is not a WebP image: {head['ContentType']}, {head['ContentLength']} bytes"
            )
        self.step(f"thumbnail s3://{self.target.thumbnail_bucket}/{key} ({head['ContentLength']:,} bytes)")

    def queue_depths(self) -> str:
        return ", ".join(f"{name}: {count}" for name, count in self.dead_letter_depths().items())

    def dead_letter_depths(self) -> dict[str, int]:
        depths = {}
        for url in (self.target.metadata_dlq_url, self.target.processor_failures_queue_url):
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            depths[url.rsplit("/", 1)[-1]] = sum(int(value) for value in attributes.values())
        return depths

    def check_dead_letter_queues_empty(self, when: str) -> None:
        depths = self.dead_letter_depths()
        if any(depths.values()):
            raise SmokeTestFailedError(
                f"dead-letter queues are not empty {when} ({self.queue_depths()}). "
                "See docs/operations.md: inspect them without deleting, fix the cause, then replay"
            )
        self.step(f"dead-letter queues empty {when.split(':')[0]}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_stack_options(parser, *STACK_OPTIONS)
    parser.add_argument("--upload-prefix", default="", help="the stack's upload_prefix variable (default: none)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds to wait for each step")
    parser.add_argument("--keep", action="store_true", help="leave the upload, its record and thumbnail in place")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        located = locate(args, *STACK_OPTIONS)
    except ConfigurationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    target = Target(**located.values, upload_prefix=args.upload_prefix)
    aws = located.clients(("s3", "sqs", "dynamodb"))
    test = SmokeTest(target, aws, args.timeout, print)
    try:
        test.run(keep=args.keep)
    except ConfigurationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except SmokeTestFailedError as error:
        print(f"FAIL: {error}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as error:
        print(f"FAIL: an AWS call failed: {error}", file=sys.stderr)
        return 1
    done = "processed and recorded" if args.keep else "processed, recorded and removed"
    print(f"PASS: the pipeline {done} an upload in {time.monotonic() - test.started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
