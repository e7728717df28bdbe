#!/usr/bin/env bash
# Builds the Lambda packages: dist/image_processor.zip, dist/db_writer.zip and dist/build-info.json.
# Usage: ./build.sh [--arch arm64|x86_64] [--python 3.13] [--docker | --no-docker] [--out DIR]
# (./build.sh --help lists the environment variables; the README's "Build" section explains the choices).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python_bin="${PYTHON:-python3}"

if ! "$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: build.sh needs Python >= 3.11 with pip ('$python_bin' is $("$python_bin" --version 2>&1))." >&2
  echo "       Set PYTHON=/path/to/python3.11+ and run again." >&2
  exit 1
fi
exec "$python_bin" "$root/scripts/build.py" "$@"
