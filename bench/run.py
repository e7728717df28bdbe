"""The benchmark's stages in order, with the sizes of a full and a quick run."""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import coldstart, handlers, methods, pipeline, report, sizing, thumbnails


@dataclass(frozen=True)
class Plan:
    quick: bool
    runs: int  # timed rounds per method and image
    cold_start_repeats: int
    handler_invocations: int
    db_writer_messages: int
    pipeline_images: int
    pipeline_timeout_s: float


FULL = Plan(
    False,
    runs=9,
    cold_start_repeats=20,
    handler_invocations=5,
    db_writer_messages=100,
    pipeline_images=200,
    pipeline_timeout_s=600,
)
QUICK = Plan(
    True,
    runs=3,
    cold_start_repeats=3,
    handler_invocations=2,
    db_writer_messages=10,
    pipeline_images=4,
    pipeline_timeout_s=120,
)


def run(*, quick: bool, output: Path | None) -> int:
    if methods.LIBVIPS_UNAVAILABLE and not quick:
        print(f"error: libvips is unavailable ({methods.LIBVIPS_UNAVAILABLE}); a full run needs it", file=sys.stderr)
        return 2
    started = time.monotonic()
    results = collect(QUICK if quick else FULL)
    results.seconds = time.monotonic() - started
    text = report.render(results)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        progress(f"wrote {output} after {results.seconds:.0f} s")
    return 0


def collect(plan: Plan) -> report.Results:
    images = thumbnails.QUICK_IMAGES if plan.quick else thumbnails.CORE_IMAGES
    # The cost model's typical image and the largest one the memory default must carry.
    typical, largest = (images[0], images[0]) if plan.quick else (images[1], images[3])
    results = report.Results(plan.quick, plan.runs, plan.cold_start_repeats)
    results.thumbnails = thumbnails.run(images, runs=plan.runs, progress=progress)
    progress("memory sizing: the largest accepted inputs in a Lambda-like process")
    results.sizing = sizing.run(sizing.QUICK_WORST_CASES if plan.quick else sizing.WORST_CASES)
    progress(f"cold start: {plan.cold_start_repeats} fresh interpreters per variant")
    results.cold_start = coldstart.measure(repeats=plan.cold_start_repeats)
    if plan.quick:
        results.zip_sizes, results.zip_note = coldstart.zip_sizes(coldstart.ROOT / "dist")
    else:
        with tempfile.TemporaryDirectory() as scratch:
            results.zip_sizes, results.zip_note = coldstart.build_zips(Path(scratch))
    progress(f"handlers: image_processor on {typical.name} and {largest.name}; db_writer batches of 1 and 10")
    results.handlers = handlers.measure(
        list(dict.fromkeys([typical, largest])),
        invocations=plan.handler_invocations,
        db_messages=plan.db_writer_messages,
    )
    results.typical, results.largest = typical.name, largest.name
    results.pipeline_note = pipeline.available()
    if results.pipeline_note is None:
        progress(f"pipeline: {plan.pipeline_images} uploads of {typical.name} through the local stack")
        results.pipeline = pipeline.run(typical, count=plan.pipeline_images, timeout_s=plan.pipeline_timeout_s)
    return results


def progress(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)
