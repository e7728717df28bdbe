#!/usr/bin/env bash
# Locks every requirements file with the sha256 of each file it may install, so build.sh and venv.sh install
# exactly what was reviewed (pip --require-hashes). Run it after editing any requirements*.txt; commit the locks.
# Usage: scripts/lock.sh [--upgrade]   (--upgrade: newest releases the requirements allow, not the locked ones)
#
# uv, not pip-tools: the Lambda locks must hold for the Lambda's platforms (manylinux x86_64 and aarch64) and
# Pythons (3.12, 3.13) whatever machine runs this, and only uv's --universal resolution does that; pip-compile
# resolves for the machine it runs on. The locks are plain pip requirements files with hashes.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
cd "$project_root"

compile=(uv pip compile --quiet --universal --generate-hashes --custom-compile-command "scripts/lock.sh" "$@")
for function in image_processor db_writer; do
  echo "==> $function/requirements.lock: Python 3.12+ on every platform, wheels only (what build.sh installs)"
  "${compile[@]}" --python-version 3.12 --only-binary :all: "$function/requirements.txt" -o "$function/requirements.lock"
done
echo "==> requirements-dev.lock: Python 3.11+ on every platform (what scripts/venv.sh installs)"
"${compile[@]}" --python-version 3.11 requirements-dev.txt -o requirements-dev.lock
