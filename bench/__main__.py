"""`python -m bench [--quick] [--output PATH]`: run every benchmark and write bench/RESULTS.md.

The first run creates .venv-bench (the dev packages plus pyvips, see bench.environment) and
re-runs itself there. A quick run (`--quick`) exercises every measurement on small inputs in
well under a minute and prints the report instead of replacing bench/RESULTS.md; if libvips
cannot be installed it still runs, reporting method (d) as unavailable. A full run insists on
libvips, since its targets are ratios against it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.environment import ROOT, BenchEnvironmentError, in_bench_venv, prepare_bench_venv

if TYPE_CHECKING:
    from bench.report import Results

DEFAULT_OUTPUT = ROOT / "bench" / "RESULTS.md"


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
    9,
    cold_start_repeats=20,
    handler_invocations=5,
    db_writer_messages=100,
    pipeline_images=200,
    pipeline_timeout_s=600,
)
QUICK = Plan(
    True,
    3,
    cold_start_repeats=3,
    handler_invocations=2,
    db_writer_messages=10,
    pipeline_images=4,
    pipeline_timeout_s=120,
)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small inputs and few repeats: a smoke test")
    parser.add_argument(
        "--output",
        type=Path,
        help="where to write the report (default: bench/RESULTS.md; with --quick, standard output)",
    )
    args = parser.parse_args(argv)
    if not in_bench_venv():
        try:
            python = prepare_bench_venv()
        except BenchEnvironmentError as error:
            if not args.quick:
                print(f"error: cannot prepare the benchmark virtualenv: {error}", file=sys.stderr)
                return 2
            print(f"warning: no benchmark virtualenv, running without libvips: {error}", file=sys.stderr)
        else:
            os.execv(python, [str(python), "-m", "bench", *argv])
    # Imported only now: they need Pillow, boto3 and (for method d) pyvips from the right virtualenv.
    from bench import methods, report

    if methods.LIBVIPS_UNAVAILABLE and not args.quick:
        print(f"error: libvips is unavailable ({methods.LIBVIPS_UNAVAILABLE}); a full run needs it", file=sys.stderr)
        return 2
    started = time.monotonic()
    results = collect(QUICK if args.quick else FULL, started)
    text = report.render(results)
    output = args.output or (None if args.quick else DEFAULT_OUTPUT)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        progress(f"wrote {output} after {time.monotonic() - started:.0f} s")
    return 0


def collect(plan: Plan, started: float) -> Results:
    from bench import coldstart, handlers, pipeline, report, sizing, thumbnails

    images = thumbnails.QUICK_IMAGES if plan.quick else thumbnails.CORE_IMAGES
    # The cost model's typical image and the largest one the memory default must carry.
    typical, largest = (images[0], images[0]) if plan.quick else (images[1], images[3])
    thumbnail_results = thumbnails.run(images, runs=plan.runs, progress=progress)
    progress("memory sizing: the largest accepted inputs in a Lambda-like process")
    sizing_results = sizing.run(sizing.QUICK_WORST_CASES if plan.quick else sizing.WORST_CASES)
    progress(f"cold start: {plan.cold_start_repeats} fresh interpreters per variant, and the zips' sizes")
    cold_start = coldstart.measure(repeats=plan.cold_start_repeats)
    zip_sizes, zip_note = coldstart.zip_sizes(build=not plan.quick)
    progress(f"handlers: image_processor on {typical.name} and {largest.name}; db_writer batches of 1 and 10")
    handler_figures = handlers.measure(
        list(dict.fromkeys([typical, largest])),
        invocations=plan.handler_invocations,
        db_messages=plan.db_writer_messages,
    )
    progress(f"pipeline: {plan.pipeline_images} uploads of {typical.name} through the local stack")
    pipeline_figures = pipeline.run(typical, count=plan.pipeline_images, timeout_s=plan.pipeline_timeout_s)
    return report.Results(
        quick=plan.quick,
        runs=plan.runs,
        cold_start_repeats=plan.cold_start_repeats,
        seconds=time.monotonic() - started,
        thumbnails=thumbnail_results,
        sizing=sizing_results,
        cold_start=cold_start,
        zip_sizes=zip_sizes,
        zip_note=zip_note,
        handlers=handler_figures,
        typical=typical.name,
        largest=largest.name,
        pipeline=pipeline_figures,
    )


def progress(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
