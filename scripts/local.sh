#!/usr/bin/env bash
# Runs the whole pipeline on this machine: an embedded AWS (moto) on 127.0.0.1 and the two handlers.
# Usage: scripts/local.sh [--demo | --load N] [--faults RATE] [--port N]   (docs/local.md and
# docs/reliability.md; Ctrl-C stops it)
set -euo pipefail

wants_help=false
for argument in "$@"; do
  case "$argument" in --help | -h) wants_help=true ;; esac
done
# This script's usage comes first: creating the virtualenv on a first run can take a minute.
if $wants_help; then
  cat <<'USAGE'
Usage: scripts/local.sh [--demo | --load N] [--faults RATE] [--seed N] [--port N] [--json FILE]

Runs the whole pipeline on this machine: an embedded AWS (moto) on 127.0.0.1, the two handlers, and
the dashboard at the dashboard_url it prints. Ctrl-C stops it. docs/local.md says what it emulates.
  scripts/local.sh --demo   process a generated set of images, print a summary, stop
  scripts/local.sh          start, and keep running until Ctrl-C

Every option, from `python -m local_pipeline --help`:
USAGE
fi
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
cd "$project_root"

$wants_help || echo "==> starting the local pipeline"
exec python -m local_pipeline "$@"
