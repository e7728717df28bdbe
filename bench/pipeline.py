"""Pipeline figures on the local stack (`python -m local_pipeline`): throughput and upload-to-record latency.

The stack runs in its own process, as a user starts it; this process only uploads and watches the
table. Latency is the record's `written_at` minus the upload's start: one machine, one clock.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3

from bench.environment import free_port, lambda_like_environment, server
from bench.handlers import TABLE, UPLOADS_BUCKET
from bench.inputs import ImageSpec, load

_READY_LINE = "Local pipeline ready"
_POLL_INTERVAL_S = 0.5
DISTINCT_PHOTOS = 4


@dataclass
class PipelineFigures:
    images: int
    image_name: str
    distinct_photos: int  # the uploads are copies of these, each made a distinct file
    total_mb: float
    images_per_second: float  # from the first upload's start to the last record's write
    latency_p50_s: float
    latency_p95_s: float
    statuses: Counter[str]


def run(spec: ImageSpec, *, count: int) -> PipelineFigures:
    bodies = unique_jpegs(spec, count)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "local_pipeline", "--port", str(port)]
    with server(command, lambda log: _READY_LINE in log, timeout_s=120, env=lambda_like_environment()):
        session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
        s3 = session.client("s3", endpoint_url=endpoint)
        dynamodb = session.client("dynamodb", endpoint_url=endpoint)
        started_at: dict[str, float] = {}
        first = time.time()
        for number, body in enumerate(bodies):
            key = f"bench/{number:04d}.jpg"
            started_at[key] = time.time()
            s3.put_object(Bucket=UPLOADS_BUCKET, Key=key, Body=body, ContentType="image/jpeg")
        records = _wait_for_records(dynamodb, set(started_at), timeout_s=60 + 3 * count)
    written = {key: _epoch(record["written_at"]["S"]) for key, record in records.items()}
    latencies = sorted(written[key] - started_at[key] for key in started_at)
    return PipelineFigures(
        images=count,
        image_name=spec.name,
        distinct_photos=min(count, DISTINCT_PHOTOS),
        total_mb=sum(len(body) for body in bodies) / 1e6,
        images_per_second=count / (max(written.values()) - first),
        latency_p50_s=latencies[round(0.5 * (count - 1))],
        latency_p95_s=latencies[round(0.95 * (count - 1))],
        statuses=Counter(record["status"]["S"] for record in records.values()),
    )


def unique_jpegs(spec: ImageSpec, count: int) -> list[bytes]:
    """`count` different files from a few generated photos: each gets its own JPEG comment segment.

    Every file decodes at the same cost as a fresh photo; generating 200 of them would take minutes.
    """
    photos = [
        load(ImageSpec(f"{spec.name} #{seed}", spec.format, spec.width, spec.height, seed=seed))
        for seed in range(1, DISTINCT_PHOTOS + 1)
    ]
    files = []
    for number in range(count):
        photo = photos[number % len(photos)]
        comment = f"bench upload {number}".encode()
        segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
        files.append(photo[:2] + segment + photo[2:])  # right after the SOI marker
    return files


def _wait_for_records(dynamodb: Any, keys: set[str], timeout_s: float) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    found: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        for page in dynamodb.get_paginator("scan").paginate(TableName=TABLE):
            for item in page["Items"]:
                if item["image_key"]["S"] in keys:
                    found[item["image_key"]["S"]] = item
        if len(found) == len(keys):
            return found
        time.sleep(_POLL_INTERVAL_S)
    missing = sorted(keys - set(found))
    raise RuntimeError(f"{len(missing)} of {len(keys)} uploads had no record after {timeout_s:.0f} s: {missing[:5]}")


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
