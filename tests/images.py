"""Test images, generated in memory so the suite ships no binaries."""

from __future__ import annotations

import io
import random

from PIL import Image

ORIENTATION_TAG = 0x0112


def photo(width: int = 640, height: int = 480, *, seed: int = 1) -> Image.Image:
    """Smooth gradients plus noise: compresses like a photo, deterministic for a seed."""
    rng = random.Random(seed)
    base = Image.radial_gradient("L").resize((width, height))
    channels = [base.rotate(rng.choice([0, 90, 180, 270])).resize((width, height)) for _ in range(3)]
    noise = Image.effect_noise((width, height), 12).convert("L")
    return Image.merge("RGB", [Image.blend(channel, noise, 0.15) for channel in channels])


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def jpeg(width: int = 640, height: int = 480, **params: object) -> bytes:
    return encode(photo(width, height), "JPEG", quality=85, **params)


def jpeg_with_exif(
    width: int, height: int, tags: dict[int, object], ifds: dict[int, dict[int, object]] | None = None
) -> bytes:
    exif = Image.Exif()
    for tag, value in tags.items():
        exif[tag] = value
    for ifd, values in (ifds or {}).items():
        exif.get_ifd(ifd).update(values)
    return encode(photo(width, height), "JPEG", quality=85, exif=exif.tobytes())


def marked_for_orientation(orientation: int) -> bytes:
    """A 300x200 stored image whose red marker is top-left once the EXIF orientation is applied."""
    upright = Image.new("RGB", (300, 200), "white")
    upright.paste((255, 0, 0), (0, 0, 60, 40))
    # Store the pixels as a camera would: the inverse of the transform the orientation asks for.
    stored = {
        1: upright,
        2: upright.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        3: upright.transpose(Image.Transpose.ROTATE_180),
        4: upright.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
        5: upright.transpose(Image.Transpose.TRANSPOSE),
        6: upright.transpose(Image.Transpose.ROTATE_90),
        7: upright.transpose(Image.Transpose.TRANSVERSE),
        8: upright.transpose(Image.Transpose.ROTATE_270),
    }[orientation]
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


def animated(fmt: str, frames: int = 3, size: tuple[int, int] = (120, 80)) -> bytes:
    images = [Image.new("RGB", size, (40 * i % 256, 100, 200)) for i in range(frames)]
    return encode(images[0], fmt, save_all=True, append_images=images[1:], duration=50, loop=0)
