"""Test images, generated in memory so the suite ships no binaries."""

from __future__ import annotations

import io
import itertools
import math
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


# EXIF field types (TIFF 6.0): the value's type decides how it is written, whatever the tag usually holds.
ASCII, SHORT, LONG, RATIONAL, UNDEFINED, DOUBLE = 2, 3, 4, 5, 7, 12
_EXIF_TYPE_FORMATS = {ASCII: "s", SHORT: "H", LONG: "I", RATIONAL: "II", UNDEFINED: "s", DOUBLE: "d"}


def raw_exif(
    base: dict[int, tuple[int, object]], exif: dict[int, tuple[int, object]], gps: dict[int, tuple[int, object]]
) -> bytes:
    """An APP1 EXIF payload written field by field ({tag: (type, value)}), so that any type can hold any
    tag: what a camera should never write, and a crafted file can. A value is a tuple of numbers (a
    RATIONAL's numerators and denominators in turn) or bytes for ASCII and UNDEFINED."""
    directories = [dict(base), dict(exif), dict(gps)]
    sizes = [2 + 12 * (len(fields) + (2 if at == 0 else 0)) + 4 for at, fields in enumerate(directories)]
    starts = list(itertools.accumulate(sizes, initial=8))
    directories[0] |= {0x8769: (LONG, (starts[1],)), 0x8825: (LONG, (starts[2],))}
    data_at = starts[3]
    tables, data = b"", b""
    for fields in directories:
        table = struct.pack("<H", len(fields))
        for tag, (kind, value) in sorted(fields.items()):
            fmt = _EXIF_TYPE_FORMATS[kind]
            payload = value if isinstance(value, bytes) else struct.pack(f"<{len(value)}{fmt[0]}", *value)
            count = len(payload) if fmt == "s" else len(value) // len(fmt)
            if len(payload) <= 4:
                table += struct.pack("<HHI", tag, kind, count) + payload.ljust(4, b"\x00")
            else:
                table += struct.pack("<HHII", tag, kind, count, data_at + len(data))
                data += payload + b"\x00" * (len(payload) % 2)
        tables += table + struct.pack("<I", 0)
    return b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + tables + data


def jpeg_with_raw_exif(payload: bytes, width: int = 400, height: int = 300) -> bytes:
    """A JPEG whose first segment is the APP1 `payload` (see raw_exif)."""
    data = jpeg(width, height)
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


# ICC profiles (ICC.1:2001, version 2.1), written tag by tag: the suite needs Display P3 and others that
# Little CMS cannot create. Colours in the profile connection space are XYZ relative to D50.
_D50 = (0.9642, 1.0, 0.8249)
# Display P3's primaries adapted to D50 (Bradford), as Apple's profile holds them; they add up to D50.
DISPLAY_P3_PRIMARIES = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))


def _s15fixed16(*values: float) -> bytes:
    return b"".join(struct.pack(">i", round(value * 65536)) for value in values)


def _icc_xyz(xyz: tuple[float, float, float]) -> bytes:
    return b"XYZ \x00\x00\x00\x00" + _s15fixed16(*xyz)


def _icc_srgb_curve() -> bytes:
    """sRGB's transfer function as a parametric curve (type 3), which Display P3 shares."""
    return (
        b"para\x00\x00\x00\x00"
        + struct.pack(">HH", 3, 0)
        + _s15fixed16(2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
    )


def icc_profile(space: bytes, description: str, tags: dict[bytes, bytes]) -> bytes:
    """A display ('mntr') profile of colour space `space` (b"RGB ", b"GRAY") holding `tags` beside its
    description and D50 white point."""
    text = description.encode("ascii") + b"\x00"
    desc = b"desc\x00\x00\x00\x00" + struct.pack(">I", len(text)) + text + bytes(4 + 4 + 2 + 1 + 67)
    tags = {b"desc": desc, b"wtpt": _icc_xyz(_D50), **tags}
    table_end = 128 + 4 + 12 * len(tags)
    entries, payload = b"", b""
    for signature, data in tags.items():
        entries += signature + struct.pack(">II", table_end + len(payload), len(data))
        payload += data + bytes(-len(data) % 4)
    size = table_end + len(payload)
    header = struct.pack(">I4sI4s4s4s", size, b"", 0x02100000, b"mntr", space, b"XYZ ") + bytes(12) + b"acsp"
    header += bytes(4 + 4 + 4 + 4 + 8 + 4) + _s15fixed16(*_D50) + bytes(4 + 16 + 28)
    return header + struct.pack(">I", len(tags)) + entries + payload


def display_p3_profile() -> bytes:
    red, green, blue = (_icc_xyz(primary) for primary in DISPLAY_P3_PRIMARIES)
    curves = dict.fromkeys((b"rTRC", b"gTRC", b"bTRC"), _icc_srgb_curve())
    return icc_profile(b"RGB ", "Display P3", {b"rXYZ": red, b"gXYZ": green, b"bXYZ": blue, **curves})


def linear_grey_profile() -> bytes:
    """A grey profile with gamma 1.0: mid-grey 128 in it is much lighter in sRGB (188)."""
    return icc_profile(b"GRAY", "Linear Grey", {b"kTRC": b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, 256)})


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


def jpeg_with_empty_segments(count: int) -> bytes:
    """A real 64x48 JPEG with `count` empty comment (COM) segments between its start and its tables."""
    plain = jpeg(64, 48)
    return plain[:2] + b"\xff\xfe\x00\x02" * count + plain[2:]


class _BitWriter:
    """Huffman-coded JPEG scan data: bits packed most significant first, 0xFF stuffed, padded with ones."""

    def __init__(self) -> None:
        self.value, self.bits = 0, 0

    def write(self, value: int, bits: int) -> None:
        self.value, self.bits = (self.value << bits) | value, self.bits + bits

    def zeros(self, bits: int) -> None:
        self.write(0, bits)

    def data(self) -> bytes:
        padding = -self.bits % 8
        packed = ((self.value << padding) | ((1 << padding) - 1)).to_bytes((self.bits + padding) // 8, "big")
        return packed.replace(b"\xff", b"\xff\x00")


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def progressive_jpeg(
    width: int, height: int, sampling: tuple[tuple[int, int], ...], *, ac_scans: int = 0, data: bool = True
) -> bytes:
    """A progressive JPEG of one flat colour, built by hand so even 100 MP costs a few hundred KB.

    `sampling` holds each component's (horizontal, vertical) factors: ((2, 2), (1, 1), (1, 1)) is 4:2:0
    YCbCr, four entries make CMYK. The DC scan codes every block's difference as 0 (one bit a block);
    each of the `ac_scans` extra scans codes the first component's AC band as end-of-band runs of up to
    32,767 blocks, so it costs under 100 bytes however big the image, and the decoder still visits every
    block. `data=False` stops after the first scan's header: a file of under 1 KB.
    """
    h_max, v_max = max(h for h, _ in sampling), max(v for _, v in sampling)
    frame = struct.pack(">BHHB", 8, height, width, len(sampling))
    frame += b"".join(bytes((index + 1, h << 4 | v, 0)) for index, (h, v) in enumerate(sampling))
    dc_table = bytes([0x00, 1] + [0] * 15 + [0])  # one code, "0", for "difference 0"
    ac_table = bytes([0x10, 0, 0, 0, 15] + [0] * 12) + bytes(run << 4 for run in range(15))  # EOBn, 4 bits each
    head = b"\xff\xd8" + _jpeg_segment(0xDB, bytes(1) + bytes([1] * 64)) + _jpeg_segment(0xC2, frame)
    head += _jpeg_segment(0xC4, dc_table + ac_table)
    components = b"".join(bytes((index + 1, 0x00)) for index in range(len(sampling)))
    dc_scan = _jpeg_segment(0xDA, bytes([len(sampling)]) + components + bytes((0, 0, 0)))
    if not data:
        return head + dc_scan + bytes(600)
    mcus = math.ceil(width / (8 * h_max)) * math.ceil(height / (8 * v_max))
    bits = _BitWriter()
    bits.zeros(mcus * sum(h * v for h, v in sampling))
    body = head + dc_scan + bits.data()
    h, v = sampling[0]
    blocks = math.ceil(math.ceil(width * h / h_max) / 8) * math.ceil(math.ceil(height * v / v_max) / 8)
    ac_scan = _jpeg_segment(0xDA, bytes((1, 1, 0x00, 1, 63, 0))) + _end_of_band_runs(blocks)
    return body + ac_scan * ac_scans + b"\xff\xd9"


def _end_of_band_runs(blocks: int) -> bytes:
    """Scan data saying "the next `blocks` blocks have nothing in this band", in EOBn symbols (n <= 14)."""
    bits = _BitWriter()
    while blocks:
        run = min(14, blocks.bit_length() - 1)
        covered = min(blocks, (2 << run) - 1)
        bits.write(run, 4)
        bits.write(covered - (1 << run), run)
        blocks -= covered
    return bits.data()


def tiff_strips(width: int, height: int, strips: int, *, tile: int = 0) -> bytes:
    """A grey TIFF of width x height in 1-row strips, or in `tile` x `tile` tiles, whose lists of strips
    (or tiles) hold `strips` entries, all pointing at the same bytes."""
    tags = [(256, width), (257, height), (258, 8), (259, 1), (262, 1), (277, 1)]
    tags += [(322, tile), (323, tile)] if tile else [(278, 1)]
    offsets_tag, counts_tag, piece = (324, 325, tile * tile) if tile else (273, 279, width)
    offsets_at = 8 + 2 + 12 * (len(tags) + 2) + 4
    counts_at = offsets_at + 4 * strips
    pixels_at = counts_at + 4 * strips
    fields = [(tag, 4, 1, value) for tag, value in tags]
    fields += [(offsets_tag, 4, strips, offsets_at), (counts_tag, 4, strips, counts_at)]
    out = bytearray(b"II*\x00" + struct.pack("<IH", 8, len(fields)))
    for field in sorted(fields):
        out += struct.pack("<HHII", *field)
    out += struct.pack("<I", 0)
    out += struct.pack("<I", pixels_at) * strips + struct.pack("<I", piece) * strips + bytes(piece)
    return bytes(out)


def bmp_rle8(width: int, height: int, run: int, *, empty_lines: int = 0) -> bytes:
    """An 8-bit RLE-compressed BMP coded as runs of `run` pixels (1: two bytes for every pixel), or, with
    `empty_lines`, as that many line ends before any pixel (each a step for the decoder, none a pixel)."""
    row = bytes((run, 1)) * (width // run) + (bytes((width % run, 1)) if width % run else b"") + b"\x00\x00"
    return bmp_rle(width, height, b"\x00\x00" * empty_lines + row * height + b"\x00\x01")


def bmp_rle(width: int, height: int, rle: bytes, *, bits: int = 8) -> bytes:
    """A two-colour BMP whose pixels are the given RLE data: 8-bit RLE (compression 1) or 4-bit (2)."""
    palette = b"\x00\x00\x00\x00\xff\xff\xff\x00"
    offset = 14 + 40 + len(palette)
    compression = 1 if bits == 8 else 2
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, compression, len(rle), 2835, 2835, 2, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(rle), 0, 0, offset) + info + palette + rle


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


def with_ispe(data: bytes, width: int, height: int) -> bytes:
    """An AVIF or HEIF file whose first `ispe` property declares another size: a container that lies."""
    at = data.index(b"ispe") + 8  # after the type and the full box's version and flags
    return data[:at] + struct.pack(">II", width, height) + data[at + 8 :]


def with_track_size(data: bytes, width: int, height: int) -> bytes:
    """An animated AVIF whose track header (tkhd) and sample entry declare another size: what Pillow reports
    for an animation, while every frame keeps its coded size."""
    out = bytearray(data)
    tkhd = data.index(b"tkhd") - 4
    tkhd_end = tkhd + int.from_bytes(data[tkhd : tkhd + 4], "big")
    struct.pack_into(">II", out, tkhd_end - 8, width << 16, height << 16)  # 16.16 fixed point
    sample_entry = data.index(b"av01", data.index(b"stsd")) + 4
    struct.pack_into(">HH", out, sample_entry + 24, width, height)  # after the reserved and predefined fields
    return bytes(out)


def avif_coding(width: int, height: int) -> bytes:
    """A 64x64 AVIF (Pillow with libaom) whose AV1 sequence header says the frame is width x height, while
    its `ispe` still declares 64x64: a decoder would allocate the large frame. The header is rewritten
    bit by bit, and the OBU, the `mdat` box and the item's `iloc` extent resized to fit."""
    data = encode(photo(64, 64), "AVIF", quality=60, speed=10)
    mdat = data.index(b"mdat") - 4
    header_at = data.index(b"\x0a", mdat + 8)  # the sequence header OBU (type 1, with a size), after the delimiter
    old = data[header_at : header_at + 2 + data[header_at + 1]]
    new = b"\x0a" + _av1_sequence_header_of_size(old[2:], width, height)
    grown = len(new) - len(old)
    iloc = data.index(b"iloc")
    extent_length_at = iloc + 4 + 4 + 2 + 2 + 2 + 2 + 2 + 4  # version 0, one item, one extent, 4-byte fields
    (extent_length,) = struct.unpack_from(">I", data, extent_length_at)
    out = bytearray(data[:header_at] + new + data[header_at + len(old) :])
    struct.pack_into(">I", out, extent_length_at, extent_length + grown)
    struct.pack_into(">I", out, mdat, len(data) - mdat + grown)
    return bytes(out)


def _av1_sequence_header_of_size(payload: bytes, width: int, height: int) -> bytes:
    """A reduced still-picture sequence header (AV1 spec 5.5.1) with another max frame size, then its size byte."""
    bits = "".join(f"{byte:08b}" for byte in payload)
    assert bits[4] == "1", "libaom writes still images with a reduced sequence header"
    width_bits, height_bits = int(bits[10:14], 2) + 1, int(bits[14:18], 2) + 1
    rest = bits[18 + width_bits + height_bits :].rstrip("0")  # the other fields, up to the trailing one bit
    size_bits = max((width - 1).bit_length(), (height - 1).bit_length())
    sizes = f"{size_bits - 1:04b}" * 2 + f"{width - 1:0{size_bits}b}" + f"{height - 1:0{size_bits}b}"
    new = bits[:10] + sizes + rest
    new += "0" * (-len(new) % 8)
    body = int(new, 2).to_bytes(len(new) // 8, "big")
    return bytes([len(body)]) + body


def heic_with_xmp(image: Image.Image, xmp: bytes) -> bytes:
    """A HEIC whose XMP is an item of type `mime`, content type application/rdf+xml, as phones store it."""
    heif = pillow_heif.HeifFile()
    heif.add_from_pillow(image)
    buffer = io.BytesIO()
    heif.save(buffer, quality=75, xmp=xmp, enc_params={"preset": "ultrafast"})
    return buffer.getvalue()


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
