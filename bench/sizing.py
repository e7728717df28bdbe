"""Memory sizing: total peak RSS of a Lambda-like process on the largest inputs the function accepts.

The function's memory must hold the Python runtime, boto3 and its clients, the downloaded file
and the decode of the worst image MAX_IMAGE_PIXELS (100 MP) lets through. The worst cases are
the most compressible files: a smooth 100 MP PNG is a few MB, far under MAX_IMAGE_BYTES, yet
decodes to 400 MB (RGBA). Each probe is a fresh process (bench.probe handler).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

from bench.environment import ROOT, lambda_like_environment
from bench.inputs import ImageSpec, ensure_file

WORST_CASES = [
    ImageSpec("PNG 100 MP RGBA", "PNG", 10000, 10000, mode="RGBA", smooth_only=True),
    ImageSpec("PNG 100 MP 16-bit grey", "PNG", 10000, 10000, mode="I;16", smooth_only=True),
    ImageSpec("JPEG 100 MP progressive", "JPEG", 10000, 10000, smooth_only=True, progressive=True),
    ImageSpec("JPEG 50 MP", "JPEG", 8688, 5792),
]
QUICK_WORST_CASES = [
    ImageSpec("PNG 1 MP RGBA", "PNG", 1152, 864, mode="RGBA", smooth_only=True),
    ImageSpec("PNG 1 MP 16-bit grey", "PNG", 1152, 864, mode="I;16", smooth_only=True),
]
# The proposed imaging.py change for 16-bit input, measured on the 16-bit probes (see bench.probe).
PROPOSED_16_BIT = "proposed 16-bit scaling"


@dataclass
class SizingResult:
    spec: ImageSpec
    variant: str
    file_mb: float
    baseline_mb: float
    peak_mb: float
    cpu_s: float


def run(specs: list[ImageSpec]) -> list[SizingResult]:
    results = []
    for spec in specs:
        variants = ["current", PROPOSED_16_BIT] if spec.mode == "I;16" else ["current"]
        results.extend(_probe(spec, variant) for variant in variants)
    return results


def _probe(spec: ImageSpec, variant: str) -> SizingResult:
    path = ensure_file(spec)
    command = [sys.executable, "-m", "bench.probe", "handler", str(path)]
    if variant == PROPOSED_16_BIT:
        command.append("--proposed-16-bit")
    completed = subprocess.run(
        command, cwd=ROOT, env=lambda_like_environment(), capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"sizing probe on {spec.name} failed:\n{completed.stderr}")
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    return SizingResult(
        spec,
        variant,
        path.stat().st_size / 2**20,
        report["baseline_kb"] / 1024,
        report["peak_kb"] / 1024,
        report["cpu_s"],
    )
