"""The fuzzer's seed files: one small file of every shape image_processor accepts.

Made with the encoders the tests use (Pillow, and pillow-heif for HEIC), small so that each
execution is fast and every mutation lands near a header, a segment or a chunk boundary.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from pathlib import Path

import pillow_heif
from PIL import Image, PngImagePlugin

SIDE = (48, 32)


def _image(mode: str = "RGB") -> Image.Image:
    image = Image.linear_gradient("L").resize(SIDE).convert(mode)
    if mode in ("RGB", "RGBA"):
        image.paste((200, 40, 40) + ((128,) if mode == "RGBA" else ()), (8, 8, 24, 24))
    return image


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _exif() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation
    exif[0x010F] = "Seed Camera"
    exif.get_ifd(0x8769)[0x829D] = 2.8  # FNumber
    exif.get_ifd(0x8825).update({1: "N", 2: (52.0, 22.0, 1.5), 3: "E", 4: (4.0, 53.0, 2.0)})
    return exif.tobytes()


def _frames(fmt: str, **params: object) -> bytes:
    frames = [_image().rotate(angle) for angle in (0, 90, 180)]
    return _save(frames[0], fmt, save_all=True, append_images=frames[1:], **params)


def _heic() -> bytes:
    buffer = io.BytesIO()
    pillow_heif.from_pillow(_image()).save(buffer, quality=50)
    return buffer.getvalue()


SEEDS: dict[str, Callable[[], bytes]] = {
    "baseline.jpg": lambda: _save(_image(), "JPEG", quality=80, exif=_exif()),
    "progressive.jpg": lambda: _save(_image(), "JPEG", progressive=True, icc_profile=b""),
    "cmyk.jpg": lambda: _save(_image("CMYK"), "JPEG"),
    "grey.jpg": lambda: _save(_image("L"), "JPEG"),
    "rgba.png": lambda: _save(_image("RGBA"), "PNG"),
    "palette.png": lambda: _save(_image().quantize(16), "PNG", transparency=0),
    "grey16.png": lambda: _save(_image("I;16"), "PNG"),
    "text.png": lambda: _save(_image(), "PNG", pnginfo=_png_text()),
    "lossy.webp": lambda: _save(_image(), "WEBP", quality=50),
    "lossless.webp": lambda: _save(_image("RGBA"), "WEBP", lossless=True),
    "animated.webp": lambda: _frames("WEBP"),
    "animated.gif": lambda: _frames("GIF", loop=0, duration=50),
    "lzw.tif": lambda: _save(_image(), "TIFF", compression="tiff_lzw"),
    "pages.tif": lambda: _frames("TIFF"),
    "float.tif": lambda: _save(_image("F"), "TIFF"),
    "rle8.bmp": lambda: _rle8_bmp(),
    "plain.bmp": lambda: _save(_image(), "BMP"),
    "photo.avif": lambda: _save(_image(), "AVIF", quality=50),
    "photo.heic": _heic,
}


def _png_text() -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "seed")
    info.add_itxt("Description", "graine", lang="fr")
    return info


def _rle8_bmp() -> bytes:
    """A run-length encoded 8-bit BMP, which Pillow reads but does not write."""
    width, height = SIDE
    rows = b"".join(bytes([width // 2, row % 2, width // 2, 1 - row % 2, 0, 0]) for row in range(height))
    pixels = rows[:-2] + b"\x00\x01"  # the last end-of-line becomes end-of-bitmap
    palette = b"\x20\x40\xc0\x00\xf0\xe0\x10\x00"
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 2, 2)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels


def write(folder: Path) -> list[Path]:
    """Writes every seed into `folder` (created if needed) and returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in SEEDS.items():
        path = folder / name
        path.write_bytes(make())
        paths.append(path)
    return paths
