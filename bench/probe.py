"""Measurements that need a fresh interpreter, run by the benchmark as subprocesses.

    python -m bench.probe memory METHOD IMAGE WARMUP               peak RSS of one method on one file
    python -m bench.probe handler IMAGE                            total peak RSS of a Lambda-like process

Each prints one JSON line. Peak RSS only ever grows, which is why every measurement needs its
own process; the warm-up file (same format, tiny) loads the codec first so that its one-off
cost is part of the baseline, not of the image.
"""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path


def _peak_kb() -> int:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries that over from the parent across exec."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status: peak memory needs Linux")


def memory(key: str, image: str, warmup: str) -> dict[str, float]:
    from bench.methods import METHODS

    method = METHODS[key]
    method(Path(warmup).read_bytes())
    data = Path(image).read_bytes()
    gc.collect()
    baseline = _peak_kb()
    method(data)
    return {"baseline_kb": baseline, "peak_kb": _peak_kb()}


def handler(image: str) -> dict[str, float]:
    """What the function's memory must hold: runtime, boto3 and clients, the download, the decode."""
    import image_processor.handler as entry
    from image_processor.imaging import make_thumbnail

    data = Path(image).read_bytes()
    baseline = _peak_kb()
    make_thumbnail(data, size=entry.SETTINGS.thumbnail_size, max_pixels=entry.SETTINGS.max_image_pixels)
    return {"baseline_kb": baseline, "peak_kb": _peak_kb()}


if __name__ == "__main__":
    probe, *arguments = sys.argv[1:]
    print(json.dumps({"memory": memory, "handler": handler}[probe](*arguments)))
