"""What the placeholder, dominant colour and perceptual hash cost each image: CPU against (a)'s on the
same photo (target: at most 2 %), and bytes in the record.

`python -m bench.fingerprints [--quick]` measures this part alone and prints the figures; `python -m bench`
puts them in RESULTS.md.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

from PIL import Image

from bench import cost, methods
from bench.environment import progress
from bench.inputs import ImageSpec, load
from image_processor.fingerprints import FIELDS, fingerprints

CPU_SHARE_TARGET = 0.02
# Fingerprints take about a millisecond: each timed round runs them this many times, for the clock's sake.
REPEATS = 20


@dataclass(frozen=True)
class FingerprintCost:
    image: str
    cpu_ms: float  # median CPU time of the three fingerprints of one image
    thumbnails_cpu_ms: float  # median CPU time of (a), fingerprints included

    @property
    def share(self) -> float:
        return self.cpu_ms / self.thumbnails_cpu_ms

    @property
    def verdict(self) -> str:
        return "met" if self.share <= CPU_SHARE_TARGET else "**missed**"


def measure(spec: ImageSpec, *, runs: int) -> FingerprintCost:
    """Times (a) and the fingerprints alone in alternation, on the upright image (a) makes them from: the
    largest thumbnail before its WebP encode, which its decoded thumbnail matches in size and mode."""
    data = load(spec)
    _, thumbnail = methods.ours(data)
    upright = Image.open(io.BytesIO(thumbnail.data)).convert("RGB")
    progress(f"fingerprints: {spec.name}, {runs} rounds of (a) and of {REPEATS} fingerprints")
    thumbnails_ms, fingerprints_ms = [], []
    for _ in range(runs):
        started = methods.cpu_seconds()
        methods.ours(data)
        thumbnails_ms.append((methods.cpu_seconds() - started) * 1000)
        started = time.process_time()
        for _ in range(REPEATS):
            fingerprints(upright)
        fingerprints_ms.append((time.process_time() - started) * 1000 / REPEATS)
    return FingerprintCost(spec.name, statistics.median(fingerprints_ms), statistics.median(thumbnails_ms))


def item_bytes(item: dict[str, Any]) -> int:
    """What the three attributes add to an item, as DynamoDB bills it."""
    return cost.dynamodb_item_bytes({name: item[name] for name in FIELDS if name in item})


def without(item: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in item.items() if name not in FIELDS}


def main(argv: list[str]) -> int:
    from bench import handlers, thumbnails

    parser = argparse.ArgumentParser(prog="python -m bench.fingerprints", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 1 MP photo and 3 rounds")
    args = parser.parse_args(argv)
    spec, runs = (thumbnails.QUICK_IMAGES[0], 3) if args.quick else (thumbnails.CORE_IMAGES[1], 9)
    measured = measure(spec, runs=runs)
    print(
        f"{measured.image}: fingerprints {measured.cpu_ms:.2f} ms CPU of (a)'s {measured.thumbnails_cpu_ms:.1f} ms "
        f"= {measured.share:.1%} (target <= {CPU_SHARE_TARGET:.0%}: {measured.verdict})"
    )
    figures = handlers.measure([spec])
    item, key = figures.item, figures.item_key
    crossing, crossing_before = (cost.key_length_for_bytes_over(i, key, 1024) for i in (item, without(item)))
    print(
        f"item: {cost.dynamodb_item_bytes(item)} B with a {len(key)}-character key, {item_bytes(item)} B of them "
        f"the fingerprints; passes 1 KB from a key of {crossing} characters ({crossing_before} without them)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
