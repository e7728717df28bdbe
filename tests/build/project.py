"""Runs ./build.sh the way a user does, on the real project or on copies and fakes of it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_FILES = ("build.sh", "scripts/build.py", "scripts/build_zip.py")
PACKAGES = ("image_processor", "db_writer", "pipeline_common")
# Every build in the suite shares the project's wheel cache, including builds of copies.
WHEEL_CACHE = ROOT / ".cache" / "pip"

FAKE_DOCKER = """
import json, os, sys
from pathlib import Path

args = sys.argv[1:]
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[0] == "info":
    if os.environ["FAKE_DOCKER_ENGINE"] == "down":
        sys.exit("Cannot connect to the Docker daemon at unix:///var/run/docker.sock.")
    print("28.2.2")
    sys.exit(0)
# docker run: leave in the --target folder what pip leaves for a requirement that pulls in boto3.
mounts = {volume.split(":")[1]: volume.split(":")[0] for flag, volume in zip(args, args[1:]) if flag == "--volume"}
site = Path(mounts["/build/site"])
files = {
    "fakeimg/__init__.py": "VERSION = '1.0'\\n",
    "fakeimg/__pycache__/__init__.cpython-312.pyc": "",
    "fakeimg/tests/test_fakeimg.py": "",
    "fakeimg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\\nName: FakeImg\\nVersion: 1.0\\nRequires-Dist: boto3\\n",
    "fakeimg-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\\n",
    "fakeimg-1.0.dist-info/RECORD": "fakeimg/__init__.py,,\\n",
    "fakeimg-1.0.dist-info/INSTALLER": "pip\\n",
    "fakeimg-1.0.dist-info/REQUESTED": "",
    "boto3/__init__.py": "",
    "boto3-1.0.dist-info/METADATA": "Metadata-Version: 2.1\\nName: boto3\\nVersion: 1.0\\n",
    "boto3-1.0.dist-info/RECORD": "boto3/__init__.py,,\\nboto3-1.0.dist-info/METADATA,,\\n",
    "bin/fakeimg": "#!/usr/bin/python3\\n",
}
for name, text in files.items():
    path = site / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
"""


@dataclass(frozen=True)
class Build:
    out: Path
    stdout: str

    def info(self) -> dict:
        return json.loads((self.out / "build-info.json").read_text())

    def archive(self, function: str) -> zipfile.ZipFile:
        return zipfile.ZipFile(self.out / f"{function}.zip")


def run_build(root: Path, *args: str, env: dict[str, str] | None = None, umask: int = 0o022):
    clean = {name: value for name, value in os.environ.items() if not name.startswith("BUILD_")}
    clean["BUILD_CACHE_DIR"] = str(WHEEL_CACHE)
    return subprocess.run(
        [str(root / "build.sh"), *args],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        umask=umask,
        timeout=600,
    )


def built(root: Path, out: Path, *args: str, **kwargs) -> Build:
    result = run_build(root, "--no-docker", "--out", str(out), *args, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return Build(out, result.stdout)


def copy_build_tool(destination: Path) -> Path:
    for name in BUILD_FILES:
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, destination / name)
    return destination


def copy_project(destination: Path) -> Path:
    """A second checkout of the build tool and the real function code, somewhere else."""
    copy_build_tool(destination)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, destination / package, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def fake_project(destination: Path, image_processor_requirements: str = "") -> Path:
    """The build tool around minimal packages: for the tests that are about the tool, not Pillow."""
    copy_build_tool(destination)
    for package in ("image_processor", "db_writer"):
        (destination / package).mkdir()
        (destination / package / "__init__.py").write_text("")
        (destination / package / "handler.py").write_text("def lambda_handler(event, context):\n    return {}\n")
        (destination / package / "requirements.txt").write_text("")
    (destination / "image_processor" / "requirements.txt").write_text(image_processor_requirements)
    (destination / "pipeline_common").mkdir()
    (destination / "pipeline_common" / "__init__.py").write_text("")
    return destination
