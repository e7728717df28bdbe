"""scripts/venv.sh, which scripts/local.sh sources: it must work where coreutils' sha256sum is missing (stock macOS)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_SH = REPO_ROOT / "scripts" / "venv.sh"
# Records how venv.sh calls the virtualenv's interpreter, instead of installing anything.
FAKE_PYTHON = '#!/bin/sh\necho "$*" >>"${0%/*}/../calls"\n'


@pytest.fixture
def fake_venv(tmp_path: Path) -> Path:
    """A virtualenv venv.sh need not create, whose stamp is stale."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text(FAKE_PYTHON)
    (venv / "bin" / "python").chmod(0o755)
    (venv / ".requirements-stamp").write_text("stale\n")
    return venv


@pytest.fixture
def path_without_sha256sum(tmp_path: Path) -> str:
    """A PATH holding only the commands venv.sh runs besides Python, as on a Mac: no sha256sum, no shasum."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("cat", "dirname"):
        (tools / tool).symlink_to(shutil.which(tool))  # type: ignore[arg-type]
    return str(tools)


def source_venv_sh(venv: Path, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [shutil.which("bash") or "bash", "-c", f'source "{VENV_SH}"'],
        env={"PATH": path, "PIPELINE_VENV": str(venv), "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=60,
    )


def requirements_digest() -> str:
    """What sha256sum prints for the requirements files and the dev lock, in the order of venv.sh's globs."""
    files = [*sorted(REPO_ROOT.glob("requirements-*.txt")), REPO_ROOT / "requirements-dev.lock"]
    files += sorted(REPO_ROOT.glob("[!.]*/requirements.txt"))
    return hashlib.sha256(b"".join(file.read_bytes() for file in files)).hexdigest()


def test_venv_sh_installs_when_requirements_changed_and_only_then_without_sha256sum(
    fake_venv: Path, path_without_sha256sum: str
):
    first = source_venv_sh(fake_venv, path_without_sha256sum)
    second = source_venv_sh(fake_venv, path_without_sha256sum)

    assert first.returncode == 0, first.stderr
    assert "installing development requirements" in first.stdout
    # The same digest as sha256sum's over the same files.
    assert (fake_venv / ".requirements-stamp").read_text() == requirements_digest() + "\n"
    assert second.returncode == 0, second.stderr
    assert "installing" not in second.stdout
    calls = (fake_venv / "calls").read_text().splitlines()
    # The hash lock, not requirements-dev.txt: every package at its locked version and sha256.
    assert calls == [
        f"-m pip install --quiet --disable-pip-version-check --require-hashes -r {REPO_ROOT}/requirements-dev.lock"
    ]
