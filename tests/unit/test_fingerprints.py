"""Placeholder, dominant colour and perceptual hash: what an app shows and compares, from generated images."""

from __future__ import annotations

import base64
import io
import math
import random
import re
from functools import cache

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageStat

from image_processor.fingerprints import difference_hash, dominant_color, thumbhash
from image_processor.imaging import make_thumbnail
from sample_images import images

MAX_PIXELS = 100_000_000


@cache
def scene(seed: int, width: int = 1600, height: int = 1200) -> Image.Image:
    """A photo-like picture: a sky-to-ground gradient, a few coloured shapes and sensor noise, one per seed.
    Shared between tests: never changed in place."""
    rng = random.Random(seed)
    top, bottom = (tuple(rng.randrange(256) for _ in range(3)) for _ in range(2))
    sky = Image.linear_gradient("L").resize((width, height))
    picture = Image.composite(Image.new("RGB", (width, height), bottom), Image.new("RGB", (width, height), top), sky)
    draw = ImageDraw.Draw(picture)
    for _ in range(6):
        x, y = rng.randrange(width), rng.randrange(height)
        w, h = rng.randrange(width // 8, width // 2), rng.randrange(height // 8, height // 2)
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x - w // 2, y - h // 2, x + w // 2, y + h // 2), fill=tuple(rng.randrange(256) for _ in range(3)))
    noise = Image.merge("RGB", [Image.effect_noise((width, height), 10).convert("L")] * 3)
    return Image.blend(picture, noise, 0.08)


def decode_thumbhash(placeholder: str) -> Image.Image:
    """The reference decoder (github.com/evanw/thumbhash, thumbHashToRGBA): an RGBA image of at most 32x32."""
    data = base64.b64decode(placeholder)
    header24 = data[0] | data[1] << 8 | data[2] << 16
    header16 = data[3] | data[4] << 8
    l_dc, l_scale = (header24 & 63) / 63, ((header24 >> 18) & 31) / 31
    p_dc, q_dc = ((header24 >> 6) & 63) / 31.5 - 1, ((header24 >> 12) & 63) / 31.5 - 1
    has_alpha, landscape = header24 >> 23, header16 >> 15
    p_scale, q_scale = ((header16 >> 3) & 63) / 63, ((header16 >> 9) & 63) / 63
    long_side = 5 if has_alpha else 7
    lx = max(3, long_side if landscape else header16 & 7)
    ly = max(3, header16 & 7 if landscape else long_side)
    a_dc, a_scale = ((data[5] & 15) / 15, (data[5] >> 4) / 15) if has_alpha else (1.0, 0.0)
    nibbles = [nibble for byte in data[6 if has_alpha else 5 :] for nibble in (byte & 15, byte >> 4)]

    def channel(nx: int, ny: int, scale: float) -> list[tuple[int, int, float]]:
        terms = [(cx, cy) for cy in range(ny) for cx in range(0 if cy else 1, nx) if cx * ny < nx * (ny - cy)]
        values = [(nibbles.pop(0) / 7.5 - 1) * scale for _ in terms]
        return [(cx, cy, value) for (cx, cy), value in zip(terms, values, strict=True)]

    l_ac, p_ac, q_ac = channel(lx, ly, l_scale), channel(3, 3, p_scale * 1.25), channel(3, 3, q_scale * 1.25)
    a_ac = channel(5, 5, a_scale) if has_alpha else []
    ratio = (long_side if landscape else header16 & 7) / (header16 & 7 if landscape else long_side)
    width, height = (32, round(32 / ratio)) if ratio > 1 else (round(32 * ratio), 32)
    decoded = Image.new("RGBA", (width, height))
    for y in range(height):
        for x in range(width):
            fx = [math.cos(math.pi / width * (x + 0.5) * cx) for cx in range(7)]
            fy = [math.cos(math.pi / height * (y + 0.5) * cy) for cy in range(7)]
            lum, p, q, a = (
                dc + sum(value * fx[cx] * fy[cy] * 2 for cx, cy, value in ac)
                for dc, ac in ((l_dc, l_ac), (p_dc, p_ac), (q_dc, q_ac), (a_dc, a_ac))
            )
            blue = lum - 2 / 3 * p
            red = (3 * lum - blue + q) / 2
            green = red - q
            decoded.putpixel((x, y), tuple(round(255 * min(1, max(0, c))) for c in (red, green, blue, a)))
    return decoded


def thumbnail_of(picture: Image.Image, fmt: str = "JPEG", **params: object):
    info, thumbnail = make_thumbnail(images.encode(picture, fmt, **params), size=256, max_pixels=MAX_PIXELS)
    return info, Image.open(io.BytesIO(thumbnail.data))


def blur(thumbnail: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The thumbnail at the placeholder's size, as soft as four bits for seven cosines a side make it."""
    return thumbnail.convert("RGB").resize(size, Image.Resampling.BOX).filter(ImageFilter.GaussianBlur(2))


def hamming(first: str, second: str) -> int:
    return (int(first, 16) ^ int(second, 16)).bit_count()


def correlation(first: Image.Image, second: Image.Image) -> float:
    a, b = list(first.convert("L").tobytes()), list(second.convert("L").tobytes())
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    covariance = sum((x - mean_a) * (y - mean_b) for x, y in zip(a, b, strict=True))
    return covariance / math.sqrt(sum((x - mean_a) ** 2 for x in a) * sum((y - mean_b) ** 2 for y in b))


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_placeholder_decodes_to_a_blur_of_the_thumbnail(seed):
    info, thumbnail = thumbnail_of(scene(seed))
    _, another = thumbnail_of(scene(seed + 100))

    decoded = decode_thumbhash(info.placeholder).convert("RGB")
    blurred = blur(thumbnail, decoded.size)

    # A placeholder as long as a short sentence, with the picture's colours and their layout.
    assert len(info.placeholder) <= 40
    assert ImageStat.Stat(decoded).mean == pytest.approx(ImageStat.Stat(thumbnail.convert("RGB")).mean, abs=5)
    assert max(ImageStat.Stat(ImageChops.difference(decoded, blurred)).mean) < 25
    assert correlation(decoded, blurred) > 0.75
    assert correlation(decoded, blurred) > correlation(decoded, blur(another, decoded.size)) + 0.3


@pytest.mark.parametrize(("width", "height"), [(1600, 1200), (1200, 1600), (1600, 400), (800, 800)])
def test_placeholder_keeps_the_aspect_ratio(width, height):
    info, _ = thumbnail_of(scene(4, width, height))

    decoded = decode_thumbhash(info.placeholder)

    assert decoded.width / decoded.height == pytest.approx(width / height, rel=0.2)


def test_placeholder_of_a_flat_colour_is_that_colour():
    info, _ = thumbnail_of(Image.new("RGB", (300, 200), (200, 80, 30)), "PNG")

    decoded = decode_thumbhash(info.placeholder)

    assert ImageStat.Stat(decoded).mean == pytest.approx([200, 80, 30, 255], abs=6)


def test_placeholder_keeps_transparency():
    # GIVEN a logo whose left half is transparent
    logo = Image.new("RGBA", (400, 400), (20, 120, 220, 255))
    logo.paste((0, 0, 0, 0), (0, 0, 200, 400))

    info, _ = thumbnail_of(logo, "PNG")
    decoded = decode_thumbhash(info.placeholder)

    # THEN the placeholder is see-through on the left, opaque and blue on the right
    alpha = decoded.getchannel("A")
    assert ImageStat.Stat(alpha.crop((0, 0, 8, 32))).mean[0] < 60
    assert ImageStat.Stat(alpha.crop((24, 0, 32, 32))).mean[0] > 200
    assert ImageStat.Stat(decoded.convert("RGB").crop((24, 0, 32, 32))).mean == pytest.approx([20, 120, 220], abs=25)


@pytest.mark.parametrize("size", [(101, 10), (3, 50)])
def test_thumbhash_refuses_an_image_it_cannot_hash_exactly(size):
    with pytest.raises(ValueError, match=f"{size[0]}x{size[1]} is not between 4x4 and 100x100"):
        thumbhash(Image.new("RGB", size))


def test_dominant_color_is_the_largest_area_averaged():
    # GIVEN a picture two-thirds shades of green, a third red
    picture = Image.new("RGB", (300, 300), (200, 30, 30))
    picture.paste(
        Image.linear_gradient("L").resize((200, 300)).convert("RGB").point([0] * 256 + [150] * 256 + [60] * 256), (0, 0)
    )
    noisy = Image.blend(picture, Image.merge("RGB", [Image.effect_noise((300, 300), 8).convert("L")] * 3), 0.05)

    info, _ = thumbnail_of(noisy, "PNG")

    red, green, blue = bytes.fromhex(info.dominant_color[1:])
    assert info.dominant_color.startswith("#") and len(info.dominant_color) == 7
    assert green > 120 and red < 40 and 40 < blue < 80


def test_dominant_color_ignores_transparent_pixels():
    # GIVEN a sticker: a small opaque orange dot on a mostly transparent (black) canvas
    sticker = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    ImageDraw.Draw(sticker).ellipse((150, 150, 250, 250), fill=(250, 140, 20, 255))

    assert dominant_color(sticker.resize((32, 32), Image.Resampling.BOX)) == "#fa8c14"


def test_dominant_color_of_a_fully_transparent_image_is_its_colour():
    assert dominant_color(Image.new("RGBA", (20, 20), (10, 20, 30, 0))) == "#0a141e"


@pytest.mark.parametrize(
    ("variant", "fmt", "params"),
    [
        ("re-encoded at low quality", "JPEG", {"quality": 35}),
        ("resized to a third", "JPEG", {"quality": 85}),
        ("converted to PNG", "PNG", {"compress_level": 1}),
        ("converted to WebP", "WEBP", {"quality": 70}),
    ],
)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_phash_of_the_same_photo_is_near_and_of_another_photo_far(seed, variant, fmt, params):
    original = scene(seed)
    copy = original.resize((533, 400), Image.Resampling.LANCZOS) if variant == "resized to a third" else original

    info, _ = thumbnail_of(original, "JPEG", quality=92)
    duplicate, _ = thumbnail_of(copy, fmt, **params)
    other, _ = thumbnail_of(scene(seed + 100))

    assert len(info.phash) == 16 and int(info.phash, 16) >= 0
    assert hamming(info.phash, duplicate.phash) <= 8, variant
    assert hamming(info.phash, other.phash) >= 16


def test_phash_follows_the_upright_picture():
    # GIVEN the same picture stored upright and stored turned with an EXIF orientation to undo
    info, _ = thumbnail_of(images.stored_for_orientation(1))
    turned = make_thumbnail(images.marked_for_orientation(6), size=256, max_pixels=MAX_PIXELS)[0]

    assert hamming(info.phash, turned.phash) <= 6


def test_difference_hash_sets_a_bit_where_the_right_neighbour_is_brighter():
    assert difference_hash(Image.linear_gradient("L").rotate(90).convert("RGB")) in ("ff" * 8, "7f" * 8)
    assert difference_hash(Image.new("RGB", (90, 80), (128, 128, 128))) == "0" * 16


@pytest.mark.parametrize(
    ("size", "mode", "colour"),
    [
        ((1, 1), "RGB", (90, 20, 200)),
        ((1, 900), "RGB", (90, 20, 200)),
        ((900, 1), "RGBA", (90, 20, 200, 255)),
        ((3, 2), "L", 90),
    ],
)
def test_fingerprints_of_extreme_shapes_are_well_formed(size, mode, colour):
    info, _ = thumbnail_of(Image.new(mode, size, colour), "PNG")

    decoded = decode_thumbhash(info.placeholder).convert("RGB")
    expected = colour[:3] if mode != "L" else (colour,) * 3
    assert ImageStat.Stat(decoded).mean == pytest.approx(expected, abs=8)
    assert info.dominant_color == "#{:02x}{:02x}{:02x}".format(*expected)
    assert re.fullmatch(r"[0-9a-f]{16}", info.phash)
