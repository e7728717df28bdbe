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
from pathlib import Path

from bench.environment import ROOT, BenchEnvironmentError, in_bench_venv, prepare_bench_venv

DEFAULT_OUTPUT = ROOT / "bench" / "RESULTS.md"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small inputs and few repeats: a smoke test")
    parser.add_argument(
        "--output",
        type=Path,
        help=f"where to write the report (default: {DEFAULT_OUTPUT.relative_to(ROOT)}; with --quick, standard output)",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
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
    # Imported only now: it needs Pillow, boto3 and (for method d) pyvips from the right virtualenv.
    from bench.run import run

    output = args.output or (None if args.quick else DEFAULT_OUTPUT)
    return run(quick=args.quick, output=output)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
