"""`--load N`: N uploads of mixed sizes and formats through the local stack, then the reconciliation.

docs/reliability.md says what the mix holds (#the-load: formats, the hostile catalogue's light cases,
deletes and overwrites, the warm-up pass, moto's memory reported apart), that a key's operations come
back to back (#concurrent-events-for-one-key) and which keys are poisoned (#faults): the reconciliation
must find exactly those in a dead-letter queue. Resident memory must stay flat: the median of the
last quarter of the samples at most MAX_MEMORY_GROWTH above the first quarter's. Uploads are kept at
most IN_FLIGHT ahead of image_processor, as a steady load.
"""

from __future__ import annotations

import random
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from local_pipeline.console import Console
from local_pipeline.pipeline import Pipeline
from local_pipeline.runtime import peak_rss_mb
from sample_images import images
from sample_images.catalogue import PREFIX, light_cases
from scripts.reconcile import Reconciliation, Target, reconcile

IN_FLIGHT = 32
SAMPLES = 40
MAX_MEMORY_GROWTH = 0.20
DRAIN_TIMEOUT_S = 600
KEY_PREFIX = "load/"
WARMUP_PREFIX = "warmup/"
# Share of keys that get more than one operation, each back to back; the others get one upload.
LIFECYCLES = {
    ("upload", "delete"): 0.06,
    ("upload", "delete", "upload"): 0.05,
    ("upload", "upload"): 0.05,
}
# With faults on: share of single-upload keys poisoned for each function (at least one each).
POISON_SHARE = 0.005
HOSTILE_SHARE = 0.3


@dataclass(frozen=True)
class File:
    name: str
    make: Callable[[], bytes]
    status: str  # what its record must say: PROCESSED or REJECTED


@dataclass(frozen=True)
class Step:
    key: str
    file: File | None  # None: delete the key


@dataclass
class LoadPlan:
    warmup: list[Step]
    steps: list[Step]
    expected: dict[str, str]  # key -> status of its latest operation, warm-up keys included
    poison_image_processor: frozenset[str] = frozenset()
    poison_db_writer: frozenset[str] = frozenset()

    @property
    def uploads(self) -> int:
        return sum(1 for step in self.steps if step.file is not None)


@dataclass
class LoadReport:
    uploads: int
    deletes: int
    warmup_uploads: int
    keys: int
    uploaded_bytes: int
    seconds: float  # from the first upload until the pipeline drained
    drain_seconds: float  # of which, after the last upload
    samples: list[tuple[int, float]]  # (uploads done, resident MB of this process)
    peak_mb: float
    moto_mb: tuple[float, float] | None  # moto's server process at the start and the end, when separate
    faults: dict[str, int]
    reconciliation: Reconciliation
    poisoned: int
    poisoned_not_in_dlq: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.uploads / self.seconds

    @property
    def first_quarter_mb(self) -> float:
        return statistics.median(mb for _, mb in self.samples[: max(1, len(self.samples) // 4)])

    @property
    def last_quarter_mb(self) -> float:
        return statistics.median(mb for _, mb in self.samples[-max(1, len(self.samples) // 4) :])

    @property
    def memory_flat(self) -> bool:
        return self.last_quarter_mb <= self.first_quarter_mb * (1 + MAX_MEMORY_GROWTH)

    @property
    def ok(self) -> bool:
        return self.reconciliation.ok and self.memory_flat and not self.poisoned_not_in_dlq

    def render(self) -> str:
        injected = ", ".join(f"{name} {count:,}" for name, count in sorted(self.faults.items())) or "none"
        growth = self.last_quarter_mb / self.first_quarter_mb - 1
        lines = [
            f"load: {self.uploads:,} uploads and {self.deletes:,} deletes, {self.uploaded_bytes / 1e6:,.1f} MB, "
            f"in {self.seconds:.1f} s ({self.drain_seconds:.1f} s of it draining after the last upload): "
            f"{self.throughput:.1f} uploads/s; after {self.warmup_uploads} warm-up uploads; "
            f"{self.keys:,} keys in all",
            f"faults injected: {injected}",
            f"memory of this process (runner and both functions), resident: peak {self.peak_mb:.0f} MB; median "
            f"{self.first_quarter_mb:.0f} MB over the first quarter of the uploads, {self.last_quarter_mb:.0f} MB "
            f"over the last ({growth:+.1%}, limit +{MAX_MEMORY_GROWTH:.0%}): "
            f"{'flat' if self.memory_flat else 'GROWING'}",
            "  samples (uploads: MB): " + ", ".join(f"{done}: {mb:.0f}" for done, mb in self.samples),
            *(
                [
                    f"moto's server process (it keeps every object, item, message and log line): "
                    f"{self.moto_mb[0]:.0f} MB before the first upload, {self.moto_mb[1]:.0f} MB at the end"
                ]
                if self.moto_mb
                else []
            ),
            self.reconciliation.render(),
            f"poisoned keys: {self.poisoned}, all in a dead-letter queue"
            if not self.poisoned_not_in_dlq
            else f"PROBLEM: poisoned keys not in a dead-letter queue: {', '.join(self.poisoned_not_in_dlq)}",
        ]
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {
            "ok": self.ok,
            "uploads_per_second": self.throughput,
            "first_quarter_mb": self.first_quarter_mb,
            "last_quarter_mb": self.last_quarter_mb,
            "memory_flat": self.memory_flat,
            "reconciliation": self.reconciliation.as_json(),
        }


# --- the mix ------------------------------------------------------------------------------------------


def photo_files() -> list[tuple[float, File]]:
    """(weight, file): mostly small and medium photos, a few 12-megapixel ones."""

    def encoded(width: int, height: int, image_format: str, mode: str = "RGB", **options: Any) -> Callable[[], bytes]:
        return lambda: images.encode(images.photo(width, height).convert(mode), image_format, **options)

    return [
        (6, File("photo-640x480.jpg", lambda: images.jpeg(640, 480), "PROCESSED")),
        (5, File("photo-1600x1200.jpg", lambda: images.jpeg(1600, 1200), "PROCESSED")),
        (2, File("photo-3000x2000.jpg", lambda: images.jpeg(3000, 2000), "PROCESSED")),
        (1, File("photo-4000x3000.jpg", lambda: images.jpeg(4000, 3000), "PROCESSED")),
        (2, File("rotated-1200x800.jpg", lambda: images.jpeg_with_exif(1200, 800, {0x0112: 6}), "PROCESSED")),
        (3, File("logo-800x600.png", encoded(800, 600, "PNG", "RGBA"), "PROCESSED")),
        (1, File("scan-1600x1200.png", encoded(1600, 1200, "PNG"), "PROCESSED")),
        (3, File("photo-1024x768.webp", encoded(1024, 768, "WEBP", quality=80), "PROCESSED")),
        (2, File("animation-320x240.gif", lambda: images.animated("GIF", 4, (320, 240)), "PROCESSED")),
        (1, File("scan-1200x900.tiff", encoded(1200, 900, "TIFF"), "PROCESSED")),
        (1, File("bitmap-800x600.bmp", encoded(800, 600, "BMP"), "PROCESSED")),
        (1, File("photo-640x480.avif", encoded(640, 480, "AVIF", quality=50), "PROCESSED")),
    ]


def hostile_files() -> list[File]:
    """The hostile catalogue's light cases, named by their key without the catalogue's prefix.

    Not the key with a newline in it: moto's server matches object keys in URLs with a regular
    expression that stops at a newline, so it answers 404 (S3 takes it; tests/hostile checks it in
    moto without the server).
    """
    return [
        File(case.key.removeprefix(PREFIX), case.data, case.status) for case in light_cases() if "\n" not in case.key
    ]


def plan_load(uploads: int, seed: int | None = None, poison: bool = False) -> LoadPlan:
    """`uploads` uploads, some keys with several operations; deletes come on top."""
    rng = random.Random(seed)
    photos = photo_files()
    hostile = hostile_files()
    steps: list[Step] = []
    expected: dict[str, str] = {}
    single: list[str] = []
    index = 0

    def pick() -> File:
        if rng.random() < HOSTILE_SHARE:
            return rng.choice(hostile)
        return rng.choices([file for _, file in photos], weights=[weight for weight, _ in photos])[0]

    made = 0
    while made < uploads:
        first = pick()
        key = _key(index, first)
        index += 1
        operations = rng.choices([*LIFECYCLES, ("upload",)], [*LIFECYCLES.values(), 1 - sum(LIFECYCLES.values())])[0]
        if operations.count("upload") > uploads - made:  # the uploads must not pass the total
            operations = ("upload",)
        for position, operation in enumerate(operations):
            file = (first if position == 0 else pick()) if operation == "upload" else None
            steps.append(Step(key, file))
            made += file is not None
        expected[key] = steps[-1].file.status if steps[-1].file else "DELETED"
        if len(operations) == 1 and key.startswith(KEY_PREFIX):
            single.append(key)
    poisoned = rng.sample(single, min(len(single), 2 * max(1, round(uploads * POISON_SHARE)))) if poison else []
    half = len(poisoned) // 2
    warmup = [Step(f"{WARMUP_PREFIX}{file.name}", file) for file in {s.file: None for s in steps if s.file}]
    warmup = [step for step in warmup if len(step.key.encode()) <= 1024]
    expected |= {step.key: step.file.status for step in warmup if step.file}
    return LoadPlan(warmup, steps, expected, frozenset(poisoned[:half]), frozenset(poisoned[half:]))


def _key(index: int, file: File) -> str:
    # Keys of S3's maximum length cannot take a prefix: they are uploaded as they are, again and again.
    key = f"{KEY_PREFIX}{index:05d}/{file.name}"
    return key if len(key.encode()) <= 1024 else file.name


# --- the run ------------------------------------------------------------------------------------------


def reconciliation_target(pipeline: Pipeline) -> Target:
    """What the reconciliation reads, named from the running pipeline's stack."""
    stack = pipeline.stack
    return Target(
        upload_bucket=stack.upload_bucket,
        thumbnail_bucket=stack.thumbnail_bucket,
        table_name=stack.table_name,
        metadata_dlq_url=pipeline.queue_url(stack.metadata_dlq.name),
        processor_failures_queue_url=pipeline.queue_url(stack.processor_failures_queue.name),
        thumbnail_prefix=stack.image_processor.environment["THUMBNAIL_PREFIX"],
    )


def run_load(
    pipeline: Pipeline,
    plan: LoadPlan,
    console: Console,
    moto_pid: int | None = None,
) -> LoadReport:
    """Runs the plan; `moto_pid` is moto's server process, when it runs apart, to report its memory too."""
    console.say(f"load: generating {len(plan.warmup)} distinct files, then uploading each once to warm up")
    _drive(pipeline, plan.warmup, lambda uploads: None)
    pipeline.wait_until_drained(DRAIN_TIMEOUT_S)
    console.say(f"load: {plan.uploads:,} uploads, at most {IN_FLIGHT} ahead of image_processor")
    every = max(1, plan.uploads // SAMPLES)
    samples: list[tuple[int, float]] = []

    def progress(uploads: int) -> None:
        if uploads % every == 0:
            samples.append((uploads, resident_mb()))
        if uploads % max(1, plan.uploads // 10) == 0:
            console.say(f"load: {uploads:,} uploaded, {pipeline.invoker.finished:,} S3 events processed")

    moto_before = resident_mb(moto_pid) if moto_pid else None
    started = time.monotonic()
    uploads, deletes, uploaded_bytes = _drive(pipeline, plan.steps, progress)
    uploaded = time.monotonic()
    console.say("load: all uploaded, waiting for the pipeline to drain")
    pipeline.wait_until_drained(DRAIN_TIMEOUT_S)
    finished = time.monotonic()
    samples.append((uploads, resident_mb()))
    console.say(f"load: drained {finished - uploaded:.1f} s after the last upload; reconciling")
    reconciliation = reconcile(pipeline.client, reconciliation_target(pipeline), plan.expected)
    poisoned = plan.poison_image_processor | plan.poison_db_writer
    report = LoadReport(
        uploads=uploads,
        deletes=deletes,
        warmup_uploads=len(plan.warmup),
        keys=len(plan.expected),
        uploaded_bytes=uploaded_bytes,
        seconds=finished - started,
        drain_seconds=finished - uploaded,
        samples=samples,
        peak_mb=peak_rss_mb(),
        moto_mb=(moto_before, resident_mb(moto_pid)) if moto_pid and moto_before else None,
        faults=dict(pipeline.faults.injected) if pipeline.faults else {},
        reconciliation=reconciliation,
        poisoned=len(poisoned),
        poisoned_not_in_dlq=sorted(poisoned - reconciliation.waiting),
    )
    console.raw(report.render())
    return report


def _drive(pipeline: Pipeline, steps: list[Step], progress: Callable[[int], None]) -> tuple[int, int, int]:
    """Uploads and deletes in plan order, at most IN_FLIGHT operations ahead of image_processor; returns
    the counts of uploads, deletes and bytes uploaded."""
    s3 = pipeline.client("s3")
    bucket = pipeline.stack.upload_bucket
    finished_before = pipeline.invoker.finished
    uploads = deletes = uploaded_bytes = 0
    for step in steps:
        while uploads + deletes - (pipeline.invoker.finished - finished_before) >= IN_FLIGHT:
            time.sleep(0.02)
        if step.file is None:
            s3.delete_object(Bucket=bucket, Key=step.key)
            deletes += 1
        else:
            body = _body(step.file)
            s3.put_object(Bucket=bucket, Key=step.key, Body=body)
            uploads += 1
            uploaded_bytes += len(body)
            progress(uploads)
    return uploads, deletes, uploaded_bytes


def resident_mb(pid: int | None = None) -> float:
    """A process's resident memory now (Linux); elsewhere this process's peak so far, the closest there is."""
    try:
        pages = int(Path(f"/proc/{pid or 'self'}/statm").read_text().split()[1])
    except OSError:
        return peak_rss_mb()
    return pages * resource.getpagesize() / 2**20


@cache
def _body(file: File) -> bytes:
    return file.make()
