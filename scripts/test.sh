#!/usr/bin/env bash
# Runs the project's checks: lint, then pytest.
# Usage: scripts/test.sh [--all] [extra pytest arguments]
#   default  the fast run (a few minutes): every test not marked slow
#   --all    everything, as CI runs it: also the slow end-to-end, load, fault, build, bench and audit runs
set -euo pipefail

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  cat <<'USAGE'
Usage: scripts/test.sh [--all] [extra pytest arguments]

Runs the project's checks: ruff (lint and format), then pytest.
  scripts/test.sh                         the fast run (a few minutes): every test not marked slow
  scripts/test.sh --all                   everything, as CI runs it: the slow end-to-end, browser, load,
                                          fault, build, bench and audit runs too
  scripts/test.sh tests/local -k demo     extra arguments go to pytest

pytest's own options follow (`python -m pytest --help`).
USAGE
  source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
  cd "$project_root"
  exec python -m pytest --help
fi
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
