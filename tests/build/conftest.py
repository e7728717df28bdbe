"""Fixtures for the build tests. Real builds (pip, network or wheel cache) run once a session."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.build.project import FAKE_DOCKER, ROOT, Build, built
from tests.terraform.offline import require

# platform.machine() on Linux, macOS and Windows -> the Lambda architecture that runs the same binaries.
HOST_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


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
def arm64_build(tmp_path_factory: pytest.TempPathFactory, any_python313: str | None) -> Build:
    """The default target (python3.13, arm64), as Terraform expects it; with bytecode where a Python 3.13 is here."""
    return built(ROOT, tmp_path_factory.mktemp("arm64") / "dist", python313=any_python313)


@pytest.fixture(scope="session")
def x86_64_build(tmp_path_factory: pytest.TempPathFactory, any_python313: str | None) -> Build:
    return built(ROOT, tmp_path_factory.mktemp("x86_64") / "dist", "--arch", "x86_64", python313=any_python313)


@pytest.fixture
def host_build(request: pytest.FixtureRequest) -> Build:
    """The package for this machine's CPU: the only one whose Pillow a Python here can load."""
    arch = HOST_ARCHITECTURES.get(platform.machine().lower())
    if platform.system() != "Linux" or arch is None:
        pytest.skip(
            f"the packages hold Linux binaries for arm64 or x86_64; this is {platform.system()} on {platform.machine()}"
        )
    return request.getfixturevalue(f"{arch}_build")


def is_python313(candidate: str) -> bool:
    try:
        version = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 13))"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except OSError:
        return False
    return version.stdout.strip() == "True"


@pytest.fixture(scope="session")
def any_python313() -> str | None:
    """A Python 3.13 interpreter on this host, or None: python3.13 on PATH, else one of pyenv's versions/3.13.*."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [sys.executable, "python3.13", *map(str, sorted(pyenv_root.glob("versions/3.13.*/bin/python3.13")))]
    return next((shutil.which(candidate) for candidate in candidates if is_python313(candidate)), None)


@pytest.fixture(scope="session")
def python313(any_python313: str | None) -> str:
    """A Python 3.13 interpreter, to import the python3.13 package as Lambda would and to compile its bytecode.

    The machine image's pyenv has one (versions/3.13.*), so CI finds it on a fresh machine; on a clone
    without one the tests that need it skip, and with CI=true they fail rather than pass unseen.
    """
    require(
        any_python313 is not None, "a Python 3.13 interpreter (tried python3.13 on PATH and pyenv's versions/3.13.*)"
    )
    assert any_python313 is not None
    return any_python313
