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


def peak_kb(pid: int | str = "self") -> int:
    """A process's peak RSS (VmHWM). Not ru_maxrss: Linux carries that over from the parent across exec."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status: peak memory needs Linux")


def memory(key: str, image: str, warmup: str) -> dict[str, float]:
    """Peak RSS of this process and, for (a), of its worker, which decodes in a process of its own."""
    from bench.methods import METHODS, worker_peak_kb

    method = METHODS[key]
    method(Path(warmup).read_bytes())
    data = Path(image).read_bytes()
    gc.collect()
    baseline = peak_kb() + worker_peak_kb()
    method(data)
    return {"baseline_kb": baseline, "peak_kb": peak_kb() + worker_peak_kb()}


def handler(image: str) -> dict[str, float]:
    """What the function's memory must hold: runtime, boto3 and clients, the download, and the worker's
    decode; the two processes' peaks added, as Lambda counts every process of the environment."""
    import image_processor.handler as entry
    from image_processor.worker import Limits

    data = Path(image).read_bytes()
    limits = Limits.for_invocation(memory_mb=10240, remaining_seconds=900, max_decode_seconds=600, upload_bytes=0)
    settings = entry.SETTINGS
    [worker] = entry.decoders.worker_pids()
    baseline = peak_kb() + peak_kb(worker)
    entry.decoders.thumbnails(data, limits, sizes=settings.thumbnail_sizes, max_pixels=settings.max_image_pixels)
    return {"baseline_kb": baseline, "peak_kb": peak_kb() + peak_kb(worker)}


if __name__ == "__main__":
    probe, *arguments = sys.argv[1:]
    print(json.dumps({"memory": memory, "handler": handler}[probe](*arguments)))
