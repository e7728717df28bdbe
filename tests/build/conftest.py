"""Fixtures for the build tests. Real builds (pip, network or wheel cache) run once a session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.build.project import FAKE_DOCKER, ROOT, Build, built


@pytest.fixture
def fake_docker(tmp_path: Path):
    """Puts a `docker` on PATH that logs its arguments; returns (env for build.sh, list of calls)."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(f"#!{sys.executable}\n{FAKE_DOCKER}")
    docker.chmod(0o755)
    log = tmp_path / "docker-calls.jsonl"
    log.touch()

    def environment(engine: str) -> dict[str, str]:
        path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
        return {"PATH": path, "FAKE_DOCKER_LOG": str(log), "FAKE_DOCKER_ENGINE": engine}

    def calls() -> list[list[str]]:
        return [json.loads(line) for line in log.read_text().splitlines()]

    return environment, calls


@pytest.fixture(scope="session")
def arm64_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The default target (python3.13, arm64), as Terraform expects it."""
    return built(ROOT, tmp_path_factory.mktemp("arm64") / "dist")


@pytest.fixture(scope="session")
def x86_64_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return built(ROOT, tmp_path_factory.mktemp("x86_64") / "dist", "--arch", "x86_64")


@pytest.fixture(scope="session")
def python313() -> str:
    """A Python 3.13 interpreter on this host, to import the python3.13 package as Lambda would."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [sys.executable, "python3.13", *map(str, sorted(pyenv_root.glob("versions/3.13.*/bin/python3.13")))]
    for candidate in candidates:
        try:
            version = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 13))"],
                capture_output=True,
                text=True,
                timeout=60,
            )
        except OSError:
            continue
        if version.stdout.strip() == "True":
            return candidate
    pytest.skip("no Python 3.13 interpreter on this host (tried python3.13 and pyenv's versions)")
