#!/usr/bin/env bash
# Runs the whole pipeline on this machine: an embedded AWS (moto) on 127.0.0.1 and the two handlers.
# Usage: scripts/local.sh [--demo | --load N] [--faults RATE] [--port N]   (docs/local.md and
# docs/reliability.md; Ctrl-C stops it)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
cd "$project_root"

echo "==> starting the local pipeline"
exec python -m local_pipeline "$@"
