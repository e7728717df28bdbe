"""Cold start: each handler module's import time in a fresh interpreter, against bare imports.

Every sample is a new interpreter with a Lambda-like environment (bench.environment), timing
only the import statement: interpreter start-up is the same for every variant and is left out.
Variants run interleaved, round after round, so machine noise spreads evenly over them.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
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
}
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
    environment = lambda_like_environment()
    for round_number in range(repeats):
        for name in names if round_number % 2 == 0 else reversed(names):
            code = _TIMER.format(root=str(ROOT), statement=VARIANTS[name])
            wall_ms, cpu_ms = json_result([sys.executable, "-c", code], environment)
            result.wall_ms[name].append(wall_ms)
            result.cpu_ms[name].append(cpu_ms)
    return result


def zip_sizes(*, build: bool) -> tuple[dict[str, int], str]:
    """Each zip's size and where it came from: built from this tree by ./build.sh --no-docker, or read from dist/."""
    with tempfile.TemporaryDirectory() as scratch:
        dist = Path(scratch) if build else ROOT / "dist"
        if build:
            command = [str(ROOT / "build.sh"), "--no-docker", "--out", scratch]
            completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
            if completed.returncode != 0:
                tail = (completed.stdout + completed.stderr).strip().splitlines()[-3:]
                return {}, f"./build.sh --no-docker failed: {' / '.join(tail)}"
        if not (dist / "build-info.json").exists():
            return {}, f"no {dist / 'build-info.json'}: run ./build.sh first"
        info = json.loads((dist / "build-info.json").read_text())
    sizes = {name: function["size"] for name, function in info["functions"].items()}
    where = "built by this run with ./build.sh --no-docker" if build else f"from {dist / 'build-info.json'}"
    return sizes, f"{info['runtime']} {info['architecture']}, {where}"
