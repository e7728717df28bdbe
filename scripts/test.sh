#!/usr/bin/env bash
# Runs the project's checks: lint, then pytest.
# Usage: scripts/test.sh [--all] [extra pytest arguments]
#   default  the fast run (a few minutes): every test not marked slow
#   --all    everything, as CI runs it: also the slow end-to-end, load, fault, build, bench and audit runs
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
cd "$project_root"

selection=(-m "not slow")
if [ "${1:-}" = "--all" ]; then
  selection=()
  shift
fi

echo "==> ruff"
ruff check .
ruff format --check .

echo "==> pytest${selection:+ (fast run: tests marked slow are left out; scripts/test.sh --all runs them)}"
python -m pytest ${selection[@]+"${selection[@]}"} "$@"
