#!/usr/bin/env bash
# Checks the Lambda functions' requirements for known vulnerabilities with pip-audit (pinned), against
# the package index's advisory data. pip-audit lives in its own virtualenv, .venv-audit, created on
# first use, so its dependencies never mix with the project's.
# Usage: scripts/audit.sh [-r requirements.lock ...]   (default: both functions' hash locks, what build.sh installs)
# Exit status: 0 none known, 1 a known vulnerability, 2 a package could not be audited, 3 index unreachable.
set -euo pipefail
project_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pip_audit_version="2.10.1"
venv_dir="${AUDIT_VENV:-$project_root/.venv-audit}"
python_bin="${PYTHON:-python3}"

if [ "$("$venv_dir/bin/pip-audit" --version 2>/dev/null)" != "pip-audit $pip_audit_version" ]; then
  echo "==> installing pip-audit==$pip_audit_version into $venv_dir" >&2
  "$python_bin" -m venv "$venv_dir"
  "$venv_dir/bin/python" -m pip install --quiet --disable-pip-version-check "pip-audit==$pip_audit_version"
fi

cd "$project_root"
if [ "$#" -eq 0 ]; then
  set -- -r image_processor/requirements.lock -r db_writer/requirements.lock
fi
exec "$venv_dir/bin/python" scripts/audit_requirements.py --pip-audit "$venv_dir/bin/pip-audit" "$@"
