"""Dollars per million images, by service, from measured inputs and AWS list prices.

Lambda time is measured CPU time over the CPU share at the configured memory, plus an assumed wait
per AWS call (moto cannot show one); everything else is counted. results_template.md states the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bench.handlers import HandlerFigures, ImageProcessorFigures

PRICES_READ_ON = "2026-11-22"
REGION = "us-east-1"


@dataclass(frozen=True)
class Price:
    dollars: float  # per unit
    quoted: str  # as the price list states it
    page: str  # the pricing page's path on aws.amazon.com
    read_on: str = PRICES_READ_ON

    @property
    def source(self) -> str:
        return f"https://aws.amazon.com/{self.page}/"


PRICES = {
    "Lambda duration": Price(
        0.0000133334, "$0.0000133334 per GB-second (arm64, first 7.5 billion GB-s a month)", "lambda/pricing"
    ),
    "Lambda requests": Price(0.20 / 1e6, "$0.20 per million", "lambda/pricing"),
    "S3 PUT": Price(0.005 / 1000, "$0.005 per 1,000 (S3 Standard PUT/COPY/POST/LIST)", "s3/pricing"),
    "S3 GET": Price(
        0.0004 / 1000,
        "$0.0004 per 1,000 (S3 Standard GET, SELECT and all other requests, HEAD among them)",
        "s3/pricing",
    ),
    "S3 DELETE": Price(0.0, "free (DELETE and CANCEL requests)", "s3/pricing"),
    "SQS requests": Price(
        0.40 / 1e6,
        "$0.40 per million (standard queue; each 64 KB of payload is one request; first million a month free)",
        "sqs/pricing",
    ),
    "DynamoDB writes": Price(
        0.625 / 1e6,
        "$0.625 per million write request units (on-demand, 1 KB each)",
        "dynamodb/pricing/on-demand",
    ),
    "CloudWatch Logs": Price(0.50, "$0.50 per GB ingested (Standard log class)", "cloudwatch/pricing"),
    "X-Ray traces recorded": Price(
        5.00 / 1e6,
        "$5.00 per million ($0.000005 per trace; first 100,000 a month free)",
        "xray/pricing",
        read_on="2026-12-01",
    ),
}
# The AWS pages draw their price tables with scripts, so the figures were read through search of
# those pages and of dated summaries that quote them; every figure agreed across sources.
PRICE_CROSS_CHECKS = (
    "cloudchipr.com/blog/aws-lambda-pricing (Lambda arm64 tiers)",
    "c3x.dev/blog/s3-request-fees-explained (S3 request tiers)",
    "cloudburn.io/blog/amazon-sqs-pricing (March 2026)",
    "airbyte.com/data-engineering-resources/dynamodb-pricing (after the November 2024 on-demand cut)",
    "c3x.dev/blog/cloudwatch-logs-cost-optimization (us-east-1, June 2026)",
    "awsnegotiations.com/x-ray-pricing-strategy.html (X-Ray, US East)",
)
FULL_VCPU_MB = 1769
SQS_CHUNK_BYTES = 64 * 1024

# Waits per call that moto cannot show (stated assumptions, typical in-region figures); a GET also
# waits for its body at S3_READ_BYTES_PER_S.
CALL_WAIT_S = {
    "s3:GetObject": 0.030,
    "s3:HeadObject": 0.015,
    "s3:PutObject": 0.030,
    "s3:DeleteObject": 0.020,
    "sqs:SendMessage": 0.010,
    "dynamodb:PutItem": 0.008,
}
S3_READ_BYTES_PER_S = 90e6
# Every S3 operation the handler may call, with the price list's request class and what it is for.
S3_REQUESTS = {
    "GetObject": ("S3 GET", "GET (the source)"),
    "HeadObject": ("S3 GET", "HEAD (the source: changed meanwhile?)"),
    "PutObject": ("S3 PUT", "PUT (the thumbnail)"),
    "DeleteObject": ("S3 DELETE", "DELETE (the thumbnail)"),
}
# terraform/variables.tf's xray_tracing default (tests/bench checks that they agree); off, no X-Ray cost.
XRAY_TRACING_DEFAULT = False
# Lambda's X-Ray sampling with active tracing, which a function cannot change: the first request
# each second and 5 % of the rest (docs.aws.amazon.com/lambda/latest/dg/services-xray.html),
# taken here as applying to each function's own invocations.
XRAY_RESERVOIR_PER_S = 1.0
XRAY_FIXED_RATE = 0.05
XRAY_SAMPLING_SOURCE = "https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html"
# The traffic the cost model assumes: a million images spread evenly over a 30-day month.
IMAGES_PER_SECOND = 1e6 / (30 * 24 * 3600)
# What Lambda itself writes per invocation: START, END and REPORT lines (sizes of real lines).
PLATFORM_LOG_BYTES = len(
    "START RequestId: 3f2a4c9e-7d0b-4a55-9c7e-1b2d3e4f5a6b Version: $LATEST\n"
    "END RequestId: 3f2a4c9e-7d0b-4a55-9c7e-1b2d3e4f5a6b\n"
    "REPORT RequestId: 3f2a4c9e-7d0b-4a55-9c7e-1b2d3e4f5a6b\tDuration: 112.42 ms\tBilled Duration: 113 ms\t"
    "Memory Size: 1024 MB\tMax Memory Used: 112 MB\t\n"
)
SQS_BATCH_SIZE = 10
DB_WRITER_MEMORY_MB = 256
TIMEOUT_S = 60
# "Well under the timeout": a 50 MP JPEG must finish in a sixth of it, leaving room for a slow
# S3 read and for arm64 cores slower than this machine's.
WELL_UNDER_FRACTION = 1 / 6
CANDIDATE_MEMORY_MB = (256, 512, 768, 1024, 1280, 1536, 1769, 2048)
# Issue 15's target: the default settings at no more than this multiple of the floor.
COST_TARGET_TIMES_FLOOR = 1.5
# An iPhone's 12 MP HEIC should cost about what the same photo as JPEG does (issue 23).
HEIC_COST_TARGET_TIMES_JPEG = 1.2


def cpu_share(memory_mb: int) -> float:
    return min(1.0, memory_mb / FULL_VCPU_MB)


def priced(price: str, units: float = 1.0) -> float:
    """Dollars for a million images that each use `units` of this price list item."""
    return PRICES[price].dollars * units * 1e6


def image_processor_seconds(figures: ImageProcessorFigures, memory_mb: int) -> float:
    waits = call_waits_s(figures.aws_calls) + figures.source_bytes / S3_READ_BYTES_PER_S
    return figures.median_cpu_ms / 1000 / cpu_share(memory_mb) + waits


def db_writer_gb_s(figures: HandlerFigures) -> float:
    """db_writer's GB-seconds per message, in batches of SQS_BATCH_SIZE."""
    writer = figures.batch(SQS_BATCH_SIZE)
    waits = CALL_WAIT_S["dynamodb:PutItem"] * writer.calls_per_message
    seconds = writer.cpu_ms_per_message / 1000 / cpu_share(DB_WRITER_MEMORY_MB) + waits
    return DB_WRITER_MEMORY_MB / 1024 * seconds


def call_waits_s(calls: dict[str, int]) -> float:
    """The assumed time spent waiting on AWS for these calls; a call with no assumed wait is an error."""
    unknown = sorted(set(calls) - set(CALL_WAIT_S))
    if unknown:
        raise ValueError(f"no wait assumed for {unknown}: add them to CALL_WAIT_S")
    return sum(CALL_WAIT_S[name] * count for name, count in calls.items())


def xray_sampled_fraction(requests_per_s: float) -> float:
    """The share of a function's invocations that Lambda's sampling rule traces at this steady rate."""
    if requests_per_s <= XRAY_RESERVOIR_PER_S:
        return 1.0
    return (XRAY_RESERVOIR_PER_S + XRAY_FIXED_RATE * (requests_per_s - XRAY_RESERVOIR_PER_S)) / requests_per_s


@dataclass
class CostLine:
    service: str
    what: str
    dollars_per_million: float


def per_million(
    figures: HandlerFigures, image: ImageProcessorFigures, memory_mb: int, xray_tracing: bool = XRAY_TRACING_DEFAULT
) -> list[CostLine]:
    """Dollars per million images like `image`, image_processor at `memory_mb`, db_writer batching 10."""
    writer = figures.batch(SQS_BATCH_SIZE)
    processor_gb_s = memory_mb / 1024 * image_processor_seconds(image, memory_mb)
    writer_gb_s = db_writer_gb_s(figures)
    item_bytes = dynamodb_item_bytes(figures.item)
    write_units = write_units_per_item(item_bytes) * writer.calls_per_message
    log_bytes = log_bytes_per_image(figures, image)
    sqs = sqs_requests_per_image(image)
    return [
        CostLine("Lambda", f"image_processor: {processor_gb_s:.3f} GB-s", priced("Lambda duration", processor_gb_s)),
        CostLine("Lambda", "image_processor: 1 request", priced("Lambda requests")),
        CostLine("Lambda", f"db_writer: {writer_gb_s:.4f} GB-s", priced("Lambda duration", writer_gb_s)),
        CostLine("Lambda", f"db_writer: 1/{SQS_BATCH_SIZE} request", priced("Lambda requests", 1 / SQS_BATCH_SIZE)),
        *s3_lines(image.aws_calls),
        CostLine(
            "SQS",
            f"{sqs:.1f} requests (send; receive + delete per batch of {SQS_BATCH_SIZE})",
            priced("SQS requests", sqs),
        ),
        CostLine("DynamoDB", f"{write_units:g} WRU ({item_bytes} B item)", priced("DynamoDB writes", write_units)),
        CostLine("CloudWatch Logs", f"{log_bytes:.0f} B", priced("CloudWatch Logs", log_bytes / 1e9)),
        *([xray_line()] if xray_tracing else []),
    ]


def total(lines: list[CostLine]) -> float:
    return sum(line.dollars_per_million for line in lines)


def log_bytes_per_image(figures: HandlerFigures, image: ImageProcessorFigures) -> float:
    """Both handlers' own lines and Lambda's START/END/REPORT lines, db_writer's shared by its batch."""
    writer = figures.batch(SQS_BATCH_SIZE)
    return image.log_bytes + writer.log_bytes_per_message + PLATFORM_LOG_BYTES * (1 + 1 / SQS_BATCH_SIZE)


def sqs_requests_per_image(image: ImageProcessorFigures) -> float:
    """The send (one request per 64 KB), and the event source's receive and delete of each batch, shared."""
    sends = image.aws_calls["sqs:SendMessage"] * math.ceil(image.message_bytes / SQS_CHUNK_BYTES)
    batch_payload = image.message_bytes * SQS_BATCH_SIZE
    return sends + (math.ceil(batch_payload / SQS_CHUNK_BYTES) + 1) / SQS_BATCH_SIZE


def s3_lines(calls: dict[str, int]) -> list[CostLine]:
    """One line per S3 operation the handler called, priced by its request class."""
    operations = {name.removeprefix("s3:"): count for name, count in sorted(calls.items()) if name.startswith("s3:")}
    if unknown := sorted(set(operations) - set(S3_REQUESTS)):
        raise ValueError(f"no S3 request class for {unknown}: add them to S3_REQUESTS")
    lines = []
    for operation, count in operations.items():
        price, what = S3_REQUESTS[operation]
        lines.append(CostLine("S3", f"{count} {what}", priced(price, count)))
    return lines


def xray_traces_per_image() -> float:
    """image_processor's invocation and db_writer's share of a batch, each sampled at its own rate."""
    rate = IMAGES_PER_SECOND
    return xray_sampled_fraction(rate) + xray_sampled_fraction(rate / SQS_BATCH_SIZE) / SQS_BATCH_SIZE


def xray_line() -> CostLine:
    traces = xray_traces_per_image()
    what = (
        f"{traces:.2f} traces (image_processor 1 + db_writer 1/{SQS_BATCH_SIZE}, "
        f"all sampled at {IMAGES_PER_SECOND:.2f} images/s)"
    )
    return CostLine("X-Ray", what, priced("X-Ray traces recorded", traces))


def floor_per_million() -> float:
    """The least any S3 -> Lambda -> DynamoDB thumbnailer pays: one GET, one PUT, one request, one write."""
    return sum(priced(price) for price in ("S3 GET", "S3 PUT", "Lambda requests", "DynamoDB writes"))


def above_floor(figures: HandlerFigures, image: ImageProcessorFigures, memory_mb: int) -> dict[str, float]:
    """The default total less the floor, by what each part pays for (the report's rows, in its order)."""
    duration = priced("Lambda duration", memory_mb / 1024)  # per second of image_processor's time

    def waited(*names: str) -> float:
        return duration * sum(CALL_WAIT_S[name] * image.aws_calls[name] for name in names)

    return {
        "cpu": duration * image.median_cpu_ms / 1000 / cpu_share(memory_mb),
        "floor_waits": waited("s3:GetObject", "s3:PutObject") + duration * image.source_bytes / S3_READ_BYTES_PER_S,
        "head": priced("S3 GET", image.aws_calls["s3:HeadObject"]) + waited("s3:HeadObject"),
        "sqs": priced("SQS requests", sqs_requests_per_image(image)) + waited("sqs:SendMessage"),
        "db_writer": priced("Lambda duration", db_writer_gb_s(figures)) + priced("Lambda requests", 1 / SQS_BATCH_SIZE),
        "logs": priced("CloudWatch Logs", log_bytes_per_image(figures, image) / 1e9),
    }


@dataclass
class MemoryOption:
    memory_mb: int
    seconds_typical: float
    seconds_largest: float
    dollars_per_million: float
    fits_worst_case: bool


def memory_options(
    figures: HandlerFigures, typical: ImageProcessorFigures, largest: ImageProcessorFigures, needed_mb: float
) -> list[MemoryOption]:
    return [
        MemoryOption(
            memory_mb,
            image_processor_seconds(typical, memory_mb),
            image_processor_seconds(largest, memory_mb),
            total(per_million(figures, typical, memory_mb)),
            memory_mb >= needed_mb,
        )
        for memory_mb in CANDIDATE_MEMORY_MB
    ]


def recommend(options: list[MemoryOption]) -> MemoryOption | None:
    well_under = TIMEOUT_S * WELL_UNDER_FRACTION
    suitable = [option for option in options if option.fits_worst_case and option.seconds_largest <= well_under]
    return min(suitable, key=lambda option: (option.dollars_per_million, option.memory_mb), default=None)


def write_units_per_item(item_bytes: int) -> int:
    """On-demand write request units for one write of an item this size (1 KB each, rounded up)."""
    return math.ceil(item_bytes / 1024)


def dynamodb_item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it (attribute names plus values, per the developer guide's rules)."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: dict[str, Any]) -> int:
    ((kind, content),) = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        digits = content.lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(name.encode()) + _value_bytes(inner) + 1 for name, inner in content.items())
    if kind == "L":
        return 3 + sum(_value_bytes(inner) + 1 for inner in content)
    raise ValueError(f"unexpected DynamoDB type {kind}")


def key_attributes(item: dict[str, Any], key: str) -> list[str]:
    """The item's attributes that hold the object key (the key itself or a name made from it), at any depth."""
    return [name for name, value in item.items() if _with_key(value, key, f"{key}x") != value]


def item_bytes_with_key_length(item: dict[str, Any], key: str, length: int) -> int:
    """The item's size had its object key been `length` characters (ASCII): every copy of it grows."""
    stem, dot, extension = key.rpartition(".")
    longer = f"{stem}{'x' * (length - len(key))}{dot}{extension}"
    return dynamodb_item_bytes({name: _with_key(value, key, longer) for name, value in item.items()})


def _with_key(value: dict[str, Any], key: str, replacement: str) -> dict[str, Any]:
    """A DynamoDB value with every copy of `key` in its strings, nested ones too, replaced."""
    ((kind, content),) = value.items()
    if kind == "S":
        return {"S": content.replace(key, replacement)}
    if kind == "M":
        return {"M": {name: _with_key(inner, key, replacement) for name, inner in content.items()}}
    if kind == "L":
        return {"L": [_with_key(inner, key, replacement) for inner in content]}
    return value


def key_length_for_bytes_over(item: dict[str, Any], key: str, limit: int) -> int:
    """The shortest object key (ASCII characters) that makes the item larger than `limit` bytes."""
    length = len(key)
    while item_bytes_with_key_length(item, key, length) <= limit:
        length += 1
    return length
