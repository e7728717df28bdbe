"""`python -m bench [--quick]`: run every benchmark and write bench/RESULTS.md.

The first run creates .venv-bench (bench.environment) and re-runs itself there. `--quick` runs every
measurement on small inputs in well under a minute and prints the report; without libvips it still runs,
reporting method (d) as unavailable, where a full run, whose targets are ratios to libvips, stops.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench.environment import BENCH_VENV, ROOT, BenchEnvironmentError, prepare_bench_venv, progress

if TYPE_CHECKING:
    from bench.report import Results

RESULTS = ROOT / "bench" / "RESULTS.md"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small inputs and few repeats, the report on stdout")
    args = parser.parse_args(argv)
    if Path(sys.prefix).resolve() != BENCH_VENV.resolve():
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
    text = report.render(collect(args.quick))
    if args.quick:
        sys.stdout.write(text)
    else:
        RESULTS.write_text(text)
        progress(f"wrote {RESULTS}")
    return 0


def collect(quick: bool) -> Results:
    from bench import cold_start_against, coldstart, fingerprints, handlers, pipeline, report, sizing, thumbnails

    # Timed rounds per method and image, fresh interpreters per import, uploads through the local stack.
    runs, cold_starts, uploads = (3, 3, 4) if quick else (9, 20, 200)
    images = thumbnails.QUICK_IMAGES if quick else thumbnails.CORE_IMAGES
    # The cost model's typical image and the largest one the memory default must carry.
    typical, largest = (images[0], images[0]) if quick else (images[1], images[3])
    heic_images = thumbnails.QUICK_HEIC_LIBVIPS_IMAGES if quick else thumbnails.HEIC_LIBVIPS_IMAGES
    heic_typical = heic_images[0]  # the cost model's iPhone photo: 12 MP with its embedded thumbnail
    started = time.monotonic()
    results = report.Results(quick, runs, cold_starts, typical.name, largest.name, heic_typical.name)
    results.thumbnails = thumbnails.run(images, runs=runs)
    heic_pairs = thumbnails.QUICK_HEIC_PAIRS if quick else thumbnails.HEIC_PAIRS
    results.heic = thumbnails.heic_against_jpeg(heic_pairs, runs=runs)
    results.fingerprints = fingerprints.measure(typical, runs=runs)
    results.heic_libvips = thumbnails.heic_against_libvips(heic_images, runs=runs)
    progress("memory sizing: the largest accepted inputs in a Lambda-like process")
    results.sizing = sizing.run(sizing.QUICK_WORST_CASES if quick else sizing.WORST_CASES)
    progress(f"cold start: {cold_starts} fresh interpreters per variant, and the zips' sizes")
    results.cold_start = coldstart.measure(repeats=cold_starts)
    results.deployed_cold_start = (
        "a quick run does not build the zips" if quick else coldstart.measure_deployed(repeats=cold_starts)
    )
    results.cold_start_against = (
        "a quick run does not build the zips"
        if quick
        else cold_start_against.against(cold_start_against.REFERENCE, repeats=cold_starts)
    )
    results.zips = coldstart.zip_sizes(build=not quick)
    progress(
        f"handlers: image_processor on {heic_typical.name}, {typical.name} and {largest.name};"
        " db_writer batches of 1 and 10"
    )
    # The HEIC first: db_writer's messages and the delete event copy the last image's.
    results.handlers = handlers.measure([*dict.fromkeys([heic_typical, typical, largest])])
    progress(f"pipeline: {uploads} uploads of {typical.name} through the local stack")
    results.pipeline = pipeline.run(typical, count=uploads)
    results.seconds = time.monotonic() - started
    return results


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
