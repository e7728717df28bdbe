"""What a front end needs of an image besides its thumbnail: a placeholder to paint while the thumbnail loads,
a dominant colour, and a perceptual hash to spot the same picture uploaded twice. Pure functions of the small
upright image the thumbnails are made from: no AWS, no numpy.

- `placeholder`: a ThumbHash (https://evanw.github.io/thumbhash/, reference implementation
  github.com/evanw/thumbhash, MIT), base64: 18 to 25 bytes that decode to a blur of the picture keeping its
  aspect ratio and alpha. The encoder here is the reference's, computed in two separable passes over a
  24-pixel image whose L, P and Q channels Pillow derives in C; the reference accepts up to 100x100, but the
  hash keeps at most 7 cosine terms a side, which 24 samples carry as well (the hashes of a photo at 16,
  24 and 32 pixels differ in a term or two by one step).
- `dominant_color`: `#rrggbb`, the average of the most populous bucket when each channel is cut into four
  ranges (64 buckets), over the opaque pixels.
- `phash`: a 64-bit difference hash (dHash) as 16 hex digits: the same sample as a 9x8 grey image, one
  bit per pair of horizontal neighbours, set when the right one is brighter (the `imagehash` package's
  dhash and bit order, reduced by area average; transparent pixels count by the colour they store).
  Re-encoding, resizing and format changes move a few bits; a different picture about half of them.
"""

from __future__ import annotations

import base64
import itertools
import math
from functools import cache
from operator import mul

from PIL import Image, ImageChops, ImageStat

# The record's names for them (db_writer stores them as they come; scripts/reprocess.py names them too).
FIELDS = ("placeholder", "dominant_color", "phash")
_SAMPLE_SIDE = 24
# Cosine k sums to zero over n samples only for k < 2n: with k up to 6, every side needs at least 4.
_MIN_SIDE = 4
_HASH_WIDTH, _HASH_HEIGHT = 9, 8
# Channel top two bits: four ranges a channel, 64 buckets, coarse enough that one colour's shading stays together.
_BUCKET_MASK = 0xC0
_OPAQUE = 128
# Lookup tables for Image.point(), built once: given a function, point() calls it 256 times on every use.
_BUCKET_OF = [value & _BUCKET_MASK for value in range(256)] * 3
_OPAQUE_MASK = [255 if value >= _OPAQUE else 0 for value in range(256)]
_IN_BUCKET_MASK = [255] + [0] * 255
_NO_BUCKET = (1, 1, 1)  # not a multiple of 64: no bucket's colour
# Pillow's matrix conversion maps RGB onto three 8-bit channels: L = (r+g+b)/3, and the two colour
# differences P = (r+g)/2 - b and Q = r - g, which range over [-255, 255], halved and centred.
_LPQ_MATRIX = (1 / 3, 1 / 3, 1 / 3, 0, 0.25, 0.25, -0.5, 127.5, 0.5, -0.5, 0, 127.5)


def fingerprints(image: Image.Image) -> dict[str, str]:
    """The placeholder, dominant colour and perceptual hash of an upright RGB or RGBA image."""
    scale = _SAMPLE_SIDE / max(image.size)
    size = (max(_MIN_SIDE, round(image.width * scale)), max(_MIN_SIDE, round(image.height * scale)))
    sample = image.resize(size, Image.Resampling.BOX)
    placeholder = base64.b64encode(thumbhash(sample)).decode("ascii")
    return dict(zip(FIELDS, (placeholder, dominant_color(sample), difference_hash(sample)), strict=True))


def thumbhash(image: Image.Image) -> bytes:
    """The ThumbHash of an RGB or RGBA image of 4x4 to 100x100 pixels. The reference also takes sides
    under 4, where its cosines alias; fingerprints() stretches such a sample to 4, and a side of 4 of 24
    is still the narrowest ratio the hash records (1:7)."""
    width, height = image.size
    if not (_MIN_SIDE <= width <= 100 and _MIN_SIDE <= height <= 100):
        raise ValueError(f"{width}x{height} is not between {_MIN_SIDE}x{_MIN_SIDE} and 100x100")
    alpha = image.getchannel("A") if image.mode == "RGBA" else None
    alpha_total = ImageStat.Stat(alpha).sum[0] / 255 if alpha is not None else width * height
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    if alpha is not None and alpha_total < width * height:
        # Transparent pixels count as the image's average colour (alpha-weighted), as in the reference.
        rgb = Image.composite(rgb, Image.new("RGB", rgb.size, _alpha_weighted_average(rgb, alpha, alpha_total)), alpha)
    else:
        alpha = None
    has_alpha = alpha is not None
    lum, p_band, q_band = rgb.convert("RGB", _LPQ_MATRIX).split()
    l_limit = 5 if has_alpha else 7
    lx = max(1, _round(l_limit * width / max(width, height)))
    ly = max(1, _round(l_limit * height / max(width, height)))
    l_dc, l_ac, l_scale = _encode_channel(lum, max(3, lx), max(3, ly), unit=1 / 255, offset=0)
    p_dc, p_ac, p_scale = _encode_channel(p_band, 3, 3, unit=2 / 255, offset=-1)
    q_dc, q_ac, q_scale = _encode_channel(q_band, 3, 3, unit=2 / 255, offset=-1)
    landscape = width > height
    header24 = (
        _round(63 * l_dc)
        | (_round(31.5 + 31.5 * p_dc) << 6)
        | (_round(31.5 + 31.5 * q_dc) << 12)
        | (_round(31 * l_scale) << 18)
        | (has_alpha << 23)
    )
    header16 = (ly if landscape else lx) | (_round(63 * p_scale) << 3) | (_round(63 * q_scale) << 9) | (landscape << 15)
    header = [header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8]
    terms = [*l_ac, *p_ac, *q_ac]
    if alpha is not None:
        a_dc, a_ac, a_scale = _encode_channel(alpha, 5, 5, unit=1 / 255, offset=0)
        header.append(_round(15 * a_dc) | (_round(15 * a_scale) << 4))
        terms += a_ac
    nibbles = [_round(15 * term) for term in terms] + [0]
    return bytes(header + [low | (high << 4) for low, high in zip(nibbles[::2], nibbles[1::2], strict=False)])


def dominant_color(image: Image.Image) -> str:
    """`#rrggbb`: the average colour of the most populous of 64 colour buckets, over the opaque pixels.

    In C but for the 64 counts: the buckets are the colours of the image with each channel's low six
    bits cleared, and transparent pixels are set to a colour no bucket has, unless nothing is opaque.
    """
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    buckets = rgb.point(_BUCKET_OF)
    if image.mode == "RGBA":
        opaque = image.getchannel("A").point(_OPAQUE_MASK)
        if opaque.getbbox() is not None:
            buckets = Image.composite(buckets, Image.new("RGB", buckets.size, _NO_BUCKET), opaque)
    counts = [(count, colour) for count, colour in buckets.getcolors(65) or [] if colour != _NO_BUCKET]
    top = max(counts)[1]
    # Black where a pixel is in the top bucket: any other bucket differs by 64 in a channel, >= 7 in grey.
    members = ImageChops.difference(buckets, Image.new("RGB", buckets.size, top)).convert("L")
    mask = members.point(_IN_BUCKET_MASK)
    red, green, blue = (_round(mean) for mean in ImageStat.Stat(rgb, mask).mean)
    return f"#{red:02x}{green:02x}{blue:02x}"


def difference_hash(image: Image.Image) -> str:
    """64-bit dHash as 16 hex digits, the first row's first pair in the highest bit."""
    grey = image.convert("L").resize((_HASH_WIDTH, _HASH_HEIGHT), Image.Resampling.BOX)
    values = grey.tobytes()
    bits = 0
    for row in range(_HASH_HEIGHT):
        for left, right in itertools.pairwise(values[row * _HASH_WIDTH : (row + 1) * _HASH_WIDTH]):
            bits = (bits << 1) | (right > left)
    return f"{bits:016x}"


def _alpha_weighted_average(rgb: Image.Image, alpha: Image.Image, alpha_total: float) -> tuple[int, int, int]:
    if not alpha_total:
        return (0, 0, 0)
    # multiply() gives value * alpha / 255, and alpha_total is in the same unit (alpha / 255).
    red, green, blue = (
        _round(ImageStat.Stat(ImageChops.multiply(band, alpha)).sum[0] / alpha_total) for band in rgb.split()
    )
    return red, green, blue


def _encode_channel(
    band: Image.Image, nx: int, ny: int, *, unit: float, offset: float
) -> tuple[float, list[float], float]:
    """The reference's encodeChannel for the channel `8-bit value * unit + offset`: its DC, its AC terms
    (cx * ny < nx * (ny - cy)) mapped onto 0-1, and their scale.

    Separable: each row is reduced to its first nx horizontal cosine terms, then those to the vertical
    ones. Summed over the 8-bit values and scaled after: every cosine but the first sums to zero over
    the samples, so the offset only moves the DC.
    """
    width, height = band.size
    data = band.tobytes()
    rows = [data[start : start + width] for start in range(0, width * height, width)]
    by_row = [[sum(map(mul, row, basis)) for row in rows] for basis in _cosines(width, nx)]
    dc, ac = 0.0, []
    for cy, basis in enumerate(_cosines(height, ny)):
        cx = 0
        while cx * ny < nx * (ny - cy):
            term = sum(map(mul, by_row[cx], basis)) * unit / (width * height)
            if cx or cy:
                ac.append(term)
            else:
                dc = term + offset
            cx += 1
    scale = max(map(abs, ac), default=0.0)
    if scale:
        ac = [0.5 + 0.5 / scale * term for term in ac]
    return dc, ac, scale


@cache
def _cosines(samples: int, terms: int) -> tuple[tuple[float, ...], ...]:
    """cos(pi / samples * k * (i + 0.5)) for k below `terms`, i below `samples`: the DCT-II basis."""
    return tuple(tuple(math.cos(math.pi / samples * k * (i + 0.5)) for i in range(samples)) for k in range(terms))


def _round(value: float) -> int:
    """JavaScript's Math.round (halves upwards), which the reference uses: Python's round() goes to even."""
    return math.floor(value + 0.5)
