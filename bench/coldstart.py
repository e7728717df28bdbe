"""Cold start: each handler module's import time in a fresh interpreter, against bare imports.

Every sample is a new interpreter with a Lambda-like environment (bench.environment), timing
only the import statement: interpreter start-up is the same for every variant and is left out.
Variants run interleaved, round after round, so machine noise spreads evenly over them.

The handlers are imported from copies of the functions' packages, as the zips ship them: with their
bytecode compiled the way ./build.sh compiles it (for this interpreter's version), and, for comparison,
from source alone, which is what every cold start compiles when a zip was built without bytecode
(docs/build.md). Never from the checkout, whose __pycache__ depends on what ran there before.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.environment import ROOT, json_result, lambda_like_environment

_CLIENT_CONFIG = (
    "from botocore.config import Config; "
    "config = Config(retries={'mode': 'standard', 'max_attempts': 3}, connect_timeout=5, read_timeout=20); "
)
# What each fresh interpreter times: the two handlers and, for each, the bare imports it builds on
# and the same imports plus the same clients the handler creates.
VARIANTS = {
    "boto3": "import boto3",
    "boto3 + dynamodb client": f"import boto3; {_CLIENT_CONFIG}boto3.client('dynamodb', config=config)",
    "db_writer.handler": "import db_writer.handler",
    "boto3 + PIL.Image": "import boto3, PIL.Image",
    "boto3 + PIL.Image + s3, sqs clients": (
        f"import boto3, PIL.Image; {_CLIENT_CONFIG}"
        "boto3.client('s3', config=config); boto3.client('sqs', config=config)"
    ),
    "image_processor.handler": "import image_processor.handler",
    "image_processor.handler, from source": "import image_processor.handler",
    "db_writer.handler, from source": "import db_writer.handler",
}
FROM_SOURCE = ", from source"
# Our packages in the zips (scripts/build.py: FUNCTIONS and SHARED_PACKAGES).
ZIPPED_PACKAGES = ("image_processor", "db_writer", "pipeline_common")
BARE = {"db_writer": "boto3", "image_processor": "boto3 + PIL.Image"}
WITH_CLIENTS = {"db_writer": "boto3 + dynamodb client", "image_processor": "boto3 + PIL.Image + s3, sqs clients"}
_TIMER = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
def cpu_seconds():
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime
wall, cpu = time.perf_counter(), cpu_seconds()
{statement}
print(json.dumps([(time.perf_counter() - wall) * 1000, (cpu_seconds() - cpu) * 1000]))
"""


@dataclass
class ColdStart:
    cpu_ms: dict[str, list[float]] = field(default_factory=dict)
    wall_ms: dict[str, list[float]] = field(default_factory=dict)

    def median(self, variant: str, *, wall: bool = False) -> float:
        return statistics.median((self.wall_ms if wall else self.cpu_ms)[variant])


def measure(*, repeats: int) -> ColdStart:
    result = ColdStart({name: [] for name in VARIANTS}, {name: [] for name in VARIANTS})
    names = list(VARIANTS)
    # Never writes bytecode, so the source copy stays source from the first round to the last.
    environment = lambda_like_environment({"PYTHONDONTWRITEBYTECODE": "1"})
    with tempfile.TemporaryDirectory(prefix="coldstart-") as scratch:
        source, compiled = _package_copy(Path(scratch) / "source"), _package_copy(Path(scratch) / "bytecode")
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(compiled)],
            check=True,
        )
        for round_number in range(repeats):
            for name in names if round_number % 2 == 0 else reversed(names):
                root = source if name.endswith(FROM_SOURCE) else compiled
                code = _TIMER.format(root=str(root), statement=VARIANTS[name])
                wall_ms, cpu_ms = json_result([sys.executable, "-c", code], environment)
                result.wall_ms[name].append(wall_ms)
                result.cpu_ms[name].append(cpu_ms)
    return result


def _package_copy(folder: Path) -> Path:
    """The packages a zip ships our code in, without the checkout's __pycache__."""
    for package in ZIPPED_PACKAGES:
        shutil.copytree(ROOT / package, folder / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return folder


def zip_sizes(*, build: bool) -> tuple[dict[str, int], str]:
    """Each zip's size and where it came from: built from this tree by ./build.sh --no-docker, or read from dist/."""
    with tempfile.TemporaryDirectory() as scratch:
        dist = Path(scratch) if build else ROOT / "dist"
        if build:
            command = [str(ROOT / "build.sh"), "--no-docker", "--out", scratch]
            completed = subprocess.run(
                command, cwd=ROOT, capture_output=True, text=True, check=False, env=_with_runtime_python()
            )
            if completed.returncode != 0:
                tail = (completed.stdout + completed.stderr).strip().splitlines()[-3:]
                return {}, f"./build.sh --no-docker failed: {' / '.join(tail)}"
        if not (dist / "build-info.json").exists():
            return {}, f"no {dist / 'build-info.json'}: run ./build.sh first"
        info = json.loads((dist / "build-info.json").read_text())
    sizes = {name: function["size"] for name, function in info["functions"].items()}
    where = "built by this run with ./build.sh --no-docker" if build else f"from {dist / 'build-info.json'}"
    bytecode = "with bytecode" if info.get("bytecode") else "without bytecode"
    return sizes, f"{info['runtime']} {info['architecture']}, {bytecode}, {where}"


# What Lambda runs: the runtime's Python, the zip unzipped into the task folder, first on the path, then the
# runtime's boto3 (compiled, as the runtime ships it), each variant in a fresh interpreter.
RUNTIME_PYTHON = "3.13"
NO_RUNTIME_PYTHON = (
    f"no Python {RUNTIME_PYTHON} here (python{RUNTIME_PYTHON} on PATH or pyenv's versions/{RUNTIME_PYTHON}.*)"
)
DEPLOYED_VARIANTS = {
    "image_processor": {
        "boto3 + PIL.Image + s3, sqs clients": VARIANTS["boto3 + PIL.Image + s3, sqs clients"],
        "image_processor.handler": VARIANTS["image_processor.handler"],
    },
    "db_writer": {
        "boto3 + dynamodb client": VARIANTS["boto3 + dynamodb client"],
        "db_writer.handler": VARIANTS["db_writer.handler"],
    },
}
# _TIMER's measurement, with the task folder first on the path and the runtime's SDK after it.
_DEPLOYED_TIMER = _TIMER.replace("sys.path.insert(0, {root!r})", "sys.path[:0] = [{task!r}, {sdk!r}]")


@dataclass
class DeployedColdStart:
    """Each variant's CPU ms as deployed: from a zip with its bytecode, and from the same zip without it."""

    python: str
    with_bytecode: ColdStart
    from_source: ColdStart


def runtime_python() -> str | None:
    """A Python of the runtime's version here: this one, python3.13 on PATH, or one of pyenv's versions/3.13.*."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [sys.executable, f"python{RUNTIME_PYTHON}"]
    candidates += map(str, sorted(pyenv_root.glob(f"versions/{RUNTIME_PYTHON}.*/bin/python{RUNTIME_PYTHON}")))
    for candidate in candidates:
        found = shutil.which(candidate)
        check = [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
        if found and subprocess.run(check, capture_output=True, text=True).stdout.strip() == RUNTIME_PYTHON:
            return found
    return None


def measure_deployed(*, repeats: int) -> DeployedColdStart | str:
    """Cold starts of the zips ./build.sh makes from this tree, or why they could not be measured."""
    python = runtime_python()
    if python is None:
        return (
            f"no Python {RUNTIME_PYTHON} here (python{RUNTIME_PYTHON} on PATH or pyenv's versions/{RUNTIME_PYTHON}.*)"
        )
    with tempfile.TemporaryDirectory(prefix="deployed-coldstart-") as scratch:
        folder = Path(scratch)
        unzipped = unzipped_build(ROOT, folder / "bytecode")
        if isinstance(unzipped, str):
            return unzipped
        tasks = {"with_bytecode": unzipped, "from_source": without_bytecode(unzipped, folder / "source")}
        cpu_ms = time_deployed(python, tasks, compiled_sdk(python, folder / "sdk"), repeats=repeats)
    result = DeployedColdStart(python, ColdStart(), ColdStart())
    for (kind, name), samples in cpu_ms.items():
        getattr(result, kind).cpu_ms[name] = samples
    return result


def unzipped_build(root: Path, folder: Path) -> dict[str, Path] | str:
    """Each function's zip, as `root`'s ./build.sh makes it for this machine, unzipped into folder/<function>;
    or why the build failed."""
    command = [str(root / "build.sh"), "--no-docker", "--python", RUNTIME_PYTHON, "--arch", _host_architecture()]
    command += ["--out", str(folder / "dist")]
    built = subprocess.run(command, cwd=root, capture_output=True, text=True, env=_with_runtime_python())
    if built.returncode != 0:
        return f"./build.sh in {root} failed: {(built.stdout + built.stderr).strip().splitlines()[-1]}"
    tasks = {}
    for function in DEPLOYED_VARIANTS:
        with zipfile.ZipFile(folder / "dist" / f"{function}.zip") as archive:
            archive.extractall(folder / function)
        tasks[function] = folder / function
    return tasks


def without_bytecode(tasks: dict[str, Path], folder: Path) -> dict[str, Path]:
    """Copies of the unzipped packages with their bytecode removed: a zip built without it."""
    ignore = shutil.ignore_patterns("__pycache__")
    return {function: Path(shutil.copytree(task, folder / function, ignore=ignore)) for function, task in tasks.items()}


def time_deployed(
    python: str, builds: dict[str, dict[str, Path]], sdk: Path, *, repeats: int
) -> dict[tuple[str, str], list[float]]:
    """CPU ms of each DEPLOYED_VARIANTS import from each of `builds` (label -> function -> unzipped package),
    by (label, variant name): fresh interpreters, rounds alternating in order so noise spreads evenly."""
    environment = lambda_like_environment({"PYTHONDONTWRITEBYTECODE": "1"})
    samples = [
        (label, task, name, statement)
        for label, tasks in builds.items()
        for function, task in tasks.items()
        for name, statement in DEPLOYED_VARIANTS[function].items()
    ]
    cpu_ms: dict[tuple[str, str], list[float]] = {(label, name): [] for label, _, name, _ in samples}
    for round_number in range(repeats):
        for label, task, name, statement in samples if round_number % 2 == 0 else reversed(samples):
            code = _DEPLOYED_TIMER.format(task=str(task), sdk=str(sdk), statement=statement)
            cpu_ms[(label, name)].append(json_result([python, "-I", "-B", "-c", code], environment)[1])
    return cpu_ms


def _with_runtime_python() -> dict[str, str]:
    """This environment with a Python of the runtime's version first on PATH, so the build compiles the zips'
    bytecode as a Docker build does (docs/build.md)."""
    python = runtime_python()
    return {
        **os.environ,
        "PATH": f"{Path(python).parent}{os.pathsep}{os.environ['PATH']}" if python else os.environ["PATH"],
    }


def _host_architecture() -> str:
    """The Lambda architecture whose binaries run here: the only zip whose Pillow this machine can load."""
    return "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"


def sdk_parts() -> list[Path]:
    """The top-level files and folders of boto3 and of what it needs, in this virtualenv."""
    parts, todo, seen = [], ["boto3"], set()
    while todo:
        try:
            distribution = importlib.metadata.distribution(todo.pop())
        except importlib.metadata.PackageNotFoundError:
            continue  # a requirement whose environment marker excludes this Python
        if distribution.name in seen:
            continue
        seen.add(distribution.name)
        todo += [re.match(r"[A-Za-z0-9._-]+", req)[0] for req in distribution.requires or [] if "extra ==" not in req]
        tops = {file.parts[0] for file in distribution.files or []} - {"..", "bin", "__pycache__"}
        parts += [Path(distribution.locate_file(top)) for top in sorted(tops)]
    return parts


def compiled_sdk(python: str, destination: Path) -> Path:
    """boto3 and what it needs, copied from this virtualenv and compiled for `python`, as the runtime ships them."""
    destination.mkdir(parents=True, exist_ok=True)
    for part in sdk_parts():
        if part.is_dir():
            shutil.copytree(part, destination / part.name, ignore=shutil.ignore_patterns("__pycache__"))
        elif part.suffix == ".py":
            shutil.copyfile(part, destination / part.name)
    subprocess.run([python, "-m", "compileall", "-q", str(destination)], check=True, capture_output=True)
    return destination
