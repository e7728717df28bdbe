"""A bounded, seeded fuzz campaign over image_processor's image path, then every finding replayed
through the worker exactly as the handler runs it.

    scripts/fuzz.sh                          # 200,000 executions from seed 1 (a few minutes)
    scripts/fuzz.sh --runs 20000 --seed 7    # the slow test suite's short campaign
    scripts/fuzz.sh --seconds 600            # bounded by time instead
    scripts/fuzz.sh --replay FILE...         # what the pipeline records for these files

The campaign runs fuzz/target.py under libFuzzer (atheris) in `--work` (default .fuzz/): seeds/ holds
one small file of every accepted format, corpus/ what coverage kept, findings/ what libFuzzer
saved (crash-*, timeout-*, oom-*). Each finding is then decoded in a worker process with the
production limits (1,024 MB, 60 s invocation) and must end as PROCESSED or REJECTED with a reason:
the pipeline's promise. The exit status is 1 when the campaign found anything (a finding becomes a
case of sample_images/catalogue.py, with a pre-check where one is cheap), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from fuzz import seeds
from image_processor.config import Settings
from image_processor.images import ImageRejectedError
from image_processor.imaging import make_thumbnails
from image_processor.worker import Decoder, Limits

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUNS = 200_000
# libFuzzer's own limits for one input, in process: far above what any seed-sized input needs.
INPUT_TIMEOUT_SECONDS = 10
INPUT_RSS_LIMIT_MB = 2048
MAX_INPUT_BYTES = 64 * 1024
FUNCTION_MEMORY_MB = 1024
_FINDING_PREFIXES = ("crash-", "timeout-", "oom-", "leak-", "slow-unit-")


def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    if options.replay:
        outcomes = replay(options.replay)
        for path, outcome in outcomes.items():
            print(f"{path}: {outcome}")
        return 0
    work = options.work.resolve()
    summary = campaign(work, runs=options.runs, seconds=options.seconds, seed=options.seed)
    (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"fuzz: {summary['executions']:,} executions in {summary['seconds']:.0f} s "
        f"({summary['executions_per_second']:,} /s) from {summary['seeds']} seeds, seed {summary['seed']}; "
        f"corpus {summary['corpus']} inputs; {len(summary['findings'])} findings"
    )
    for finding in summary["findings"]:
        print(f"  {finding['file']}: in the worker -> {finding['pipeline_outcome']}")
    print(f"fuzz: log {work / 'libfuzzer.log'}, summary {work / 'summary.json'}")
    return 1 if summary["findings"] else 0


def campaign(work: Path, *, runs: int | None, seconds: int | None, seed: int) -> dict[str, object]:
    """Runs libFuzzer over the seeds, then replays what it found; returns the campaign's figures."""
    seed_files = seeds.write(work / "seeds")
    corpus, findings = work / "corpus", work / "findings"
    corpus.mkdir(exist_ok=True)
    findings.mkdir(exist_ok=True)
    bound = f"-max_total_time={seconds}" if seconds else f"-runs={runs or DEFAULT_RUNS}"
    command = [
        sys.executable,
        "-m",
        "fuzz.target",
        str(corpus),
        str(work / "seeds"),
        bound,
        f"-seed={seed}",
        f"-timeout={INPUT_TIMEOUT_SECONDS}",
        f"-rss_limit_mb={INPUT_RSS_LIMIT_MB}",
        f"-max_len={MAX_INPUT_BYTES}",
        f"-artifact_prefix={findings}/",
        "-print_final_stats=1",
    ]
    started = time.monotonic()
    with (work / "libfuzzer.log").open("w") as log:
        subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=False)
    elapsed = time.monotonic() - started
    stats = _final_stats((work / "libfuzzer.log").read_text(errors="replace"))
    found = sorted(path for path in findings.iterdir() if path.name.startswith(_FINDING_PREFIXES))
    outcomes = replay(found)
    return {
        "seed": seed,
        "bound": bound.lstrip("-"),
        "seconds": round(elapsed, 1),
        "executions": stats.get("number_of_executed_units", 0),
        "executions_per_second": stats.get("average_exec_per_sec", 0),
        "seeds": len(seed_files),
        "corpus": len(list(corpus.iterdir())),
        "peak_rss_mb": stats.get("peak_rss_mb", 0),
        "findings": [{"file": path.name, "pipeline_outcome": outcomes[path]} for path in found],
    }


def replay(paths: list[Path]) -> dict[Path, str]:
    """What image_processor records for each file: decoded in a worker process within the production limits."""
    decoder = Decoder(make_thumbnails)
    outcomes = {}
    for path in paths:
        data = path.read_bytes()
        limits = Limits.for_invocation(
            memory_mb=FUNCTION_MEMORY_MB,
            remaining_seconds=60,
            max_decode_seconds=Settings.max_decode_seconds,
            upload_bytes=len(data),
        )
        try:
            info, _ = decoder.thumbnails(
                data, limits, sizes=(Settings.thumbnail_size,), max_pixels=Settings.max_image_pixels
            )
        except ImageRejectedError as rejection:
            outcomes[path] = f"REJECTED {rejection.reason}: {rejection.detail}"
        else:
            outcomes[path] = f"PROCESSED {info.format} {info.width}x{info.height}"
    return outcomes


def _final_stats(log: str) -> dict[str, int]:
    return {name: int(value) for name, value in re.findall(r"^stat::(\w+):\s+(\d+)", log, re.MULTILINE)}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/fuzz.sh", description=__doc__.split("\n\n")[0])
    bound = parser.add_mutually_exclusive_group()
    bound.add_argument("--runs", type=int, help=f"executions to run (default {DEFAULT_RUNS:,})")
    bound.add_argument("--seconds", type=int, help="run for this long instead of a number of executions")
    parser.add_argument("--seed", type=int, default=1, help="libFuzzer's random seed (default 1)")
    parser.add_argument("--work", type=Path, default=ROOT / ".fuzz", help="corpus, findings, logs (default .fuzz/)")
    parser.add_argument(
        "--replay", type=Path, nargs="+", metavar="FILE", help="only say what the pipeline records for these files"
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
