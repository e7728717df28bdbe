"""Thumbnail core: time, peak memory and quality of methods (a)-(d) on generated photos.

Timing runs every method on the same bytes in one process, alternating the order each round
(a b c d, then d c b a, ...) so drift on a shared machine hits every method alike, and reports
medians. Memory is measured in a fresh interpreter per method and image (bench.probe), because
peak RSS never goes down within a process.
"""

from __future__ import annotations

import io
import math
import statistics
import sys
import time
from dataclasses import dataclass, field

from PIL import Image, ImageChops, ImageStat

from bench import methods
from bench.environment import json_result, progress
from bench.inputs import ImageSpec, ensure_file, load, warmup_spec
from image_processor import imaging

CORE_IMAGES = [
    ImageSpec("JPEG 1 MP", "JPEG", 1152, 864),
    ImageSpec("JPEG 12 MP", "JPEG", 4000, 3000),
    ImageSpec("JPEG 24 MP", "JPEG", 6000, 4000),
    ImageSpec("JPEG 50 MP", "JPEG", 8688, 5792),
    ImageSpec("PNG 12 MP", "PNG", 4000, 3000),
    ImageSpec("WebP 12 MP", "WEBP", 4000, 3000),
    ImageSpec("JPEG 24 MP, EXIF orientation 6", "JPEG", 6000, 4000, orientation=6),
]
# The same kinds at about 1 MP: enough to exercise every code path in seconds.
QUICK_IMAGES = [
    ImageSpec("JPEG 1 MP", "JPEG", 1152, 864),
    ImageSpec("PNG 1 MP", "PNG", 1152, 864),
    ImageSpec("WebP 1 MP", "WEBP", 1152, 864),
    ImageSpec("JPEG 1 MP, EXIF orientation 6", "JPEG", 1152, 864, orientation=6),
]

# HEIC against the same photo as JPEG, with (a) alone: the other methods answer a question about JPEG.
# 8064x6048 is an iPhone's 48 MP photo.
HEIC_PAIRS = [
    (ImageSpec("HEIC 12 MP", "HEIC", 4032, 3024), ImageSpec("JPEG 12 MP (same photo)", "JPEG", 4032, 3024)),
    (ImageSpec("HEIC 48 MP", "HEIC", 8064, 6048), ImageSpec("JPEG 48 MP (same photo)", "JPEG", 8064, 6048)),
]
QUICK_HEIC_PAIRS = [
    (ImageSpec("HEIC 1 MP", "HEIC", 1152, 864), ImageSpec("JPEG 1 MP (same photo)", "JPEG", 1152, 864)),
]
# HEIC as an iPhone saves it (a grid of 512-pixel tiles, 8-bit), with and without the 320-pixel thumbnail
# iPhones embed, against libvips with a HEVC decoder.
HEIC_LIBVIPS_IMAGES = [
    ImageSpec("HEIC 12 MP, embedded thumbnail", "HEIC", 4032, 3024, thumbnail=320),
    ImageSpec("HEIC 12 MP, no thumbnail", "HEIC", 4032, 3024),
    ImageSpec("HEIC 48 MP, embedded thumbnail", "HEIC", 8064, 6048, thumbnail=320),
    ImageSpec("HEIC 48 MP, no thumbnail", "HEIC", 8064, 6048),
]
QUICK_HEIC_LIBVIPS_IMAGES = [
    ImageSpec("HEIC 1 MP, embedded thumbnail", "HEIC", 1152, 864, thumbnail=320),
    ImageSpec("HEIC 1 MP, no thumbnail", "HEIC", 1152, 864),
]


@dataclass
class MethodResult:
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    peak_extra_mb: float | None = None
    psnr_db: float | None = None

    @property
    def median_ms(self) -> float:
        return statistics.median(self.wall_ms)

    @property
    def median_cpu_ms(self) -> float:
        return statistics.median(self.cpu_ms)


@dataclass
class HeicLibvipsResult:
    """(a) and libvips' `vipsthumbnail` on one HEIC; libvips' CPU times less its start-up (bench.probe)."""

    spec: ImageSpec
    file_bytes: int
    ours: MethodResult
    libvips: MethodResult
    source: str  # what (a) made the thumbnail from: ImageInfo.thumbnail_source

    @property
    def ratio(self) -> float:
        return self.ours.median_cpu_ms / self.libvips.median_cpu_ms


@dataclass
class ImageResult:
    spec: ImageSpec
    file_bytes: int
    methods: dict[str, MethodResult]

    def ratio(self, numerator: str, denominator: str, *, wall: bool = False) -> float | None:
        """Median CPU time (or wall time) of one method over another's."""
        top, bottom = self.methods.get(numerator), self.methods.get(denominator)
        if top is None or bottom is None:
            return None
        return top.median_ms / bottom.median_ms if wall else top.median_cpu_ms / bottom.median_cpu_ms

    def memory_ratio(self, numerator: str, denominator: str) -> float | None:
        top = self.methods.get(numerator)
        bottom = self.methods.get(denominator)
        if top is None or bottom is None or top.peak_extra_mb is None or not bottom.peak_extra_mb:
            return None
        return top.peak_extra_mb / bottom.peak_extra_mb


def run(images: list[ImageSpec], *, runs: int) -> list[ImageResult]:
    results = []
    for spec in images:
        data = load(spec)
        chosen = methods.available_methods()
        progress(f"thumbnails: {spec.name} ({len(data) / 1e6:.1f} MB), {runs} rounds of {', '.join(chosen)}")
        result = ImageResult(spec, len(data), time_methods(data, chosen, runs=runs))
        for key, method_result in result.methods.items():
            method_result.peak_extra_mb = peak_extra_mb(key, spec)
        if spec.format == "JPEG" and spec.orientation == 1:
            for key, psnr in quality(data).items():
                if key in result.methods:
                    result.methods[key].psnr_db = psnr
        results.append(result)
    return results


def heic_against_jpeg(pairs: list[tuple[ImageSpec, ImageSpec]], *, runs: int) -> list[tuple[ImageResult, ImageResult]]:
    """(a) on each HEIC and on the same photo as JPEG, timed in alternation, each file's peak in its own process."""
    results = []
    for heic, jpeg in pairs:
        progress(f"HEIC against JPEG: {heic.name}, {runs} rounds of (a) on each")
        data = {spec: load(spec) for spec in (heic, jpeg)}
        # time_methods alternates its callables on one input; here each callable brings its own file.
        files = {spec.name: (lambda _, file=data[spec]: methods.ours(file)) for spec in (heic, jpeg)}
        timed = time_methods(b"", files, runs=runs)
        for spec in (heic, jpeg):
            timed[spec.name].peak_extra_mb = peak_extra_mb("a", spec)
        results.append(tuple(ImageResult(spec, len(data[spec]), {"a": timed[spec.name]}) for spec in (heic, jpeg)))
    return results


def heic_against_libvips(specs: list[ImageSpec], *, runs: int) -> list[HeicLibvipsResult] | str:
    """(a) in this process and `vipsthumbnail` in a child per run, on each HEIC; or why libvips cannot run."""
    unavailable = methods.heic_libvips_unavailable(ensure_file(warmup_spec(specs[0])))
    if unavailable:
        progress(f"HEIC against libvips skipped: {unavailable}")
        return unavailable
    results = []
    for spec in specs:
        progress(f"HEIC against libvips: {spec.name}, {runs} runs of (a) and of vipsthumbnail")
        data = load(spec)
        ours = time_methods(data, {"a": methods.ours}, runs=runs)["a"]
        ours.peak_extra_mb = peak_extra_mb("a", spec)
        files = [str(ensure_file(spec)), str(ensure_file(warmup_spec(spec)))]
        settings = [str(runs), str(methods.THUMBNAIL_SIZE), str(methods.WEBP_QUALITY), str(methods.LIBVIPS_THREADS)]
        # Its own interpreter, importing nothing heavy: a child's peak RSS starts from its parent's.
        command = [sys.executable, "-m", "bench.probe", "vipsthumbnail", *files, *settings]
        report = json_result(command, env=methods.CHILD_ENVIRONMENT)
        start_up_ms = statistics.median(report["warmup"]["cpu_ms"])
        libvips = MethodResult(cpu_ms=[max(0.0, ms - start_up_ms) for ms in report["image"]["cpu_ms"]])
        libvips.peak_extra_mb = max(0, report["image"]["peak_kb"] - report["warmup"]["peak_kb"]) / 1024
        source = methods.ours(data)[0].thumbnail_source
        results.append(HeicLibvipsResult(spec, len(data), ours, libvips, source))
    return results


def time_methods(data: bytes, chosen: dict[str, methods.Method], *, runs: int) -> dict[str, MethodResult]:
    results = {key: MethodResult() for key in chosen}
    for method in chosen.values():
        method(data)  # untimed: first-call costs (codec set-up, page faults) are not thumbnailing
    keys = list(chosen)
    for round_number in range(runs):
        for key in keys if round_number % 2 == 0 else reversed(keys):
            wall, cpu = time.perf_counter(), methods.cpu_seconds()
            chosen[key](data)
            results[key].wall_ms.append((time.perf_counter() - wall) * 1000)
            results[key].cpu_ms.append((methods.cpu_seconds() - cpu) * 1000)
    return results


def peak_extra_mb(key: str, spec: ImageSpec) -> float:
    """Peak RSS above the interpreter's own, in a fresh process that ran only this method on this image."""
    files = [str(ensure_file(spec)), str(ensure_file(warmup_spec(spec)))]
    report = json_result([sys.executable, "-m", "bench.probe", "memory", key, *files])
    return max(0.0, report["peak_kb"] - report["baseline_kb"]) / 1024


def quality(data: bytes) -> dict[str, float]:
    """PSNR of each method's pixels, before WebP encoding, against a full-resolution LANCZOS resize.

    Above ~40 dB the difference is invisible; the WebP encode that follows costs far more (~32 dB).
    (b) is the reference itself, so it has no entry.
    """
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        full = image.convert("RGB")
    scale = methods.THUMBNAIL_SIZE / max(full.size)
    reference = full.resize(
        (max(1, round(full.width * scale)), max(1, round(full.height * scale))), Image.Resampling.LANCZOS
    )
    candidates = {"a": _draft_thumbnail(data), "c": _loaded_thumbnail(full)}
    if methods.pyvips is not None:
        vips = methods.pyvips.Image.thumbnail_buffer(data, methods.THUMBNAIL_SIZE)
        candidates["d"] = Image.frombytes("RGB", (vips.width, vips.height), vips.write_to_memory())
    return {key: psnr(reference, candidate) for key, candidate in candidates.items()}


def _draft_thumbnail(data: bytes) -> Image.Image:
    """What (a) does to an RGB JPEG: a DCT-scaled draft, then a reducing-gap resample."""
    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((methods.THUMBNAIL_SIZE, methods.THUMBNAIL_SIZE), reducing_gap=imaging.REDUCING_GAP)
        return image.convert("RGB")


def _loaded_thumbnail(full: Image.Image) -> Image.Image:
    copy = full.copy()
    copy.thumbnail((methods.THUMBNAIL_SIZE, methods.THUMBNAIL_SIZE))
    return copy


def psnr(reference: Image.Image, candidate: Image.Image) -> float:
    if candidate.size != reference.size:  # off-by-one rounding of the short side
        candidate = candidate.resize(reference.size, Image.Resampling.LANCZOS)
    difference = ImageChops.difference(reference, candidate.convert("RGB"))
    mean_square = statistics.fmean(rms**2 for rms in ImageStat.Stat(difference).rms)
    return math.inf if mean_square == 0 else 10 * math.log10(255**2 / mean_square)
