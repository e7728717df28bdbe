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
from dataclasses import dataclass
from pathlib import Path

from bench.coldstart import (
    DEPLOYED_VARIANTS,
    NO_RUNTIME_PYTHON,
    ROOT,
    compiled_sdk,
    runtime_python,
    time_deployed,
    unzipped_build,
)

THIS_TREE = "this tree"
# The tree every full bench run compares with: the last before issue 22's decoder worker and hostile-input
# checks, which that issue allows to grow the cold start by at most 10 %.
REFERENCE = "1432d3d"


@dataclass
class Against:
    """Median CPU ms of each DEPLOYED_VARIANTS import, from `revision`'s zips and from this tree's."""

    revision: str
    repeats: int
    python: str
    before_ms: dict[str, float]
    after_ms: dict[str, float]

    def table(self) -> str:
        rows = [f"| Import | {self.revision} | {THIS_TREE} | change |", "|---|---:|---:|---:|"]
        for name, before in self.before_ms.items():
            after = self.after_ms[name]
            rows.append(f"| `{name}` | {before:.0f} | {after:.0f} | {(after / before - 1) * 100:+.0f} % |")
        return "\n".join(rows)


def against(revision: str, *, repeats: int) -> Against | str:
    """This tree's deployed cold start against `revision`'s, or why it could not be measured."""
    python = runtime_python()
    if python is None:
        return NO_RUNTIME_PYTHON
    with tempfile.TemporaryDirectory(prefix="cold-start-against-") as scratch:
        folder = Path(scratch)
        worktree = folder / "revision"
        add = ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), revision]
        added = subprocess.run(add, capture_output=True, text=True)
        if added.returncode != 0:
            return f"no worktree of {revision}: {added.stderr.strip()}"
        try:
            builds = {revision: unzipped_build(worktree, folder / "a"), THIS_TREE: unzipped_build(ROOT, folder / "b")}
            failed = [why for why in builds.values() if isinstance(why, str)]
            if failed:
                return str(failed[0])
            cpu_ms = time_deployed(python, builds, compiled_sdk(python, folder / "sdk"), repeats=repeats)  # type: ignore[arg-type]
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], check=False)
    names = [name for variants in DEPLOYED_VARIANTS.values() for name in variants]
    medians = {label: {name: statistics.median(cpu_ms[(label, name)]) for name in names} for label in builds}
    return Against(revision, repeats, python, medians[revision], medians[THIS_TREE])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start_against", description=__doc__.split("\n\n")[0])
    parser.add_argument("revision", help="the git revision to compare with, e.g. main or a commit")
    parser.add_argument("--repeats", type=int, default=15, help="fresh interpreters per variant and tree (default 15)")
    args = parser.parse_args(argv)
    result = against(args.revision, repeats=args.repeats)
    if isinstance(result, str):
        print(f"error: {result}", file=sys.stderr)
        return 2
    print(f"Median CPU ms of {result.repeats} fresh {Path(result.python).name} interpreters per import, as deployed:\n")
    print(result.table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
