# Sourced by the project's entry scripts: creates .venv on first use and keeps it in
# step with requirements-dev.lock, the hash-locked requirements-dev.txt (scripts/lock.sh writes it);
# re-installs only when a requirements file or lock changed.
set -euo pipefail
project_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv_dir="${PIPELINE_VENV:-$project_root/.venv}"
python_bin="${PYTHON:-python3}"

if ! "$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Python >= 3.11 is required ('$python_bin' is $("$python_bin" --version 2>&1))." >&2
  echo "       Set PYTHON=/path/to/python3.11+ and run again." >&2
  exit 1
fi

if [ ! -x "$venv_dir/bin/python" ]; then
  echo "==> creating virtualenv $venv_dir"
  "$python_bin" -m venv "$venv_dir"
fi

# Hashed with Python rather than sha256sum, which stock macOS lacks; the same hex digest, so existing stamps hold.
requirements_stamp="$(cat "$project_root"/requirements-*.txt "$project_root"/requirements-dev.lock "$project_root"/*/requirements.txt |
  "$python_bin" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
if [ "$(cat "$venv_dir/.requirements-stamp" 2>/dev/null)" != "$requirements_stamp" ]; then
  echo "==> installing development requirements into $venv_dir"
  "$venv_dir/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes \
    -r "$project_root/requirements-dev.lock"
  echo "$requirements_stamp" >"$venv_dir/.requirements-stamp"
fi
export PATH="$venv_dir/bin:$PATH"
