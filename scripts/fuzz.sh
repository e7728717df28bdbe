#!/usr/bin/env bash
# Fuzzes image_processor's image path (atheris/libFuzzer), then replays the findings through its worker.
# Usage: scripts/fuzz.sh [--runs N | --seconds N] [--seed N] [--work DIR] [--replay FILE...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
cd "$project_root"

if ! python -c 'import atheris' 2>/dev/null; then
  echo "==> installing requirements-fuzz.txt into $venv_dir (atheris: Linux wheels only)"
  python -m pip install --quiet --disable-pip-version-check -r requirements-fuzz.txt
fi
exec python -m fuzz "$@"
