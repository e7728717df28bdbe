"""Measurements that need a fresh interpreter, run by the benchmark as subprocesses.

    python -m bench.probe memory METHOD IMAGE WARMUP               peak RSS of one method on one file
    python -m bench.probe handler IMAGE [--proposed]               total peak RSS of a Lambda-like process

Each prints one JSON line. Peak RSS only ever grows, which is why every measurement needs its
own process; the warm-up file (same format, tiny) loads the codec first so that its one-off
cost is part of the baseline, not of the image.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _peak_kb() -> int:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries that over from the parent across exec."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status: peak memory needs Linux")


def memory(key: str, image: Path, warmup: Path) -> dict[str, float]:
    from bench.methods import METHODS

    method = METHODS[key]
    method(warmup.read_bytes())
    data = image.read_bytes()
    gc.collect()
    baseline = _peak_kb()
    method(data)
    return {"baseline_kb": baseline, "peak_kb": _peak_kb()}


def handler(image: Path, *, proposed: bool) -> dict[str, float]:
    """What the function's memory must hold: runtime, boto3 and clients, the download, the decode."""
    import image_processor.handler as entry
    from image_processor import imaging
    from image_processor.imaging import make_thumbnail

    if proposed:
        imaging._decode_small = _resizing_wide_grey_first(imaging._decode_small)

    data = image.read_bytes()
    baseline = _peak_kb()
    started = time.process_time()
    settings = entry.SETTINGS
    make_thumbnail(data, size=settings.thumbnail_size, max_pixels=settings.max_image_pixels)
    return {"baseline_kb": baseline, "peak_kb": _peak_kb(), "cpu_s": time.process_time() - started}


def _resizing_wide_grey_first(current: Callable[[Any, int], Any]) -> Callable[[Any, int], Any]:
    """The change proposed for imaging._decode_small, measured here before anyone edits imaging.py.

    Today 32-bit grey ("F", "I") and 16-bit grey that is not native-endian ("I;16B", which
    big-endian TIFFs open as) are mapped to 8 bits at full size: a copy in "I" for I;16B, then
    point() makes another 32-bit copy, then "L" a third (1.1 GB for a 100 MP I;16B TIFF).
    Pillow resamples "I" and "F" itself, so the proposal maps the 256 px thumbnail instead, with
    the same scale and offset taken from the full image's range: one 32-bit copy at most.
    """
    from image_processor import imaging

    def decode_small(image: Any, size: int) -> Any:
        if image.mode != "F" and (not image.mode.startswith("I") or image.mode == "I;16"):
            return current(image, size)
        wide = image if image.mode in ("F", "I") else image.convert("I")
        low, high = wide.getextrema()
        if wide.mode == "I":
            scale, offset = (1.0 if high <= 255 else 255 / 65535), 0.0
        elif high > low:
            scale, offset = 255 / (high - low), -low * 255 / (high - low)
        else:
            scale, offset = 0.0, min(max(low, 0.0), 1.0) * 255
        wide.thumbnail((size, size), reducing_gap=imaging.REDUCING_GAP)
        return wide.point(lambda value: value * scale + offset).convert("L").convert("RGB")

    return decode_small


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[0] == "memory":
        report = memory(argv[1], Path(argv[2]), Path(argv[3]))
    elif len(argv) in (2, 3) and argv[0] == "handler" and argv[2:] in ([], ["--proposed"]):
        report = handler(Path(argv[1]), proposed=len(argv) == 3)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
