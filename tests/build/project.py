"""Runs ./build.sh the way a user does, on the real project or on copies and fakes of it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from functools import cache
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
if os.environ.get("FAKE_DOCKER_PIP") == "no-wheel":  # what pip says with --only-binary and only an sdist
    print("ERROR: Could not find a version that satisfies the requirement fakeimg==1.0 (from versions: none)")
    print("ERROR: No matching distribution found for fakeimg==1.0")
    sys.exit(1)


def dist(name, version, *requires):
    info = f"{name}-{version}.dist-info"
    metadata = "".join(f"Requires-Dist: {r}\\n" for r in requires)
    return {
        f"{name}/__init__.py": "",
        f"{info}/METADATA": f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n{metadata}",
        f"{info}/RECORD": f"{name}/__init__.py,,\\n{info}/METADATA,,\\n",
    }


# docker run: leave in the --target folder what pip leaves for a requirement that pulls in boto3, and so
# the SDK's own dependencies. fakeimg needs six too, as python-dateutil does: six must stay, the rest go.
mounts = {volume.split(":")[1]: volume.split(":")[0] for flag, volume in zip(args, args[1:]) if flag == "--volume"}
if "/build/tree" in mounts:  # python3 -m compileall: what the image's Python writes, named for its version
    image = next(arg for arg in args if "/lambda/python:" in arg)
    tag = image.split(":")[1].split("@")[0].replace(".", "")
    for source in Path(mounts["/build/tree"]).rglob("*.py"):
        compiled = source.parent / "__pycache__" / f"{source.stem}.cpython-{tag}.pyc"
        compiled.parent.mkdir(exist_ok=True)
        compiled.write_text("bytecode")
    sys.exit(0)
site = Path(mounts["/build/site"])
files = {
    "fakeimg/__init__.py": "VERSION = '1.0'\\n",
    "fakeimg/__pycache__/__init__.cpython-312.pyc": "",
    "fakeimg/tests/test_fakeimg.py": "",
    "fakeimg/test_fakeimg.py": "",
    "fakeimg/conftest.py": "",
    "fakeimg-1.0.dist-info/METADATA": (
        "Metadata-Version: 2.1\\nName: FakeImg\\nVersion: 1.0\\n"
        "Requires-Dist: boto3 (>=1.0)\\nRequires-Dist: Six>=1.5; python_version >= '3.8'\\n"
    ),
    "fakeimg-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\\n",
    "fakeimg-1.0.dist-info/RECORD": "fakeimg/__init__.py,,\\n",
    "fakeimg-1.0.dist-info/INSTALLER": "pip\\n",
    "fakeimg-1.0.dist-info/REQUESTED": "",
    **dist("boto3", "1.0", "botocore<2,>=1.0", "jmespath<2.0.0,>=0.7.1", "s3transfer<0.2.0,>=0.1.0"),
    **dist("botocore", "1.0", "jmespath", "python-dateutil<3.0.0,>=2.1", "urllib3!=2.2.0,<3,>=1.25.4"),
    **dist("s3transfer", "0.1", "botocore<2.0a.0,>=1.0"),
    **dist("jmespath", "1.0"),
    **dist("python_dateutil", "2.9", "six>=1.5"),
    **dist("urllib3", "2.0"),
    **dist("six", "1.17"),
    "bin/fakeimg": "#!/usr/bin/python3\\n",
}
if os.environ.get("FAKE_DOCKER_PIP") == "no-requested":  # a pip that does not mark what was asked for
    files = {name: text for name, text in files.items() if not name.endswith("/REQUESTED")}
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


def run_build(
    root: Path, *args: str, env: dict[str, str] | None = None, umask: int = 0o022, python313: str | None = None
):
    """build.sh as a user runs it. Whether it finds a python3.13 to compile bytecode with is the test's choice,
    not the machine's: `python313` is the one on its PATH; without it, python3.12 and python3.13 are not found."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith("BUILD_")}
    clean["BUILD_CACHE_DIR"] = str(WHEEL_CACHE)
    environment = {**clean, **(env or {})}
    environment["PATH"] = f"{target_pythons(python313)}{os.pathsep}{environment['PATH']}"
    return subprocess.run(
        [str(root / "build.sh"), *args], capture_output=True, text=True, env=environment, umask=umask, timeout=600
    )


@cache
def target_pythons(python313: str | None) -> Path:
    """A folder whose python3.12 and python3.13 fail as a missing command does, or whose python3.13 is `python313`."""
    folder = Path(tempfile.mkdtemp(prefix="target-pythons-"))
    for version in ("3.12", "3.13"):
        command = folder / f"python{version}"
        if version == "3.13" and python313:
            command.symlink_to(python313)
        else:
            command.write_text(f"#!/bin/sh\necho 'python{version}: command not found' >&2\nexit 127\n")
            command.chmod(0o755)
    return folder


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


def add_test_files(package: Path) -> None:
    """What a package's folder may hold besides its code: tests in each layout pytest finds, and bytecode."""
    for name in ("test_handler.py", "conftest.py", "tests/test_more.py", "__pycache__/handler.cpython-313.pyc"):
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text("raise AssertionError('a test file was shipped')\n")


def lock_text(pins: dict[str, str]) -> str:
    """A requirements.lock as scripts/lock.sh writes it: each `name==version` with the sha256 it may install."""
    return "".join(f"{pin} \\\n    --hash=sha256:{sha256}\n" for pin, sha256 in pins.items())


def fake_project(destination: Path, image_processor_requirements: str = "", lock: str | None = None) -> Path:
    """The build tool around minimal packages: for the tests that are about the tool, not Pillow. Without
    `lock`, each requirement is locked to a placeholder hash (the fake docker checks none)."""
    copy_build_tool(destination)
    for package in ("image_processor", "db_writer"):
        (destination / package).mkdir()
        (destination / package / "__init__.py").write_text("")
        (destination / package / "handler.py").write_text("def lambda_handler(event, context):\n    return {}\n")
        (destination / package / "requirements.txt").write_text("")
        (destination / package / "requirements.lock").write_text("")
        add_test_files(destination / package)
    (destination / "image_processor" / "requirements.txt").write_text(image_processor_requirements)
    pins = [line.strip() for line in image_processor_requirements.splitlines() if "==" in line]
    lock = lock if lock is not None else lock_text(dict.fromkeys(pins, "0" * 64))
    (destination / "image_processor" / "requirements.lock").write_text(lock)
    (destination / "pipeline_common").mkdir()
    (destination / "pipeline_common" / "__init__.py").write_text("")
    return destination
