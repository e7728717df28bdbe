#!/usr/bin/env bash
# Runs checkov (pinned) over the Terraform stack.
# checkov pins many libraries of its own (boto3 among them), so it lives in its own virtualenv,
# .venv-checkov, created on first use and re-used afterwards.
# Usage: scripts/checkov.sh [checkov output arguments, e.g. --output json]   (default: --compact --quiet)
set -euo pipefail
project_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
checkov_version="3.3.30"
venv_dir="${CHECKOV_VENV:-$project_root/.venv-checkov}"
python_bin="${PYTHON:-python3}"

if [ "$("$venv_dir/bin/checkov" --version 2>/dev/null)" != "$checkov_version" ]; then
  echo "==> installing checkov==$checkov_version into $venv_dir (first run takes a few minutes)" >&2
  "$python_bin" -m venv "$venv_dir"
  "$venv_dir/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$checkov_version"
fi

cd "$project_root"
if [ "$#" -eq 0 ]; then
  set -- --compact --quiet
fi
# --framework terraform: the HCL checks are the ones that apply here. Nothing is downloaded (CI reaches
# only the package index): no platform policies, no external modules.
exec "$venv_dir/bin/checkov" --directory terraform --framework terraform \
  --skip-download --download-external-modules false "$@"
