"""Re-renders the objects already in the uploads bucket with image_processor's current settings.

After THUMBNAIL_SIZE or EXTRA_THUMBNAIL_SIZES changes, after a fix, or on a bucket that held photos
before the stack existed: this walks the bucket (or --prefix) and invokes image_processor for each
object whose record (read consistently) is missing, is of another object, was made with other
settings (the record's `rendered_with`), or whose thumbnails are missing, with --force for every
object. Records made before the placeholder, dominant colour and perceptual hash existed match their
settings: they are kept and counted (listed by --dry-run), and --force re-renders them. Each
invocation is synchronous and carries a synthetic S3 event for the object, so the object goes through
the upload's own code path and message: the thumbnail settles on whatever the key holds by then (an
upload made meanwhile wins), and db_writer orders the record by the object's own sequencer or event
time, where a later rendering of the same event replaces the record and never a newer event's.

    .venv/bin/python -m scripts.reprocess --dry-run                 # what would be re-rendered, and why
    .venv/bin/python -m scripts.reprocess                           # 4 at a time, at most 10 a second
    .venv/bin/python -m scripts.reprocess --prefix 2025/ --force --concurrency 16 --rate 50

It is resumable: interrupted (Ctrl-C, a crash), a second run skips what the first finished, since
those objects' records now match. Throttling is retried with backoff (botocore's adaptive mode). The
names come from the running local stack, else `terraform output -json`, unless given as options
(scripts/stack_outputs.py).

It first checks that the bucket notifies the function (its notification configuration names the
function), so a mistyped --upload-bucket cannot render another bucket's objects into the thumbnails
bucket and the table; --any-bucket renders one that does not, on purpose.

Exit status: 0 every object skipped or re-rendered (rejections included); 1 an object failed (its
invocation, or an error of this tool while handling it); 2 bad arguments or configuration; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

from image_processor.config import ConfigError, load_settings
from pipeline_common.metadata_message import LATER_FIELDS, thumbnails_of
from scripts.stack_outputs import (
    ConfigurationError,
    Pacer,
    add_stack_options,
    head_object,
    locate,
    positive,
    read_record,
)

DEFAULT_CONCURRENCY = 4  # well inside a new account's 10 concurrent executions
DEFAULT_RATE = 10.0
DEFAULT_LOG_EVERY = 100
EVENT_NAME = "ObjectCreated:Reprocess"
# Throttling is retried by botocore, with backoff and a client-side rate that adapts to it. Lambda's read
# timeout is longer than the function's 15-minute maximum: a synchronous invoke waits for the handler.
_RETRIES = {"mode": "adaptive", "max_attempts": 10}
STACK_OPTIONS = ("--upload-bucket", "--thumbnail-bucket", "--table-name", "--image-processor-function-name")
_CONFIGS = {"lambda": Config(read_timeout=910, retries=_RETRIES), "dynamodb": Config(retries=_RETRIES)}


@dataclass(frozen=True)
class Stored:
    """One object as ListObjectsV2 shows it."""

    key: str
    etag: str
    size: int
    last_modified: str  # S3's spelling: UTC, milliseconds, "Z"


@dataclass
class Summary:
    seen: int = 0
    rerendered: int = 0
    skipped: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    failed: dict[str, str] = field(default_factory=dict)  # key -> why
    would_rerender: int = 0
    missing_later_fields: int = 0  # skipped records made before LATER_FIELDS existed

    def line(self) -> str:
        rejected = sum(self.rejected.values())
        return (
            f"{self.seen} seen, {self.rerendered} re-rendered, {self.skipped} skipped, "
            f"{rejected} rejected, {len(self.failed)} failed"
        )


@dataclass(frozen=True)
class Target:
    upload_bucket: str
    thumbnail_bucket: str
    table_name: str
    image_processor_function_name: str


def why_rerender(stored: Stored, record: dict[str, Any] | None, rendered_with: str, s3: Any, target: Target) -> str:
    """Why `stored` needs rendering again, or "" when its record and thumbnails match the settings."""
    if record is None:
        return "no record"
    if record.get("etag") != stored.etag:
        return "its record is of another object"
    if record.get("rendered_with") != rendered_with:
        return f"rendered with {record.get('rendered_with') or 'older settings'}"
    # A REJECTED record has none.
    for key in [thumbnail["key"] for thumbnail in thumbnails_of(record)]:
        if head_object(s3, target.thumbnail_bucket, key) is None:
            return f"thumbnail {key} is missing"
    return ""


def missing_later_fields(record: dict[str, Any] | None) -> list[str]:
    """The LATER_FIELDS a PROCESSED record lacks: it was made before they existed."""
    if record is None or record.get("status") != "PROCESSED":
        return []
    return [name for name in LATER_FIELDS if name not in record]


def synthetic_event(stored: Stored, record: dict[str, Any] | None, bucket: str) -> dict[str, Any]:
    """The S3 event the object's upload sent, as far as it is known: the record's sequencer and event
    time when the record is of this object (so the new rendering replaces it), else the object's own
    LastModified (so it never replaces a newer upload's record)."""
    same_object = record is not None and record.get("etag") == stored.etag
    s3_object: dict[str, Any] = {"key": quote_plus(stored.key, safe="/"), "size": stored.size, "eTag": stored.etag}
    if same_object and record.get("sequencer"):
        s3_object["sequencer"] = record["sequencer"]
    if same_object and record.get("version_id"):
        s3_object["versionId"] = record["version_id"]
    event_time = record["event_time"] if same_object and record.get("event_time") else stored.last_modified
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": EVENT_NAME,
                "eventTime": event_time,
                "s3": {"bucket": {"name": bucket}, "object": s3_object},
            }
        ]
    }


def check_event_source(s3: Any, bucket: str, function_arn: str) -> None:
    """Raises ConfigurationError unless the bucket's notifications invoke the function."""
    configuration = s3.get_bucket_notification_configuration(Bucket=bucket)
    targets = [entry["LambdaFunctionArn"] for entry in configuration.get("LambdaFunctionConfigurations", [])]
    if function_arn not in targets:
        named = ", ".join(targets) or "no function"
        raise ConfigurationError(
            f"s3://{bucket} is not {function_arn.rsplit(':', 1)[-1]}'s event source (its notifications invoke "
            f"{named}): nothing was rendered. Check --upload-bucket, or pass --any-bucket to render it anyway."
        )


def listed(s3: Any, bucket: str, prefix: str) -> Iterator[list[Stored]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield [
            Stored(
                key=entry["Key"],
                etag=entry["ETag"].strip('"'),
                size=entry["Size"],
                last_modified=entry["LastModified"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            )
            for entry in page.get("Contents", [])
        ]


def invoke(lambda_client: Any, function: str, event: dict[str, Any]) -> dict[str, Any]:
    """The handler's result for the one object, or {"error": ...} when the invocation failed."""
    try:
        response = lambda_client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
    except (ClientError, BotoCoreError) as error:
        return {"error": str(error)}
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        return {"error": f"{payload.get('errorType', 'Error')}: {payload.get('errorMessage', '')}"[:500]}
    [result] = payload["results"]
    return result


class Run:
    def __init__(self, aws: dict[str, Any], target: Target, rendered_with: str, args: argparse.Namespace) -> None:
        self.aws, self.target, self.rendered_with, self.args = aws, target, rendered_with, args
        self.summary = Summary()
        self.pacer = Pacer(args.rate)
        self.lock = threading.Lock()
        self.progress = tqdm(unit="obj", dynamic_ncols=True, disable=not sys.stderr.isatty())
        self.started = time.monotonic()

    def go(self) -> None:
        s3, uploads = self.aws["s3"], self.target.upload_bucket
        # Counted first, for the ETA: one ListObjectsV2 call per 1,000 objects.
        self.progress.reset(total=sum(len(page) for page in listed(s3, uploads, self.args.prefix)))
        in_flight = threading.BoundedSemaphore(self.args.concurrency * 2)  # the listing stays just ahead
        with ThreadPoolExecutor(self.args.concurrency, thread_name_prefix="reprocess") as pool:
            try:
                for page in listed(s3, uploads, self.args.prefix):
                    for stored in page:
                        in_flight.acquire()
                        pool.submit(self.one, stored).add_done_callback(lambda _: in_flight.release())
            except KeyboardInterrupt:
                pool.shutdown(wait=True, cancel_futures=True)  # invocations under way finish; no new ones
                raise
            finally:
                self.progress.close()

    def one(self, stored: Stored) -> None:
        where = f"s3://{self.target.upload_bucket}/{stored.key}"
        try:
            record = read_record(self.aws["dynamodb"], self.target.table_name, stored.key)
            why = (
                "--force"
                if self.args.force
                else why_rerender(stored, record, self.rendered_with, self.aws["s3"], self.target)
            )
            missing = [] if why else missing_later_fields(record)
            if why and self.args.dry_run:
                self.say(f"would re-render {where}: {why}")
            if missing and self.args.dry_run:
                self.say(f"would keep {where}: its record has no {', '.join(missing)} (--force re-renders it)")
            if why and not self.args.dry_run:
                self.pacer.wait()
                result = invoke(
                    self.aws["lambda"],
                    self.target.image_processor_function_name,
                    synthetic_event(stored, record, self.target.upload_bucket),
                )
            else:
                result = {"status": "WOULD" if why else "SKIPPED", "missing_later_fields": bool(missing)}
        except (ClientError, BotoCoreError) as error:
            result = {"error": str(error)}
        except Exception as error:  # noqa: BLE001 - raised in a worker thread, it would vanish with its future
            result = {"error": f"{type(error).__name__}: {error}"}
        with self.lock:
            self._count(stored.key, result)
        if "error" in result:
            self.say(f"FAILED {where}: {result['error']}")

    def _count(self, key: str, result: dict[str, Any]) -> None:
        summary = self.summary
        summary.seen += 1
        if "error" in result:
            summary.failed[key] = result["error"]
        elif result["status"] == "REJECTED":
            summary.rejected[result["reason"]] += 1
        else:
            field_name = {"SKIPPED": "skipped", "WOULD": "would_rerender"}.get(result["status"], "rerendered")
            setattr(summary, field_name, getattr(summary, field_name) + 1)
            summary.missing_later_fields += result.get("missing_later_fields", False)
        self.progress.update()
        self.progress.set_postfix_str(summary.line().split(", ", 1)[1], refresh=False)
        if self.progress.disable and summary.seen % self.args.log_every == 0:
            self.say(f"progress: {summary.seen}/{self.progress.total}: {summary.line()}{self._rate()}")

    def _rate(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.summary.seen / elapsed if elapsed > 0 else 0.0
        left = (self.progress.total - self.summary.seen) / rate if rate else 0.0
        return f", {rate:.1f}/s, ETA {tqdm.format_interval(left)}"

    def say(self, line: str) -> None:
        if self.progress.disable:
            print(line, flush=True)
        else:
            self.progress.write(line)


def report(summary: Summary, dry_run: bool, interrupted: bool) -> None:
    if summary.missing_later_fields:
        print(
            f"{summary.missing_later_fields} skipped records have no {', '.join(LATER_FIELDS)} (made before they "
            "existed): --force re-renders every object to add them"
        )
    if dry_run:
        print(f"dry run: {summary.would_rerender} of {summary.seen} would be re-rendered, {summary.skipped} skipped")
        return
    print(("interrupted: " if interrupted else "done: ") + summary.line())
    for reason, count in summary.rejected.most_common():
        print(f"  rejected {reason}: {count}")
    for key, why in list(summary.failed.items())[:20]:
        print(f"  failed {key}: {why}")
    if len(summary.failed) > 20:
        print(f"  ... and {len(summary.failed) - 20} more failed")
    if interrupted or summary.failed:
        print("run it again to finish: what is done is skipped")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Re-render the uploads bucket's objects with image_processor's current settings."
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would be re-rendered and why; change nothing")
    parser.add_argument("--force", action="store_true", help="re-render every object, even one whose record matches")
    parser.add_argument("--prefix", default="", help="only keys starting with this")
    parser.add_argument(
        "--any-bucket",
        action="store_true",
        help="render the bucket's objects even if the bucket does not notify the function",
    )
    parser.add_argument(
        "--concurrency",
        type=positive(int),
        default=DEFAULT_CONCURRENCY,
        help=f"invocations at once (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--rate",
        type=positive(float),
        default=DEFAULT_RATE,
        help=f"most invocations a second (default {DEFAULT_RATE:g})",
    )
    parser.add_argument(
        "--log-every",
        type=positive(int),
        default=DEFAULT_LOG_EVERY,
        help=f"without a terminal, a progress line per this many objects (default {DEFAULT_LOG_EVERY})",
    )
    add_stack_options(parser, *STACK_OPTIONS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        located = locate(args, *STACK_OPTIONS)
        target = Target(**located.values)
        aws = located.clients(("s3", "dynamodb", "lambda"), _CONFIGS)
        configuration = aws["lambda"].get_function_configuration(FunctionName=target.image_processor_function_name)
        rendered_with = load_settings(configuration["Environment"]["Variables"]).rendered_with
        if not args.any_bucket:
            check_event_source(aws["s3"], target.upload_bucket, configuration["FunctionArn"])
    except (ConfigurationError, ClientError, BotoCoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ConfigError as error:
        print(f"error: {target.image_processor_function_name}'s environment: {error}", file=sys.stderr)
        return 2
    verb = "listing what would be re-rendered" if args.dry_run else "re-rendering"
    print(f"{verb} in s3://{target.upload_bucket}/{args.prefix} with {rendered_with}", flush=True)
    run = Run(aws, target, rendered_with, args)
    interrupted = False
    try:
        run.go()
    except KeyboardInterrupt:
        interrupted = True
    except (ClientError, BotoCoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        report(run.summary, args.dry_run, interrupted=True)
        return 2
    report(run.summary, args.dry_run, interrupted)
    if interrupted:
        return 130
    return 1 if run.summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
