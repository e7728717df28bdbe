"""The reconciliation invariant, checked once the pipeline has drained: nothing lost, nothing stale.

The ground truth is the uploads bucket's version history (the stack's buckets are versioned): every
upload is an object version and every delete a delete marker, each with its own version id, which
image_processor copies from the S3 event into its message and db_writer into the table. So each
operation on a key can be found wherever it ended up:
- a table record: the key's item has the operation's version id;
- a message in the metadata DLQ (db_writer failed it), or an event in the processor-failures queue
  (image_processor failed it), where an operator can see and replay it;
- superseded: a later operation on the same key is what the table must show.

The invariant:
1. every operation has exactly one terminal place, the first of those that holds it, and the latest
   operation on each key is in the table or a dead-letter queue: nothing is lost. (Lambda and SQS
   deliver at least once, so a recorded operation may also have a copy in a dead-letter queue, from
   a duplicate delivery or a retry after a crash; such copies are counted apart, as a replay of one
   finds the record already written);
2. one record per key, and only for keys that were uploaded;
3. no record is stale: it holds the key's latest operation (DELETED for a delete marker, PROCESSED
   or REJECTED for an upload, the expected one when the caller knows it), unless that operation is
   waiting in a dead-letter queue;
4. thumbnails: every thumbnail a PROCESSED record describes (one per size) exists and is the one it
   describes (same size in bytes), and no other thumbnail exists, so none for a deleted or rejected upload.
Keys whose latest operation waits in a dead-letter queue are counted and skip checks 3-4: a replay
will settle them.

`python -m local_pipeline.reconcile` runs it against a running local stack.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import boto3
from boto3.dynamodb.types import TypeDeserializer

from image_processor.images import thumbnail_key
from local_pipeline.stack import FAKE_CREDENTIALS, REGION, Stack, default_stack
from pipeline_common.metadata_message import STATUSES, thumbnails_of

RECORDED = "table record"
SUPERSEDED = "superseded by a later operation on its key"
METADATA_DLQ = "metadata DLQ"
PROCESSOR_FAILURES = "processor-failures queue"
PLACES = (RECORDED, SUPERSEDED, METADATA_DLQ, PROCESSOR_FAILURES)
# How long messages read from a dead-letter queue stay hidden before they are made visible again.
PEEK_VISIBILITY_S = 60
# Problems printed in full; the rest are counted.
SHOWN_PROBLEMS = 25


@dataclass(frozen=True)
class Operation:
    """One upload (an object version) or delete (a delete marker) in the uploads bucket."""

    key: str
    version_id: str
    deleted: bool
    latest: bool


@dataclass
class Reconciliation:
    operations: Counter[str] = field(default_factory=Counter)  # "uploads", "deletes"
    keys: int = 0
    places: Counter[str] = field(default_factory=Counter)
    records: Counter[str] = field(default_factory=Counter)  # by status
    waiting: set[str] = field(default_factory=set)  # keys whose latest operation is in a dead-letter queue
    thumbnails: int = 0
    unattributed_messages: int = 0  # dead-letter messages that are not an operation in the bucket
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        total = sum(self.operations.values())
        lines = [
            f"reconciliation: {'OK' if self.ok else f'FAILED, {len(self.problems)} problem(s)'}",
            f"  uploads bucket: {total:,} operations ({self.operations['uploads']:,} uploads, "
            f"{self.operations['deletes']:,} deletes) on {self.keys:,} keys",
            "  where each operation ended:",
            *(f"    {place:<44} {self.places[place]:>7,}" for place in PLACES),
            f"    {'nowhere (lost)':<44} {self.places['lost']:>7,}",
            f"  recorded or waiting, with another copy in a dead-letter queue too: {self.places['redundant']:,}",
            f"  table: {sum(self.records.values()):,} records ("
            + ", ".join(f"{status} {self.records[status]:,}" for status in STATUSES)
            + ")",
            f"  keys whose latest operation waits in a dead-letter queue: {len(self.waiting):,}",
            f"  thumbnails: {self.thumbnails:,}",
            f"  dead-letter messages that are not an operation in the bucket: {self.unattributed_messages:,}",
        ]
        lines += [f"  PROBLEM: {problem}" for problem in self.problems[:SHOWN_PROBLEMS]]
        if len(self.problems) > SHOWN_PROBLEMS:
            lines.append(f"  ... and {len(self.problems) - SHOWN_PROBLEMS} more")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "operations": dict(self.operations),
            "keys": self.keys,
            "places": {place: self.places[place] for place in (*PLACES, "lost", "redundant")},
            "records": dict(self.records),
            "waiting_keys": len(self.waiting),
            "thumbnails": self.thumbnails,
            "unattributed_messages": self.unattributed_messages,
            "problems": self.problems,
        }


def reconcile(
    clients: Any, stack: Stack, queue_urls: Mapping[str, str], expected: Mapping[str, str] | None = None
) -> Reconciliation:
    """Checks the invariant on the stack as it is now; call it once the pipeline has drained.

    `clients(service)` returns a boto3 client; `expected` optionally maps keys to the status their
    latest operation must have (PROCESSED, REJECTED or DELETED).
    """
    s3, sqs = clients("s3"), clients("sqs")
    history = _history(s3, stack.upload_bucket)
    records = _records(clients("dynamodb"), stack.table_name)
    in_dlq = _metadata_dlq(sqs, queue_urls[stack.metadata_dlq.name])
    in_failures = _processor_failures(sqs, queue_urls[stack.processor_failures_queue.name])
    thumbnails = _objects(s3, stack.thumbnail_bucket)

    result = Reconciliation(keys=len(history), thumbnails=len(thumbnails))
    known = {(op.key, op.version_id) for ops in history.values() for op in ops}
    result.unattributed_messages = len(in_dlq - known) + len(in_failures - known)
    waiting: set[str] = set()
    for key, operations in history.items():
        record = records.get(key)
        for op in operations:
            result.operations["deletes" if op.deleted else "uploads"] += 1
            places = _places(op, record, in_dlq, in_failures)
            _place(result, op, places)
            if op.latest and RECORDED not in places and places:
                waiting.add(key)
        _check_record(result, key, operations, record, waiting, expected)
    result.waiting = waiting
    for key, record in records.items():
        result.records[record.get("status", "no status")] += 1
        if key not in history:
            result.problems.append(f"{key!r}: a record, but the key was never uploaded")
    prefix = stack.image_processor.environment["THUMBNAIL_PREFIX"]
    _check_thumbnails(result, history, records, waiting, thumbnails, prefix)
    return result


def _places(op: Operation, record: dict[str, Any] | None, in_dlq: set, in_failures: set) -> set[str]:
    places = set()
    if record is not None and record.get("version_id") == op.version_id:
        places.add(RECORDED)
    if (op.key, op.version_id) in in_dlq:
        places.add(METADATA_DLQ)
    if (op.key, op.version_id) in in_failures:
        places.add(PROCESSOR_FAILURES)
    return places


def _place(result: Reconciliation, op: Operation, places: set[str]) -> None:
    """The operation's one terminal place: its record, else the dead-letter queue holding it, else
    (for all but a key's latest operation) superseded. Lambda and SQS deliver at least once, so a
    recorded event can also have a copy that failed into a dead-letter queue; such copies are counted
    apart (`redundant`): replaying one finds it already written."""
    what = f"{op.key!r} {'delete' if op.deleted else 'upload'} (version {op.version_id})"
    if places:
        place = next(p for p in PLACES if p in places)
        result.places[place] += 1
        result.places["redundant"] += len(places) - 1
    elif op.latest:
        result.places["lost"] += 1
        result.problems.append(f"{what}: the key's latest operation is in no table record and no dead-letter queue")
    else:
        result.places[SUPERSEDED] += 1


def _check_record(
    result: Reconciliation,
    key: str,
    operations: list[Operation],
    record: dict[str, Any] | None,
    waiting: set[str],
    expected: Mapping[str, str] | None,
) -> None:
    if record is None or key in waiting:
        return  # a missing latest operation is already a problem; a waiting one is settled by a replay
    latest = next(op for op in operations if op.latest)
    status = record.get("status")
    if record.get("version_id") != latest.version_id:
        result.problems.append(
            f"{key!r}: stale record: {status} of version {record.get('version_id')}, "
            f"but the latest operation is version {latest.version_id}"
        )
        return
    if (status == "DELETED") != latest.deleted:
        result.problems.append(f"{key!r}: record says {status} for {'a delete' if latest.deleted else 'an upload'}")
    want = (expected or {}).get(key)
    if want is not None and status != want:
        result.problems.append(f"{key!r}: record says {status}, expected {want}")


def _check_thumbnails(
    result: Reconciliation,
    history: dict[str, list[Operation]],
    records: dict[str, dict[str, Any]],
    waiting: set[str],
    thumbnails: dict[str, int],
    prefix: str,
) -> None:
    # The extra sizes come from the records: the function's settings may have changed since (reprocess).
    extra_sizes = {int(t["size"]) for record in records.values() for t in thumbnails_of(record)[1:]}
    source_of = {thumbnail_key(key, prefix, size): key for key in history for size in (None, *extra_sizes)}
    for key, record in records.items():
        if key in waiting or record.get("status") != "PROCESSED":
            continue
        for rendition in thumbnails_of(record):
            size = thumbnails.get(rendition["key"])
            if size is None:
                result.problems.append(f"{key!r}: PROCESSED, but its thumbnail {rendition['key']!r} is missing")
            elif size != rendition["bytes"]:
                result.problems.append(
                    f"{key!r}: the thumbnail {rendition['key']!r} is {size} bytes, the record's is "
                    f"{rendition['bytes']}: it was made from another version"
                )
    for thumbnail in thumbnails:
        key = source_of.get(thumbnail)
        if key in waiting:
            continue
        status = records.get(key, {}).get("status") if key is not None else None
        if key is None:
            result.problems.append(f"thumbnail {thumbnail!r} belongs to no upload")
        elif status is None:
            result.problems.append(f"thumbnail {thumbnail!r} of {key!r}, which has no record")
        elif status != "PROCESSED":
            result.problems.append(f"thumbnail {thumbnail!r} of {key!r}, which is {status}")


# --- reading the stack --------------------------------------------------------------------------------


def _history(s3: Any, bucket: str) -> dict[str, list[Operation]]:
    history: dict[str, list[Operation]] = defaultdict(list)
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for entry, deleted in [(v, False) for v in page.get("Versions", [])] + [
            (m, True) for m in page.get("DeleteMarkers", [])
        ]:
            history[entry["Key"]].append(Operation(entry["Key"], entry["VersionId"], deleted, entry["IsLatest"]))
    return dict(history)


def _records(dynamodb: Any, table: str) -> dict[str, dict[str, Any]]:
    deserializer = TypeDeserializer()
    records: dict[str, dict[str, Any]] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            record = {name: deserializer.deserialize(value) for name, value in item.items()}
            records[record["image_key"]] = record
    return records


def _objects(s3: Any, bucket: str) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        sizes |= {entry["Key"]: entry["Size"] for entry in page.get("Contents", [])}
    return sizes


def _metadata_dlq(sqs: Any, queue_url: str) -> set[tuple[str, str | None]]:
    found = set()
    for body in peek(sqs, queue_url):
        try:
            message = json.loads(body)
            found.add((message["key"], message.get("version_id")))
        except (ValueError, KeyError, TypeError):
            found.add((body, None))  # not a metadata message: counted as unattributed
    return found


def _processor_failures(sqs: Any, queue_url: str) -> set[tuple[str, str | None]]:
    found = set()
    for body in peek(sqs, queue_url):
        try:
            for record in json.loads(body)["requestPayload"]["Records"]:
                obj = record["s3"]["object"]
                found.add((unquote_plus(obj["key"]), obj.get("versionId")))
        except (ValueError, KeyError, TypeError):
            found.add((body, None))
    return found


def peek(sqs: Any, queue_url: str) -> Iterator[str]:
    """Every message body in the queue, leaving the messages there (visible again afterwards)."""
    handles: list[str] = []
    try:
        while messages := sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=PEEK_VISIBILITY_S, WaitTimeSeconds=0
        ).get("Messages"):
            for message in messages:
                handles.append(message["ReceiptHandle"])
                yield message["Body"]
    finally:
        for start in range(0, len(handles), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for i, handle in enumerate(handles[start : start + 10])
            ]
            sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)


# --- command ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_pipeline.reconcile",
        description="Check that every upload to a running local stack is accounted for (see the module's doc).",
    )
    parser.add_argument(
        "--endpoint", default="http://127.0.0.1:4566", help="the local stack (default http://127.0.0.1:4566)"
    )
    args = parser.parse_args(argv)
    stack = default_stack()

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=args.endpoint,
            region_name=REGION,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    sqs = client("sqs")
    queues = (stack.metadata_dlq.name, stack.processor_failures_queue.name)
    queue_urls = {name: sqs.get_queue_url(QueueName=name)["QueueUrl"] for name in queues}
    result = reconcile(client, stack, queue_urls)
    print(result.render())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
