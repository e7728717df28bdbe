"""Measurements that need a fresh interpreter, run by the benchmark as subprocesses.

    python -m bench.probe memory METHOD IMAGE WARMUP               peak RSS of one method on one file
    python -m bench.probe handler IMAGE                            total peak RSS of a Lambda-like process
    python -m bench.probe vipsthumbnail IMAGE WARMUP RUNS          CPU time and peak RSS of libvips' CLI

Each prints one JSON line. Peak RSS only ever grows, which is why every measurement needs its
own process; the warm-up file (same format, tiny) loads the codec first so that its one-off
cost is part of the baseline, not of the image.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def peak_kb(pid: int | str = "self") -> int:
    """A process's peak RSS (VmHWM). Not ru_maxrss: Linux carries that over from the parent across exec."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status: peak memory needs Linux")


def memory(key: str, image: str, warmup: str) -> dict[str, float]:
    """Peak RSS of one method on one file, above this process's. (a) decodes in a worker forked from here,
    whose peak includes the pages it shares with this process: its extra is its peak less this baseline."""
    from bench.methods import METHODS, child_peak_kb

    method = METHODS[key]
    method(Path(warmup).read_bytes())
    data = Path(image).read_bytes()
    gc.collect()
    baseline = peak_kb()
    method(data)
    return {"baseline_kb": baseline, "peak_kb": max(peak_kb(), child_peak_kb())}


def handler(image: str) -> dict[str, float]:
    """What the function's memory must hold: runtime, boto3 and clients, Pillow, the download, and the decode
    in a worker forked from this process; Lambda counts every page once, shared or not, so the worker's peak
    (which includes what it shares with this process) is the figure."""
    import image_processor.handler as entry
    from image_processor.worker import Limits

    data = Path(image).read_bytes()
    limits = Limits.for_invocation(memory_mb=10240, remaining_seconds=900, max_decode_seconds=600, upload_bytes=0)
    settings = entry.SETTINGS
    baseline = peak_kb()
    entry.decoder.thumbnails(data, limits, sizes=settings.thumbnail_sizes, max_pixels=settings.max_image_pixels)
    return {"baseline_kb": baseline, "peak_kb": max(peak_kb(), entry.decoder.peak_rss_kb)}


def vipsthumbnail(image: str, warmup: str, runs: str, size: str, quality: str, threads: str) -> dict[str, Any]:
    """`vipsthumbnail -s SIZE` to WebP at QUALITY on THREADS worker threads, one child process per run: each
    run's CPU time and the peak RSS, for the image and for the warm-up file, whose figures the caller
    subtracts (process start, libvips' start-up and loading its HEIF module are no thumbnailing). This
    interpreter imports nothing else, so what Linux carries over into a child's peak RSS from its parent
    (see peak_kb) stays far below libvips' own."""
    environment = os.environ | {"VIPS_CONCURRENCY": threads}
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryFile() as errors:
        for name, path in (("warmup", warmup), ("image", image)):
            cpu_ms, peak_kb = [], 0
            for _ in range(int(runs)):
                command = ["vipsthumbnail", path, "-s", size, "-o", f"{folder}/thumbnail.webp[Q={quality}]"]
                child = subprocess.Popen(command, env=environment, stderr=errors)
                _, status, usage = os.wait4(child.pid, 0)  # this child's own CPU time and peak RSS
                child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
                if child.returncode != 0:
                    errors.seek(0)
                    raise RuntimeError(f"`{' '.join(command)}` failed: {errors.read().decode(errors='replace')}")
                cpu_ms.append((usage.ru_utime + usage.ru_stime) * 1000)
                peak_kb = max(peak_kb, usage.ru_maxrss)
            figures[name] = {"cpu_ms": cpu_ms, "peak_kb": peak_kb}
    return figures


if __name__ == "__main__":
    probe, *arguments = sys.argv[1:]
    print(json.dumps({"memory": memory, "handler": handler, "vipsthumbnail": vipsthumbnail}[probe](*arguments)))
