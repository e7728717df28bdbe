"""The four ways of making a 256 px WebP thumbnail that the benchmark compares.

(a) is the project's own code, called exactly as the handler calls it. (b) and (c) are what
most public examples do; (d) is libvips, the fastest thumbnailer in common use. Every method
ends with the same WebP encode (quality 80, the encoder's default effort), so only the decoding
and resampling strategies differ.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from image_processor import imaging
from image_processor.config import Settings
from image_processor.worker import Decoder, Limits

THUMBNAIL_SIZE = Settings.thumbnail_size
DEFAULT_MEMORY_MB = 1024  # terraform/variables.tf's image_processor_memory_size
WEBP_QUALITY = imaging.THUMBNAIL_QUALITY
LIBVIPS_THREADS = 1

# The environment this process started with, for Debian's libvips in a child: pyvips-binary's libvips sets
# VIPSHOME to its build prefix in the C environment, which a child inherits by default and where Debian's
# libvips then finds no HEIF module.
CHILD_ENVIRONMENT = dict(os.environ)

try:
    import pyvips
except (ImportError, OSError) as error:  # OSError: the binding is there but libvips is not
    pyvips = None
    LIBVIPS_UNAVAILABLE: str | None = f"{type(error).__name__}: {error}"
else:
    # libvips caches operation results: a repeated thumbnail_buffer of the same bytes would be free.
    pyvips.cache_set_max(0)
    # One worker thread, as libvips would be set up for a function with at most one vCPU (about 0.58
    # at the default 1,024 MB): by default its pool has a thread per core, and their scheduling
    # overhead, counted in this process's CPU time, would be charged to (d).
    pyvips.concurrency_set(LIBVIPS_THREADS)
    LIBVIPS_UNAVAILABLE = None

Method = Callable[[bytes], Any]
_DECODER = Decoder(imaging.make_thumbnails)


def ours(data: bytes) -> Any:
    """(a) one decode: header and EXIF from the lazy open, a DCT-scaled draft for JPEG; in a worker process
    within the default function's limits, as the handler runs it (cpu_seconds counts the worker's CPU)."""
    limits = Limits.for_invocation(
        memory_mb=DEFAULT_MEMORY_MB,
        remaining_seconds=60,
        max_decode_seconds=Settings.max_decode_seconds,
        upload_bytes=len(data),
    )
    info, (thumbnail,) = _DECODER.thumbnails(
        data, limits, sizes=(THUMBNAIL_SIZE,), max_pixels=Settings.max_image_pixels
    )
    return info, thumbnail


def cpu_seconds() -> float:
    """This process's CPU time and that of (a)'s worker, which decodes for it (every thread counted)."""
    return time.process_time() + _DECODER.cpu_seconds


def child_peak_kb() -> int:
    """The largest peak RSS (a)'s worker reached on an image; it includes the pages it shares with this process."""
    return _DECODER.peak_rss_kb


def naive(data: bytes) -> bytes:
    """(b) full decode, then one LANCZOS resize straight from full resolution."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        rgb = image.convert("RGB")
    scale = THUMBNAIL_SIZE / max(rgb.size)
    size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    return _webp(rgb.resize(size, Image.Resampling.LANCZOS))


def common_example(data: bytes) -> tuple[bytes, dict[str, Any]]:
    """(c) exif_transpose and convert on the full image, thumbnail, then a second decode for metadata."""
    with Image.open(io.BytesIO(data)) as image:
        upright = ImageOps.exif_transpose(image).convert("RGB")
    upright.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    thumbnail = _webp(upright)
    with Image.open(io.BytesIO(data)) as again:
        again.load()
        metadata = {"format": again.format, "size": again.size, "exif": dict(again.getexif())}
    return thumbnail, metadata


def libvips(data: bytes) -> bytes:
    """(d) libvips thumbnail_buffer: shrink-on-load, auto-rotate, streaming resample."""
    if pyvips is None:
        raise RuntimeError(f"libvips is unavailable: {LIBVIPS_UNAVAILABLE}")
    return pyvips.Image.thumbnail_buffer(data, THUMBNAIL_SIZE).webpsave_buffer(Q=WEBP_QUALITY)


def _webp(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", quality=WEBP_QUALITY)
    return buffer.getvalue()


METHODS: dict[str, Method] = {
    "a": ours,
    "b": naive,
    "c": common_example,
    "d": libvips,
}


def heic_libvips_unavailable(sample: Path) -> str | None:
    """Why libvips with a HEVC decoder cannot thumbnail HEIC here, or None when it can.

    pyvips-binary's libvips reads HEIF but bundles no HEVC decoder (HEVC's patents), so HEIC goes to Debian's
    `vipsthumbnail` (libvips-tools, with libheif and libde265), which the benchmark's set-up installs."""
    if shutil.which("vipsthumbnail") is None:
        return "no `vipsthumbnail` on PATH (Debian's libvips-tools, with libheif's HEVC decoder)"
    with tempfile.TemporaryDirectory() as folder:
        command = ["vipsthumbnail", str(sample), "-s", str(THUMBNAIL_SIZE), "-o", f"{folder}/probe.webp"]
        completed = subprocess.run(command, capture_output=True, text=True, check=False, env=CHILD_ENVIRONMENT)
    if completed.returncode != 0:
        return f"`vipsthumbnail` cannot decode HEIC: {completed.stderr.strip()[:200]}"
    return None


def available_methods() -> dict[str, Method]:
    """Every method, less libvips when it did not load."""
    return {key: method for key, method in METHODS.items() if key != "d" or pyvips is not None}
