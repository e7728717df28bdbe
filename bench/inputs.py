"""Deterministic generated test images that compress like photos: smooth content, edges and noise.

Every pixel comes from seeded generators (random.Random and SHAKE-256, never Pillow's
effect_noise, which follows the C library's rand()), so the same spec gives the same bytes on
every machine. Files are cached under .cache/bench/ because the big PNG and WebP take seconds
to encode; the cache key includes GENERATOR_VERSION, so changing the recipe invalidates it.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
from dataclasses import dataclass, replace
from pathlib import Path

import pillow_heif
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from sample_images import images

GENERATOR_VERSION = 3
JPEG_QUALITY = 90
WEBP_QUALITY = 90
CACHE_DIR = Path(__file__).resolve().parent.parent / ".cache" / "bench"
_ORIENTATION_TAG = 0x0112
_EXIF_IFD = 0x8769
# What a camera writes: make, model, capture time and exposure, so metadata paths do real work.
_CAMERA_TAGS = {0x010F: "BenchCam", 0x0110: "Generated 1", 0x0132: "2026:01:02 03:04:05"}
_CAMERA_EXIF_IFD = {0x9003: "2026:01:02 03:04:05", 0x8827: 200, 0x829A: 0.004, 0x829D: 2.8, 0x920A: 35.0}


@dataclass(frozen=True)
class ImageSpec:
    name: str
    format: str  # "JPEG", "PNG", "WEBP", "AVIF", "TIFF" or "HEIC"
    width: int
    height: int
    orientation: int = 1
    # Besides Pillow's modes: "P" is a palette whose first entry is transparent, and "I;16B" is
    # 16-bit grey stored big-endian (TIFF only), which Pillow opens in a mode of its own.
    mode: str = "RGB"
    smooth_only: bool = False  # no noise: the most compressible file, for worst-case memory probes
    progressive: bool = False
    seed: int = 1
    thumbnail: int = 0  # HEIC: the longest side of the thumbnail embedded beside the photo (an iPhone's: 320)

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    @property
    def extension(self) -> str:
        return {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "AVIF": ".avif", "TIFF": ".tif", "HEIC": ".heic"}[
            self.format
        ]


def load(spec: ImageSpec) -> bytes:
    """The encoded file for `spec`, generated on first use and cached."""
    return ensure_file(spec).read_bytes()


def ensure_file(spec: ImageSpec) -> Path:
    path = cached_path(spec)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_bytes(encode(spec))
        partial.replace(path)
    return path


def warmup_spec(spec: ImageSpec) -> ImageSpec:
    """A small file of the same kind: one call on it loads the codec before anything is measured."""
    return replace(spec, name=f"{spec.name}-warmup", width=256, height=192, smooth_only=False)


def cached_path(spec: ImageSpec) -> Path:
    digest = hashlib.sha256(f"{GENERATOR_VERSION}:{spec!r}".encode()).hexdigest()[:12]
    return CACHE_DIR / f"{spec.name}-{digest}{spec.extension}"


def encode(spec: ImageSpec) -> bytes:
    image = photo(spec.width, spec.height, seed=spec.seed, noise=not spec.smooth_only)
    if spec.mode != "RGB":
        image = _to_mode(image, spec.mode)
    buffer = io.BytesIO()
    if spec.format == "JPEG":
        image.save(
            buffer,
            "JPEG",
            quality=JPEG_QUALITY,
            progressive=spec.progressive,
            exif=_camera_exif(spec.orientation),
        )
    elif spec.format == "WEBP":
        image.save(buffer, "WEBP", quality=WEBP_QUALITY)
    elif spec.format == "AVIF":
        # The fastest encoder speed: only the sizing probes use AVIF, and speed changes the file, not the decode.
        image.save(buffer, "AVIF", quality=WEBP_QUALITY, speed=10)
    elif spec.format == "HEIC":
        # As a phone writes it: a grid of 512-pixel tiles (one HEVC picture cannot exceed 35.6 MP, so a 48 MP
        # photo must be a grid), x265's default preset, the camera EXIF, and the thumbnail libheif embeds beside
        # it when the spec asks for one. pillow-heif is a test-only encoder.
        heif = pillow_heif.from_pillow(image)
        thumbnails = [spec.thumbnail] if spec.thumbnail else []
        heif.save(
            buffer, quality=JPEG_QUALITY, exif=_camera_exif(spec.orientation), tile_size=512, thumbnails=thumbnails
        )
    elif spec.format == "TIFF" and spec.mode == "I;16B":
        return images.big_endian_grey_tiff(image)
    elif spec.format == "TIFF":
        image.save(buffer, "TIFF", compression="tiff_adobe_deflate")
    else:
        # Level 1: the worst-case probes are 100 MP, and a higher level only changes the file size.
        image.save(buffer, "PNG", compress_level=1 if spec.smooth_only else 6, transparency=_transparency(spec))
    return buffer.getvalue()


def photo(width: int, height: int, *, seed: int, noise: bool = True) -> Image.Image:
    """Soft colour fields and shapes (what JPEG compresses well) plus sensor-like noise (what it can't)."""
    rng = random.Random(seed)
    # Everything smooth is drawn at 1/8 scale and enlarged: cheap at 50 MP, and the enlargement
    # softens edges the way a lens does.
    small_size = (max(1, width // 8), max(1, height // 8))
    colour_field = Image.frombytes("RGB", (8, 6), rng.randbytes(8 * 6 * 3)).resize(small_size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(colour_field)
    for _ in range(120):
        x0, y0 = rng.randrange(small_size[0]), rng.randrange(small_size[1])
        extent = rng.randrange(4, max(5, small_size[0] // 6))
        box = (x0, y0, x0 + extent, y0 + rng.randrange(4, max(5, small_size[1] // 6)))
        colour = tuple(rng.randrange(40, 216) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    smooth = colour_field.filter(ImageFilter.GaussianBlur(1.2)).resize((width, height), Image.Resampling.BILINEAR)
    if not noise:
        return smooth
    grain = hashlib.shake_256(f"noise:{seed}:{width}x{height}".encode()).digest(width * height * 3)
    # Bytes 0-255 scaled to 0-23 and centred: +-12 levels, about what a phone sensor leaves at ISO 200.
    noise_image = Image.frombytes("RGB", (width, height), grain).point(lambda value: value * 24 // 256)
    return ImageChops.add(smooth, noise_image, 1.0, -12)


def _to_mode(image: Image.Image, mode: str) -> Image.Image:
    if mode in ("I;16", "I;16B"):
        # 16-bit grey as scanners and some cameras write it: the widest mode a PNG can hold.
        return image.convert("L").point(lambda value: value * 257, "I").convert("I;16")
    if mode == "RGBA":
        # A real alpha channel, top transparent to bottom opaque: WebP and AVIF encoders drop an opaque one.
        image.putalpha(Image.linear_gradient("L").resize(image.size))
        return image
    return image.convert(mode)


def _transparency(spec: ImageSpec) -> int | None:
    return 0 if spec.mode == "P" else None


def _camera_exif(orientation: int) -> bytes:
    exif = Image.Exif()
    for tag, value in _CAMERA_TAGS.items():
        exif[tag] = value
    exif.get_ifd(_EXIF_IFD).update(_CAMERA_EXIF_IFD)
    if orientation != 1:
        exif[_ORIENTATION_TAG] = orientation
    return exif.tobytes()
