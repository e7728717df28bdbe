"""`python -m bench.cold_start_against REV [--repeats N]`: this tree's deployed cold start against git REV's.

Both trees are built by their own ./build.sh for this machine (bench.coldstart.unzipped_build), and each
function's import is timed as deployed (a Python of the runtime's version, the unzipped package first on the
path, the SDK behind it), the two builds interleaved round after round in one run, so the change in the last
column is the change a deployment of this tree would make, whatever the machine's speed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.coldstart import (
    DEPLOYED_VARIANTS,
    ROOT,
    RUNTIME_PYTHON,
    compiled_sdk,
    runtime_python,
    time_deployed,
    unzipped_build,
)

THIS_TREE = "this tree"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start_against", description=__doc__.split("\n\n")[0])
    parser.add_argument("revision", help="the git revision to compare with, e.g. main or a commit")
    parser.add_argument("--repeats", type=int, default=15, help="fresh interpreters per variant and tree (default 15)")
    args = parser.parse_args(argv)
    python = runtime_python()
    if python is None:
        print(f"error: no Python {RUNTIME_PYTHON} here (python{RUNTIME_PYTHON} on PATH or pyenv's)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="cold-start-against-") as scratch:
        folder = Path(scratch)
        worktree = folder / "revision"
        added = subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), args.revision],
            capture_output=True,
            text=True,
        )
        if added.returncode != 0:
            print(f"error: {added.stderr.strip()}", file=sys.stderr)
            return 2
        try:
            builds = {
                args.revision: unzipped_build(worktree, folder / "a"),
                THIS_TREE: unzipped_build(ROOT, folder / "b"),
            }
            failed = [why for why in builds.values() if isinstance(why, str)]
            if failed:
                print(f"error: {failed[0]}", file=sys.stderr)
                return 1
            cpu_ms = time_deployed(python, builds, compiled_sdk(python, folder / "sdk"), repeats=args.repeats)  # type: ignore[arg-type]
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], check=False)
    print(f"Median CPU ms of {args.repeats} fresh {Path(python).name} interpreters per import, as deployed:\n")
    print(f"| Import | {args.revision} | {THIS_TREE} | change |\n|---|---:|---:|---:|")
    for variants in DEPLOYED_VARIANTS.values():
        for name in variants:
            before, after = (statistics.median(cpu_ms[(label, name)]) for label in (args.revision, THIS_TREE))
            print(f"| `{name}` | {before:.0f} | {after:.0f} | {(after / before - 1) * 100:+.0f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
