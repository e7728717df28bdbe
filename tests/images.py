"""Test images, generated in memory so the suite ships no binaries."""

from __future__ import annotations

import io
import itertools
import random
import struct
import zlib

import pillow_heif
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
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    return encode(stored_for_orientation(orientation), "JPEG", quality=95, exif=exif.tobytes())


def stored_for_orientation(orientation: int) -> Image.Image:
    """The pixels a camera stores for a 300x200 picture with a red marker top-left, shot at `orientation`:
    the inverse of the transform the orientation asks for."""
    upright = Image.new("RGB", (300, 200), "white")
    upright.paste((255, 0, 0), (0, 0, 60, 40))
    inverse = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_90,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_270,
    }
    return upright.transpose(inverse[orientation]) if orientation in inverse else upright


def animated(fmt: str, frames: int = 3, size: tuple[int, int] = (120, 80)) -> bytes:
    images = [Image.new("RGB", size, (40 * i % 256, 100, 200)) for i in range(frames)]
    return encode(images[0], fmt, save_all=True, append_images=images[1:], duration=50, loop=0)


def big_endian_grey_tiff(image: Image.Image) -> bytes:
    """A deflate-compressed big-endian ("MM") 16-bit grey TIFF, one strip per 64 rows.

    Pillow's compressed TIFFs go through libtiff, which writes the machine's byte order, so this
    one is laid out by hand: header, one IFD, the strip offsets and byte counts, then the strips.
    """
    width, height = image.size
    rows_per_strip = 64
    pixels = image.tobytes("raw", "I;16B")
    row_bytes = width * 2
    strips = [
        zlib.compress(pixels[top * row_bytes : (top + rows_per_strip) * row_bytes], 6)
        for top in range(0, height, rows_per_strip)
    ]
    short, long = 3, 4
    tags = [  # (tag, type, count, value), in ascending tag order as TIFF requires
        (256, long, 1, width),
        (257, long, 1, height),
        (258, short, 1, 16),  # bits per sample
        (259, short, 1, 8),  # Adobe deflate
        (262, short, 1, 1),  # black is zero
        (273, long, len(strips), 0),  # strip offsets, filled in below
        (277, short, 1, 1),  # samples per pixel
        (278, long, 1, rows_per_strip),
        (279, long, len(strips), 0),  # strip byte counts, filled in below
    ]
    ifd_at = 8
    offsets_at = ifd_at + 2 + 12 * len(tags) + 4
    counts_at = offsets_at + 4 * len(strips)
    data_at = counts_at + 4 * len(strips)
    starts = list(itertools.accumulate((len(strip) for strip in strips[:-1]), initial=data_at))
    out = bytearray(b"MM\x00\x2a" + struct.pack(">I", ifd_at) + struct.pack(">H", len(tags)))
    for tag, kind, count, value in tags:
        value = {273: offsets_at, 279: counts_at}.get(tag, value)
        packed = struct.pack(">HH", value, 0) if kind == short else struct.pack(">I", value)
        out += struct.pack(">HHI", tag, kind, count) + packed
    out += struct.pack(">I", 0)  # no next IFD
    out += b"".join(struct.pack(">I", start) for start in starts)
    out += b"".join(struct.pack(">I", len(strip)) for strip in strips)
    out += b"".join(strips)
    return bytes(out)


def heic(
    image: Image.Image | list[Image.Image],
    *,
    transform: int = 1,
    exif_orientation: int | None = None,
    exif: Image.Exif | None = None,
    primary: int = 0,
    bits: int = 8,
    tile_size: int = 0,
    thumbnails: tuple[int, ...] = (),
) -> bytes:
    """A HEIC file made by pillow-heif (libheif with x265), the encoder the tests use.

    `transform`: the rotation and mirroring the container applies (irot/imir properties), given as the EXIF
    orientation value it stands for; `exif_orientation`: the EXIF Orientation tag the file carries beside it
    (None: the same value as `transform`, as an iPhone writes it). A list of images becomes a file of several,
    `primary` the index of the one viewers show. `bits` 10 or 12 stores deep colour from a 16-bit copy.
    `tile_size` > 0 stores each image as a grid of tiles that size, as an iPhone does (512). `thumbnails`: the
    longest side of each thumbnail libheif embeds beside each image (an iPhone's is 320), rotated as it is.
    """
    frames = image if isinstance(image, list) else [image]
    tags = exif if exif is not None else Image.Exif()
    tags[ORIENTATION_TAG] = transform  # pillow-heif writes the container transform from this tag
    heif = pillow_heif.HeifFile()
    for frame in frames:
        if bits == 8:
            heif.add_from_pillow(frame)
        else:
            narrow = frame.convert("RGB").tobytes()
            wide = struct.pack(f"<{len(narrow)}H", *(value * 257 for value in narrow))
            heif.add_frombytes("RGB;16", frame.size, wide)
    buffer = io.BytesIO()
    pillow_heif.options.SAVE_HDR_TO_12_BIT = bits == 12
    try:
        # x265's fastest preset: the tests need real HEVC, not small files, and it encodes 10x faster.
        heif.save(
            buffer,
            quality=75,
            enc_params={"preset": "ultrafast"},
            exif=tags.tobytes(),
            primary_index=primary,
            tile_size=tile_size,
            thumbnails=list(thumbnails),
        )
    finally:
        pillow_heif.options.SAVE_HDR_TO_12_BIT = False
    data = buffer.getvalue()
    wanted = transform if exif_orientation is None else exif_orientation
    if wanted == transform:
        return data
    # The Orientation entry, in either byte order: tag, type SHORT, count 1, then the value.
    for order in "<>":
        entry = struct.pack(f"{order}HHIH", ORIENTATION_TAG, 3, 1, transform)
        if entry in data:
            at = data.index(entry) + len(entry) - 2
            return data[:at] + struct.pack(f"{order}H", wanted) + data[at + 2 :]
    raise ValueError("pillow-heif wrote no EXIF Orientation entry")


def heif_with_major_brand(data: bytes, brand: bytes) -> bytes:
    return data[:8] + brand + data[12:]


def heif_with_item_type(data: bytes, old: bytes, new: bytes) -> bytes:
    """Every item of type `old` made of type `new`, in the `iinf` box only (version 2 entries, 2-byte IDs)."""
    start = data.index(b"iinf")
    end = start - 4 + int.from_bytes(data[start - 4 : start], "big")
    return data[:start] + data[start:end].replace(b"\x00\x00" + old, b"\x00\x00" + new) + data[end:]


def heif_with_property(
    data: bytes, kind: bytes, content: bytes, *, first: bool = True, item: int | None = None
) -> bytes:
    """The HEIF/AVIF file with one more property (`kind`, `content`) associated with its primary item (or
    `item`), listed before its other transformations (`first`) or after them. The `meta` box grows, so the
    boxes around it are resized and every item's offset into `mdat` (iloc, base offsets, extents) moves along."""
    box = struct.pack(">I", 8 + len(content)) + kind + content
    meta_at = data.index(b"meta") - 4
    meta_end = meta_at + int.from_bytes(data[meta_at : meta_at + 4], "big")
    ipco_at = data.index(b"ipco", meta_at) - 4
    ipco_end = ipco_at + int.from_bytes(data[ipco_at : ipco_at + 4], "big")
    ipma_at = data.index(b"ipma", meta_at) - 4
    ipma_end = ipma_at + int.from_bytes(data[ipma_at : ipma_at + 4], "big")
    new_index = sum(1 for _ in _child_boxes(data, ipco_at + 8, ipco_end)) + 1
    primary = item if item is not None else int.from_bytes(data[data.index(b"pitm", meta_at) + 8 :][:2], "big")
    ipma = bytearray(data[ipma_at:ipma_end])
    version, flags = ipma[8], ipma[11]
    id_width, index_width = (2 if version == 0 else 4), (2 if flags & 1 else 1)
    at = 16
    for _ in range(int.from_bytes(ipma[12:16], "big")):
        item_id, count = int.from_bytes(ipma[at : at + id_width], "big"), ipma[at + id_width]
        if item_id == primary:
            indexes = ipma[at + id_width + 1 : at + id_width + 1 + count * index_width]
            essential = (0x8000 if index_width == 2 else 0x80) | new_index
            added = essential.to_bytes(index_width, "big")
            transforms_at = next(
                (
                    n * index_width
                    for n in range(count)
                    if _property_type(data, ipco_at, ipco_end, indexes, n, index_width) in (b"irot", b"imir", b"clap")
                ),
                len(indexes),
            )
            place = transforms_at if first else len(indexes)
            ipma[at + id_width] = count + 1
            ipma[at + id_width + 1 : at + id_width + 1 + count * index_width] = (
                indexes[:place] + added + indexes[place:]
            )
            break
        at += id_width + 1 + count * index_width
    ipma[0:4] = struct.pack(">I", len(ipma))
    grown = len(box) + len(ipma) - (ipma_end - ipma_at)
    out = bytearray(data[:ipco_end] + box + data[ipco_end:ipma_at] + bytes(ipma) + data[ipma_end:])
    for size_at in (meta_at, data.index(b"iprp", meta_at) - 4):
        out[size_at : size_at + 4] = struct.pack(">I", int.from_bytes(out[size_at : size_at + 4], "big") + grown)
    out[ipco_at : ipco_at + 4] = struct.pack(">I", ipco_end - ipco_at + len(box))
    _move_item_offsets(out, out.index(b"iloc", meta_at) - 4, grown, after=meta_end)
    return bytes(out)


def _child_boxes(data: bytes, start: int, end: int):
    while start + 8 <= end:
        size = int.from_bytes(data[start : start + 4], "big")
        yield data[start + 4 : start + 8], start
        start += size


def _property_type(data: bytes, ipco_at: int, ipco_end: int, indexes: bytes, n: int, width: int) -> bytes:
    index = int.from_bytes(indexes[n * width : (n + 1) * width], "big") & (0x7FFF if width == 2 else 0x7F)
    boxes = list(_child_boxes(data, ipco_at + 8, ipco_end))
    return boxes[index - 1][0] if 0 < index <= len(boxes) else b""


def _move_item_offsets(data: bytearray, iloc_at: int, delta: int, *, after: int) -> None:
    """Adds `delta` to every file offset in the `iloc` box that points past `after` (into mdat)."""
    version = data[iloc_at + 8]
    at = iloc_at + 12
    offset_size, length_size = data[at] >> 4, data[at] & 15
    base_size, index_size = data[at + 1] >> 4, (data[at + 1] & 15 if version in (1, 2) else 0)
    at += 2
    count_width = 2 if version < 2 else 4
    count = int.from_bytes(data[at : at + count_width], "big")
    at += count_width
    for _ in range(count):
        at += 2 if version < 2 else 4  # item ID
        method = data[at + 1] & 15 if version in (1, 2) else 0
        at += 2 if version in (1, 2) else 0
        at += 2  # data reference index
        base = int.from_bytes(data[at : at + base_size], "big")
        if base and method == 0 and base >= after:
            data[at : at + base_size] = (base + delta).to_bytes(base_size, "big")
        at += base_size
        extents = int.from_bytes(data[at : at + 2], "big")
        at += 2
        for _ in range(extents):
            at += index_size
            offset = int.from_bytes(data[at : at + offset_size], "big")
            if method == 0 and not base and offset >= after:
                data[at : at + offset_size] = (offset + delta).to_bytes(offset_size, "big")
            at += offset_size + length_size
