"""Hostile and odd uploads, generated on demand, each with the outcome the pipeline must give it.

Every case is a key and a generator of the object's bytes, so nothing binary is checked in. The
catalogue is shared: tests/hostile checks each outcome and its time and memory bounds, and the
load test mixes the light cases into its uploads (`light_cases()`). docs/reliability.md's "What happens when
you upload X" table is kept in step with this list by a test.

A case with `outcome_bug` or `budget_bug` is a known problem in image_processor: its tests are strict
expected failures. When a fix lands they pass, pytest reports XPASS(strict) as a failure, and the fix
is finished by deleting that field and regenerating docs/reliability.md's table
(`.venv/bin/python -m sample_images.catalogue`, pasted over the old one).

Budgets are for the whole process that decodes, measured as Lambda measures it (peak RSS of a
process that has run image_processor's start-up, with the object in memory): LIGHT_MB for anything
small, AT_LIMIT_MB for an image of exactly MAX_IMAGE_PIXELS, above docs/design.md's own worst-case figure
(section "Configuration"). Time budgets are far below the function's 60-second timeout, so a case
that scales badly shows here, on a small file, before it reaches Lambda with a big one.
"""

from __future__ import annotations

import gzip
import io
import random
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from PIL import Image

from sample_images import images

LIGHT_MB = 160
LIGHT_SECONDS = 5.0
AT_LIMIT_MB = 650
AT_LIMIT_SECONDS = 15.0
LIMIT_SIDE = 10_000  # 10,000 x 10,000 = MAX_IMAGE_PIXELS' default of 100,000,000
# 7,071 x 7,071 = 49,999,041: the largest square under half the limit, which is the limit for WebP,
# AVIF and any other full-size decode with transparency (they need two full-size RGBA frames).
HALF_LIMIT_SIDE = 7_071
# libwebp decodes into a canvas of its own, Pillow copies it and resize() premultiplies a third copy:
# ~820 MB at 50 MP, still inside the 1,024 MB default with a 50 MiB download.
WEBP_AT_LIMIT_MB = 900
S3_MAX_KEY_BYTES = 1024
PREFIX = "hostile/"
ICC_TEXT = (b"Lorem ipsum dolor sit amet. " * 40_000)[: 1024 * 1024]
P3_COLOUR = (200, 100, 50)  # inside sRGB's gamut, where Display P3 and sRGB give it other numbers


@dataclass(frozen=True)
class Case:
    """One upload and what must happen to it."""

    name: str
    upload: str  # what the user uploads, as docs/reliability.md's table says it
    key: str
    make: Callable[[], bytes]
    status: str  # PROCESSED or REJECTED
    reason: str | None = None
    frame_count: int | None = None  # checked when set
    note: str = ""  # what else docs/reliability.md says about it
    max_mb: int = LIGHT_MB
    max_seconds: float = LIGHT_SECONDS
    # Too slow or too big to upload by the hundred; kept out of light_cases().
    heavy: bool = False
    # Known problems in image_processor, so the tests that show them are expected to fail until
    # they are fixed: a wrong status or reason, or a time or memory budget exceeded.
    outcome_bug: str | None = None
    budget_bug: str | None = None

    def data(self) -> bytes:
        return _generated(self.make)


@cache
def _generated(make: Callable[[], bytes]) -> bytes:
    return make()


# --- building blocks --------------------------------------------------------------------------------


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png(
    width: int, height: int, *, color_type: int, depth: int = 8, rows: int | None = None, extra: bytes = b""
) -> bytes:
    """A PNG of zeros, compressed row by row so even 100 MP costs no more memory than one row.

    `rows` below `height` ends the compressed stream early: a short but well-formed file.
    """
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    row = bytes(1 + width * channels * depth // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height if rows is None else rows)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + extra
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )


def _png_with_chunk_after_header(chunk: bytes) -> bytes:
    png = images.encode(images.photo(64, 48), "PNG")
    end_of_header = 8 + 25  # signature, then IHDR's length, type, 13 bytes and CRC
    return png[:end_of_header] + chunk + png[end_of_header:]


def _zlib_of_zeros(size: int) -> bytes:
    compressor = zlib.compressobj(9)
    block = bytes(1024 * 1024)
    return b"".join(compressor.compress(block) for _ in range(size // len(block))) + compressor.flush()


def _jpeg_with_size(width: int, height: int) -> bytes:
    """A real 800x600 JPEG whose frame header (SOF0) claims another size."""
    data = bytearray(images.jpeg(800, 600))
    start_of_frame = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, start_of_frame + 5, height, width)
    return bytes(data)


def _gif_bomb(screen: tuple[int, int], frame: tuple[int, int]) -> bytes:
    """A GIF built byte by byte whose screen or frame declares the given size, with one pixel of data."""
    header = b"GIF89a" + struct.pack("<HHBBB", *screen, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, *frame, 0)
    pixel = b"\x02\x02\x44\x01\x00"  # LZW minimum code size 2: clear, index 0, end
    return header + descriptor + pixel + b"\x3b"


def _gif_animation(frames: int, size: tuple[int, int]) -> bytes:
    """`frames` copies of one real frame Pillow encoded, each with its own 20 ms delay.

    Built by repeating bytes because Pillow merges identical frames and takes minutes to write thousands.
    """
    still = images.encode(images.photo(*size).quantize(16), "GIF")
    descriptor = still.index(b"\x2c\x00\x00\x00\x00")  # the image descriptor at (0, 0)
    head, frame = still[:descriptor], still[descriptor:-1]  # -1: the trailer
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    control = b"\x21\xf9\x04\x00\x02\x00\x00\x00"  # 20 ms, no disposal
    return head + loop + (control + frame) * frames + b"\x3b"


def _apng(frames: int) -> bytes:
    pictures = [Image.new("RGB", (32, 24), (frame % 256, frame // 256 % 256, 90)) for frame in range(frames)]
    return images.encode(pictures[0], "PNG", save_all=True, append_images=pictures[1:], duration=20)


def _webp_animation(frames: int) -> bytes:
    pictures = [Image.new("RGB", (32, 24), (frame % 256, frame // 256 % 256, 90)) for frame in range(frames)]
    return images.encode(
        pictures[0], "WEBP", save_all=True, append_images=pictures[1:], duration=20, lossless=True, minimize_size=False
    )


def _apng_claiming_frames(claimed: int) -> bytes:
    """One real frame, but an animation control chunk (acTL) that declares `claimed`."""
    return _png_with_chunk_after_header(_png_chunk(b"acTL", struct.pack(">II", claimed, 0)))


def _tiff_pages(pages: int) -> bytes:
    """A little-endian TIFF of `pages` 1x1 grey pages sharing one byte of pixel data."""
    pixel_at, first_page_at = 8, 9
    out = bytearray(b"II*\x00" + struct.pack("<I", first_page_at) + b"\x80")
    entries = [(256, 1), (257, 1), (258, 8), (259, 1), (262, 1), (273, pixel_at), (278, 1), (279, 1)]
    for page in range(pages):
        out += struct.pack("<H", len(entries))
        for tag, value in entries:
            out += struct.pack("<HHII", tag, 4, 1, value)  # every field a LONG
        last = page == pages - 1
        out += struct.pack("<I", 0 if last else len(out) + 4)
    return bytes(out)


def _tiff(width: int, height: int, samples: int, bits: int, pixel: bytes, *, photometric: int = 2) -> bytes:
    """An uncompressed single-strip TIFF; `pixel` is one pixel's bytes, repeated."""
    entries = {256: width, 257: height, 259: 1, 262: photometric, 277: samples, 278: height}
    if samples == 4:
        entries[338] = 2  # ExtraSamples: unassociated alpha
    count = len(entries) + 3  # plus BitsPerSample, StripOffsets, StripByteCounts
    bits_at = 8 + 2 + 12 * count + 4
    data_at = bits_at + 2 * samples
    data = pixel * (width * height)
    fields = [(tag, 4, 1, value) for tag, value in entries.items()]
    fields += [(258, 3, samples, bits_at), (273, 4, 1, data_at), (279, 4, 1, len(data))]
    out = bytearray(b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", count))
    for tag, kind, number, value in sorted(fields):
        out += struct.pack("<HHII", tag, kind, number, value)
    out += struct.pack("<I", 0) + struct.pack(f"<{samples}H", *[bits] * samples) + data
    return bytes(out)


def _with_exif_segment(payload: bytes) -> bytes:
    jpeg = images.jpeg(400, 300)
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def _exif_out_of_range() -> bytes:
    # Orientation 9 (valid: 1-8) and a Make tag whose 4 GB length runs far past the file.
    return _with_exif_segment(
        b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x02"
        b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x09\x00\x00"
        b"\x01\x0f\x00\x02\xff\xff\xff\xff\x00\x00\x00\x10"
    )


def _exif_loop() -> bytes:
    # IFD0 points its Exif and GPS sub-IFDs and its next IFD back at itself.
    return _with_exif_segment(
        b"Exif\x00\x00II\x2a\x00\x08\x00\x00\x00\x03\x00"
        b"\x69\x87\x04\x00\x01\x00\x00\x00\x08\x00\x00\x00"
        b"\x25\x88\x04\x00\x01\x00\x00\x00\x08\x00\x00\x00"
        b"\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00"
        b"\x08\x00\x00\x00"
    )


def _exif_fields(exif: dict[int, tuple[int, object]], gps: dict[int, tuple[int, object]] | None = None) -> bytes:
    """A JPEG whose EXIF holds Make "Canon", the given Exif-directory fields and GPS fields, each as typed."""
    return images.jpeg_with_raw_exif(images.raw_exif({0x010F: (images.ASCII, b"Canon\x00")}, exif, gps or {}))


def _zip(name: str, payload: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, payload)
    return buffer.getvalue()


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _bad_png_checksum() -> bytes:
    data = bytearray(images.encode(images.photo(64, 48), "PNG"))
    data[29] ^= 0xFF  # the IHDR chunk's CRC
    return bytes(data)


def _zero_size_jpeg() -> bytes:
    data = bytearray(images.jpeg(400, 300))
    start_of_frame = data.find(b"\xff\xc0")
    data[start_of_frame + 5 : start_of_frame + 9] = bytes(4)
    return bytes(data)


def _png_with_text_chunks(count: int) -> bytes:
    return _png_with_chunk_after_header(_png_chunk(b"tEXt", b"k\x00v") * count)


_SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>\n'
_SVG_ENTITIES = (  # "billion laughs": must never be parsed
    b'\xef\xbb\xbf  <?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    b'<svg xmlns="http://www.w3.org/2000/svg"><text>&c;&c;&c;&c;</text></svg>'
)
_HTML = b"<!DOCTYPE html>\n<html><head><title>x</title></head><body><script>alert(1)</script></body></html>\n"
# An ISO-BMFF "ftyp" box as iPhones write it, then an empty "meta" box.
_HEIC_HEADER_ONLY = struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00mif1heic" + struct.pack(">I", 8) + b"meta"


def _iphone_heic() -> bytes:
    """A 640x480 photo stored sideways, rotated by the container (irot) and tagged EXIF Orientation 6, as iPhones do."""
    return images.heic(images.photo(480, 640).transpose(Image.Transpose.ROTATE_90), transform=6)


def _heic_declaring(width: int, height: int) -> bytes:
    """A small HEIC whose `ispe` property claims another size: the decoder would find out only when decoding."""
    data = images.heic(images.photo(320, 240))
    at = data.index(b"ispe") + 8  # after the type and the full box's version and flags
    return data[:at] + struct.pack(">II", width, height) + data[at + 8 :]


def _heic_item_text_changed(text: bytes) -> bytes:
    """A HEIC whose item description text `text` starts with 0xFC, which no UTF-8 text does."""
    data = images.heic(images.photo(320, 240))
    at = data.index(text, data.index(b"iinf"))
    return data[:at] + b"\xfc" + data[at + 1 :]


def _avif_declaring(width: int, height: int) -> bytes:
    return images.with_ispe(images.encode(images.photo(64, 64), "AVIF"), width, height)


def _heic_zeroed_decoder_configuration() -> bytes:
    data = images.heic(images.photo(320, 240))
    at = data.index(b"hvcC") + 4
    return data[:at] + bytes(40) + data[at + 40 :]


def _iphone_heic_with_thumbnail() -> bytes:
    """_iphone_heic with the 320-pixel thumbnail iPhones embed, rotated by the container as the photo is."""
    return images.heic(images.photo(480, 640).transpose(Image.Transpose.ROTATE_90), transform=6, thumbnails=(320,))


def _cropped(data: bytes) -> bytes:
    """The file with a `clap` crop to its centre half, listed before its rotation (MIAF's order)."""
    return images.heif_with_property(data, b"clap", struct.pack(">IIIIiIiI", 240, 1, 160, 1, 0, 1, 0, 1))


def _photo(fmt: str, **params: object) -> Callable[[], bytes]:
    return lambda: images.encode(images.photo(320, 240), fmt, **params)


# --- the catalogue ------------------------------------------------------------------------------------

_JPEG = images.jpeg  # a plain 640x480 photo, for the key cases

CONTENT_CASES: tuple[Case, ...] = (
    Case("empty", "a 0-byte file", f"{PREFIX}empty.jpg", lambda: b"", "REJECTED", "empty_object"),
    Case(
        "text-as-jpg",
        "a text file renamed `.jpg`",
        f"{PREFIX}notes.jpg",
        lambda: b"Meeting notes, 3 May: nothing to see here.\n" * 20,
        "REJECTED",
        "not_an_image",
        note="recognised by content, never by file name or Content-Type",
    ),
    Case("html-as-jpg", "an HTML page renamed `.jpg`", f"{PREFIX}page.jpg", lambda: _HTML, "REJECTED", "not_an_image"),
    Case(
        "random-bytes",
        "64 KB of random bytes named `.png`",
        f"{PREFIX}noise.png",
        lambda: random.Random(7).randbytes(65536),
        "REJECTED",
        "not_an_image",
    ),
    Case(
        "zip-as-jpg",
        "a ZIP archive renamed `.jpg`",
        f"{PREFIX}archive.jpg",
        lambda: _zip("photo.jpg", images.jpeg(200, 100)),
        "REJECTED",
        "not_an_image",
    ),
    Case(
        "truncated-jpeg",
        "a JPEG cut off halfway",
        f"{PREFIX}half.jpg",
        lambda: _truncated(images.jpeg(800, 600)),
        "REJECTED",
        "truncated_image",
    ),
    Case(
        "truncated-png",
        "a PNG cut off halfway",
        f"{PREFIX}half.png",
        lambda: _truncated(images.encode(images.photo(800, 600), "PNG")),
        "REJECTED",
        "truncated_image",
    ),
    Case(
        "truncated-gif",
        "a GIF cut off halfway",
        f"{PREFIX}half.gif",
        lambda: _truncated(images.encode(images.photo(400, 300), "GIF")),
        "REJECTED",
        "truncated_image",
    ),
    Case(
        "truncated-webp",
        "a WebP cut off halfway",
        f"{PREFIX}half.webp",
        lambda: _truncated(images.encode(images.photo(400, 300), "WEBP")),
        "REJECTED",
        "truncated_image",
    ),
    Case(
        "jpeg-header-only",
        "only the first 300 bytes of a JPEG",
        f"{PREFIX}header.jpg",
        lambda: images.jpeg(800, 600)[:300],
        "REJECTED",
        "truncated_image",
    ),
    Case(
        "jpeg-zero-size",
        "a JPEG whose header says 0x0 pixels",
        f"{PREFIX}zero.jpg",
        _zero_size_jpeg,
        "REJECTED",
        "corrupt_image",
    ),
    Case(
        "png-bad-checksum",
        "a PNG with a wrong header checksum",
        f"{PREFIX}crc.png",
        _bad_png_checksum,
        "REJECTED",
        "corrupt_image",
    ),
    Case(
        "jpeg-trailing-junk",
        "a JPEG with 1 MB of junk after its end",
        f"{PREFIX}junk.jpg",
        lambda: images.jpeg() + random.Random(3).randbytes(1024 * 1024),
        "PROCESSED",
        note="the thumbnail is re-encoded from pixels, so nothing after the image reaches it",
    ),
    Case(
        "jpeg-zip-polyglot",
        "a JPEG with a ZIP archive appended (valid as both)",
        f"{PREFIX}polyglot.jpg",
        lambda: images.jpeg() + _zip("payload.html", _HTML),
        "PROCESSED",
        note="the thumbnail holds no trace of the archive",
    ),
    Case(
        "png-zip-polyglot",
        "a PNG with a ZIP archive appended",
        f"{PREFIX}polyglot.png",
        lambda: images.encode(images.photo(320, 240), "PNG") + _zip("payload.html", _HTML),
        "PROCESSED",
    ),
    Case(
        "gif-html-polyglot",
        "a GIF with an HTML script appended",
        f"{PREFIX}polyglot.gif",
        lambda: images.encode(images.photo(160, 120), "GIF") + _HTML,
        "PROCESSED",
    ),
    Case(
        "png-bomb",
        "a 177-byte PNG declaring 100,000 x 100,000 pixels",
        f"{PREFIX}bomb.png",
        lambda: _png(100_000, 100_000, color_type=0, rows=1),
        "REJECTED",
        "decompression_bomb",
        note="rejected from the header, before any pixel is decoded",
    ),
    Case(
        "gif-bomb-screen",
        "a GIF declaring a 65,535 x 65,535 screen",
        f"{PREFIX}bomb-screen.gif",
        lambda: _gif_bomb((65535, 65535), (1, 1)),
        "REJECTED",
        "decompression_bomb",
        note="rejected from the header",
    ),
    Case(
        "gif-bomb-frame",
        "a 1x1 GIF whose frame declares 65,535 x 65,535",
        f"{PREFIX}bomb-frame.gif",
        lambda: _gif_bomb((1, 1), (65535, 65535)),
        "REJECTED",
        "decompression_bomb",
        note="rejected from the frame's header",
    ),
    Case(
        "png-over-limit",
        "a PNG of 12,000 x 12,000 (1.44 times MAX_IMAGE_PIXELS)",
        f"{PREFIX}over.png",
        lambda: _png(12_000, 12_000, color_type=0, rows=1),
        "REJECTED",
        "too_many_pixels",
        note="1-2 times MAX_IMAGE_PIXELS; over 2 times it is decompression_bomb",
    ),
    Case(
        "png-text-bomb",
        "a PNG with a compressed text chunk (zTXt) that inflates to 64 MB",
        f"{PREFIX}text-bomb.png",
        lambda: _png_with_chunk_after_header(_png_chunk(b"zTXt", b"Comment\x00\x00" + _zlib_of_zeros(64 * 1024**2))),
        "REJECTED",
        "decompression_bomb",
        note="Pillow stops inflating a text or profile chunk at 1 MB",
    ),
    Case(
        "png-icc-bomb",
        "a PNG whose colour profile (iCCP) inflates to 64 MB",
        f"{PREFIX}icc-bomb.png",
        lambda: _png_with_chunk_after_header(_png_chunk(b"iCCP", b"icc\x00\x00" + _zlib_of_zeros(64 * 1024**2))),
        "REJECTED",
        "decompression_bomb",
    ),
    Case(
        "jpeg-pixel-flood",
        "a 40 KB JPEG whose header claims 65,500 x 65,500",
        f"{PREFIX}flood.jpg",
        lambda: _jpeg_with_size(65_500, 65_500),
        "REJECTED",
        "decompression_bomb",
        note="rejected from the header",
    ),
    Case(
        "jpeg-flood-at-limit",
        "a 40 KB JPEG whose header claims 10,000 x 10,000 (data for 800 x 600)",
        f"{PREFIX}flood-limit.jpg",
        lambda: _jpeg_with_size(LIMIT_SIDE, LIMIT_SIDE),
        "PROCESSED",
        note="decoded as a 1/8-scale draft; libjpeg fills the rows it has no data for with grey",
    ),
    Case(
        "gif-5000-frames",
        "an animated GIF of 5,000 frames",
        f"{PREFIX}frames.gif",
        lambda: _gif_animation(5000, (64, 48)),
        "PROCESSED",
        frame_count=5000,
        note="thumbnail of the first frame; `frame_count` 5000",
    ),
    Case(
        "gif-100000-frames",
        "a 4 MB animated GIF of 100,000 frames",
        f"{PREFIX}frames-100k.gif",
        lambda: _gif_animation(100_000, (4, 4)),
        "PROCESSED",
        frame_count=100_000,
        note="frames are counted, not decoded",
    ),
    Case(
        "apng-3000-frames",
        "an animated PNG of 3,000 frames",
        f"{PREFIX}frames.png",
        lambda: _apng(3000),
        "PROCESSED",
        frame_count=3000,
    ),
    Case(
        "webp-2000-frames",
        "an animated WebP of 2,000 frames",
        f"{PREFIX}frames.webp",
        lambda: _webp_animation(2000),
        "PROCESSED",
        frame_count=2000,
    ),
    Case(
        "apng-claims-frames",
        "a one-frame PNG whose animation chunk claims 2,147,483,647 frames",
        f"{PREFIX}claims.png",
        lambda: _apng_claiming_frames(2_147_483_647),
        "PROCESSED",
        note="`frame_count` is what the file declares",
    ),
    Case(
        "tiff-40000-pages",
        "a 4 MB TIFF of 40,000 pages",
        f"{PREFIX}pages.tif",
        lambda: _tiff_pages(40_000),
        "PROCESSED",
        frame_count=40_000,
        heavy=True,
    ),
    Case(
        "svg",
        "an SVG drawing",
        f"{PREFIX}drawing.svg",
        lambda: _SVG,
        "REJECTED",
        "unsupported_format",
        note="never parsed: no XML, no entities, no external references",
    ),
    Case(
        "svg-entities",
        "an SVG with a byte-order mark and an entity-expansion bomb",
        f"{PREFIX}laughs.svg",
        lambda: _SVG_ENTITIES,
        "REJECTED",
        "unsupported_format",
    ),
    Case(
        "svgz",
        "a gzip-compressed SVG (`.svgz`)",
        f"{PREFIX}drawing.svgz",
        lambda: gzip.compress(_SVG, mtime=0),
        "REJECTED",
        "not_an_image",
        note="compressed, so it does not look like SVG",
    ),
    Case(
        "pdf",
        "a PDF",
        f"{PREFIX}scan.pdf",
        _photo("PDF"),
        "REJECTED",
        "unsupported_format",
        note="recognised by its signature; `reason_detail` names the format",
    ),
    Case(
        "avif",
        "an AVIF photo",
        f"{PREFIX}photo.avif",
        _photo("AVIF", quality=60),
        "PROCESSED",
        note="Pillow 13 decodes AVIF itself",
    ),
    Case(
        "avif-ispe-under-coded",
        "an AVIF whose `ispe` says 64 x 64 over a real 2,048 x 2,048 AV1 frame",
        f"{PREFIX}ispe-small.avif",
        lambda: images.with_ispe(
            images.encode(Image.new("RGB", (2048, 2048), (90, 140, 200)), "AVIF", quality=0, speed=10), 64, 64
        ),
        "REJECTED",
        "corrupt_image",
        note="every AV1 and HEVC item's own size (sequence header, SPS) is compared with `ispe` before decoding; "
        "libavif would decode the large frame and scale it to the declared size",
    ),
    Case(
        "avif-ispe-over-coded",
        "an AVIF whose `ispe` says 640 x 480 over a 64 x 64 AV1 frame",
        f"{PREFIX}ispe-large.avif",
        lambda: images.with_ispe(images.encode(images.photo(64, 64), "AVIF", quality=60, speed=10), 640, 480),
        "REJECTED",
        "corrupt_image",
    ),
    Case(
        "avif-coded-16384",
        "a 454-byte AVIF whose `ispe` says 64 x 64 but whose AV1 sequence header says 16,384 x 16,384",
        f"{PREFIX}coded-16384.avif",
        lambda: images.avif_coding(16_384, 16_384),
        "REJECTED",
        "decompression_bomb",
        note="the size the decoder would allocate counts against the limit, whatever `ispe` says",
    ),
    Case(
        "avif-coded-12288",
        "an AVIF whose `ispe` says 64 x 64 but whose AV1 sequence header says 12,288 x 12,288",
        f"{PREFIX}coded-12288.avif",
        lambda: images.avif_coding(12_288, 12_288),
        "REJECTED",
        "too_many_pixels",
    ),
    Case(
        "avif-animation-track-under-coded",
        "an animated AVIF whose track header says 64 x 64 over 1,024 x 1,024 frames",
        f"{PREFIX}track-small.avif",
        lambda: images.with_track_size(
            images.encode(
                Image.new("RGB", (1024, 1024), "red"),
                "AVIF",
                save_all=True,
                append_images=[Image.new("RGB", (1024, 1024), "blue")],
                speed=10,
                quality=0,
            ),
            64,
            64,
        ),
        "REJECTED",
        "corrupt_image",
        note="an animation is shown from its track: the first frame's sequence header must match the track header",
    ),
    Case(
        "ico",
        "a Windows icon (`.ico`)",
        f"{PREFIX}favicon.ico",
        _photo("ICO"),
        "REJECTED",
        "unsupported_format",
        note="Pillow reads it, but it is not an accepted format",
    ),
    Case("jpeg2000", "a JPEG 2000 image", f"{PREFIX}photo.jp2", _photo("JPEG2000"), "REJECTED", "unsupported_format"),
    Case("tga", "a TGA image", f"{PREFIX}photo.tga", _photo("TGA"), "REJECTED", "unsupported_format"),
    Case("eps", "an EPS file", f"{PREFIX}figure.eps", _photo("EPS"), "REJECTED", "unsupported_format"),
    Case(
        "exif-out-of-range",
        "a JPEG whose EXIF has orientation 9 and a tag 4 GB long",
        f"{PREFIX}exif-range.jpg",
        _exif_out_of_range,
        "PROCESSED",
        note="EXIF never rejects an image: orientation taken as 1, the broken field dropped",
    ),
    Case(
        "exif-loop",
        "a JPEG whose EXIF directories point back at themselves",
        f"{PREFIX}exif-loop.jpg",
        _exif_loop,
        "PROCESSED",
        note="each directory read once; orientation 6 applied",
    ),
    Case(
        "exif-huge-number",
        "a JPEG whose EXIF FNumber is the double 1e300",
        f"{PREFIX}exif-1e300.jpg",
        lambda: _exif_fields({0x829D: (images.DOUBLE, (1e300,)), 0x8827: (images.SHORT, (200,))}),
        "PROCESSED",
        note="a number DynamoDB cannot store (not finite, past 1E+125 or below 1E-130) is dropped and named in "
        "`exif.dropped`; the other fields stay",
    ),
    Case(
        "exif-bad-gps",
        "a JPEG whose EXIF GPS longitude is text",
        f"{PREFIX}exif-gps.jpg",
        lambda: _exif_fields(
            {0x8827: (images.SHORT, (200,))},
            {1: (images.ASCII, b"N\x00"), 2: (images.RATIONAL, (52, 1, 22, 1, 30, 1)), 4: (images.ASCII, b"east\x00")},
        ),
        "PROCESSED",
        note="with `INCLUDE_GPS=true`, both coordinates are dropped and named in `exif.dropped`; nothing else is",
    ),
    Case(
        "exif-noncharacters",
        "a JPEG whose EXIF lens model holds Unicode noncharacters, an unpaired surrogate and control characters",
        f"{PREFIX}exif-text.jpg",
        lambda: _exif_fields({0xA434: (images.UNDEFINED, "Lens\ufffe\ufdd0\x07 Pro".encode() + b"\xed\xa0\x80")}),
        "PROCESSED",
        note="text keeps what can be stored: noncharacters and surrogates removed, control characters made spaces",
    ),
    Case(
        "icc-garbage",
        "a JPEG whose 1 MB \u201cICC profile\u201d is text",
        f"{PREFIX}icc-text.jpg",
        lambda: images.encode(images.photo(400, 300), "JPEG", quality=85, icc_profile=ICC_TEXT),
        "PROCESSED",
        note="the profile is ignored (`icc_profile_ignored` says why) and never reaches the thumbnail, which "
        "carries no profile",
    ),
    Case(
        "display-p3",
        "a photo tagged Display P3, as phones take them",
        f"{PREFIX}p3.jpg",
        lambda: images.encode(
            Image.new("RGB", (400, 300), P3_COLOUR), "JPEG", quality=95, icc_profile=images.display_p3_profile()
        ),
        "PROCESSED",
        note="converted to sRGB, so browsers show its colours; `icc_profile` names the profile",
    ),
    Case(
        "cmyk-jpeg",
        "a CMYK JPEG (as print workflows write)",
        f"{PREFIX}cmyk.jpg",
        lambda: images.encode(Image.new("CMYK", (400, 300), (0, 255, 255, 0)), "JPEG", quality=90),
        "PROCESSED",
        note="converted to RGB for the thumbnail; `mode` CMYK in the record",
    ),
    Case(
        "cmyk-tiff",
        "a CMYK TIFF",
        f"{PREFIX}cmyk.tif",
        lambda: images.encode(Image.new("CMYK", (400, 300), (0, 255, 255, 0)), "TIFF"),
        "PROCESSED",
    ),
    Case(
        "png-16-bit-grey",
        "a 16-bit greyscale PNG",
        f"{PREFIX}grey16.png",
        lambda: images.encode(Image.linear_gradient("L").resize((512, 256)).convert("I;16"), "PNG"),
        "PROCESSED",
        note="scaled to 8 bits, not clipped; `mode` I;16 in the record",
    ),
    Case(
        "png-16-bit-rgba",
        "a 16-bit-per-channel RGBA PNG",
        f"{PREFIX}rgba16.png",
        lambda: _png(512, 256, color_type=6, depth=16),
        "PROCESSED",
    ),
    Case(
        "tiff-16-bit-rgb",
        "a 16-bit-per-channel RGB TIFF",
        f"{PREFIX}rgb16.tif",
        lambda: _tiff(256, 128, 3, 16, struct.pack("<3H", 65535, 0, 1000)),
        "PROCESSED",
    ),
    Case(
        "tiff-16-bit-grey-big-endian",
        "a big-endian 16-bit greyscale TIFF (as scanners and older Macs write them)",
        f"{PREFIX}grey16-mm.tif",
        lambda: images.big_endian_grey_tiff(Image.linear_gradient("L").resize((512, 256)).convert("I;16")),
        "PROCESSED",
        note="byte order read from the file; `mode` I;16B in the record",
    ),
    Case(
        "tiff-float",
        "a 32-bit floating-point TIFF",
        f"{PREFIX}float.tif",
        lambda: images.encode(Image.linear_gradient("L").resize((256, 128)).convert("F"), "TIFF"),
        "PROCESSED",
        note="scaled from its own range",
    ),
)

# Each file is rejected from its structure alone, by image_processor/prechecks.py, before any decoder runs.
# The small ones prove a check triggers; the heavy ones are the red-team's full-size files (issue 22),
# which took 2 to 45 s, or up to 1.2 GB, before the checks (docs/reliability.md, "Cheap pre-checks").
STRUCTURE_CASES: tuple[Case, ...] = (
    Case(
        "jpeg-empty-segments",
        "a 400 KB JPEG with 100,000 empty comment segments before its image",
        f"{PREFIX}segments.jpg",
        lambda: images.jpeg_with_empty_segments(100_000),
        "REJECTED",
        "too_many_segments",
        note="counting stops at 1,000 marker segments; a segment holds up to 64 KB, so no real file has that many",
    ),
    Case(
        "jpeg-empty-segments-12mb",
        "a 12 MB JPEG with 3,000,000 empty comment segments",
        f"{PREFIX}segments-12mb.jpg",
        lambda: images.jpeg_with_empty_segments(3_000_000),
        "REJECTED",
        "too_many_segments",
        heavy=True,
    ),
    Case(
        "jpeg-5000-scans",
        "a 1 MB progressive JPEG of 10,000 x 10,000 with 5,000 scans",
        f"{PREFIX}scans.jpg",
        lambda: images.progressive_jpeg(LIMIT_SIDE, LIMIT_SIDE, ((1, 1),), ac_scans=5000),
        "REJECTED",
        "too_many_scans",
        note="scans are counted without decoding; the limit is 100 (real progressive photos have about 10)",
    ),
    Case(
        "jpeg-progressive-cmyk-at-limit",
        "a 781 KB progressive CMYK JPEG of 10,000 x 10,000",
        f"{PREFIX}progressive-cmyk.jpg",
        lambda: images.progressive_jpeg(LIMIT_SIDE, LIMIT_SIDE, ((1, 1),) * 4),
        "REJECTED",
        "too_many_pixels",
        note="a progressive JPEG keeps all its DCT coefficients while decoding, here 8 bytes a pixel: that must fit "
        "where a full-size RGB decode of MAX_IMAGE_PIXELS would (4 bytes a pixel), so this kind is accepted up to "
        "50 MP. A baseline CMYK JPEG decodes as a reduced draft and is accepted up to the limit",
    ),
    Case(
        "jpeg-progressive-cmyk-header",
        "a 763-byte progressive CMYK JPEG of 10,000 x 10,000, cut off after its header",
        f"{PREFIX}progressive-cmyk-header.jpg",
        lambda: images.progressive_jpeg(LIMIT_SIDE, LIMIT_SIDE, ((1, 1),) * 4, data=False),
        "REJECTED",
        "too_many_pixels",
    ),
    Case(
        "jpeg-progressive-444-at-limit",
        "a progressive JPEG of 10,000 x 10,000 with full-resolution colour (4:4:4)",
        f"{PREFIX}progressive-444.jpg",
        lambda: images.progressive_jpeg(LIMIT_SIDE, LIMIT_SIDE, ((1, 1),) * 3),
        "REJECTED",
        "too_many_pixels",
        note="6 bytes a pixel of DCT coefficients: accepted up to 66 MP; with half-resolution colour (4:2:0, "
        "what cameras write) 3 bytes a pixel, accepted up to the limit",
    ),
    Case(
        "tiff-strips-past-size",
        "an 800 KB TIFF of 1 x 2 pixels listing 100,000 strips",
        f"{PREFIX}strips.tif",
        lambda: images.tiff_strips(1, 2, 100_000),
        "REJECTED",
        "too_many_strips",
        note="a TIFF's strips (or tiles) must be as many as its size needs",
    ),
    Case(
        "tiff-strips-32mb",
        "a 32 MB TIFF of 1 x 2 pixels listing 4,000,000 strips",
        f"{PREFIX}strips-32mb.tif",
        lambda: images.tiff_strips(1, 2, 4_000_000),
        "REJECTED",
        "too_many_strips",
        heavy=True,
    ),
    Case(
        "tiff-strips-over-cap",
        "a TIFF of 1 x 200,000 pixels in 200,000 one-row strips",
        f"{PREFIX}strips-cap.tif",
        lambda: images.tiff_strips(1, 200_000, 200_000),
        "REJECTED",
        "too_many_strips",
        note="at most 100,000 strips or tiles (a 100 MP RGB image in libtiff's 8 KB strips has 40,000)",
    ),
    Case(
        "gif-100001-frames",
        "a 4 MB animated GIF of 100,001 frames",
        f"{PREFIX}frames-over.gif",
        lambda: _gif_animation(100_001, (4, 4)),
        "REJECTED",
        "too_many_frames",
        note="frames are counted up to 100,000 and no further: `reason_detail` says the file has more",
    ),
    Case(
        "gif-1200000-frames",
        "a 50 MB animated GIF of 1,200,000 frames",
        f"{PREFIX}frames-50mb.gif",
        lambda: _gif_animation(1_200_000, (4, 4)),
        "REJECTED",
        "too_many_frames",
        heavy=True,
    ),
    Case(
        "png-text-chunks",
        "a 1.5 MB PNG with 100,000 text chunks (tEXt)",
        f"{PREFIX}text-chunks.png",
        lambda: _png_with_text_chunks(100_000),
        "REJECTED",
        "too_many_segments",
        note="at most 1,000 chunks besides image data, 100,000 in all",
    ),
    Case(
        "png-text-chunks-35mb",
        "a 35 MB PNG with 2,350,000 text chunks",
        f"{PREFIX}text-chunks-35mb.png",
        lambda: _png_with_text_chunks(2_350_000),
        "REJECTED",
        "too_many_segments",
        heavy=True,
    ),
    Case(
        "bmp-rle-runs-of-one",
        "a 6 MB 8-bit RLE BMP of 2,000 x 1,500 coded as runs of one pixel",
        f"{PREFIX}runs.bmp",
        lambda: images.bmp_rle8(2000, 1500, 1),
        "REJECTED",
        "too_many_runs",
        note="Pillow decodes BMP RLE in Python, a loop step per run: its steps are added up from the file, and "
        "a file that would take over 1 s is rejected",
    ),
    Case(
        "bmp-rle-runs-of-one-50mb",
        "a 50 MB 8-bit RLE BMP of 5,000 x 5,000 coded as runs of one pixel",
        f"{PREFIX}runs-50mb.bmp",
        lambda: images.bmp_rle8(5000, 5000, 1),
        "REJECTED",
        "too_many_runs",
        heavy=True,
    ),
    Case(
        "bmp-rle-empty-lines",
        "a 6 MB 8-bit RLE BMP of 10 x 10 whose data starts with 3,000,000 empty line ends",
        f"{PREFIX}empty-lines.bmp",
        lambda: images.bmp_rle8(10, 10, 1, empty_lines=3_000_000),
        "REJECTED",
        "too_many_runs",
    ),
    Case(
        "bmp-rle",
        "an 8-bit RLE BMP of 2,000 x 1,500 in runs of 255 pixels",
        f"{PREFIX}rle.bmp",
        lambda: images.bmp_rle8(2000, 1500, 255),
        "PROCESSED",
    ),
    Case(
        "jpeg-progressive",
        "a progressive JPEG photo",
        f"{PREFIX}progressive.jpg",
        lambda: images.jpeg(1600, 1200, progressive=True),
        "PROCESSED",
    ),
)

HEIC_CASES: tuple[Case, ...] = (
    Case(
        "heic",
        "an iPhone HEIC photo (rotated by the container and by EXIF Orientation 6)",
        f"{PREFIX}IMG_0001.HEIC",
        _iphone_heic,
        "PROCESSED",
        note="turned upright once: libheif applies the container's rotation, and EXIF's then counts as done",
    ),
    Case("heic-named-jpg", "a HEIC photo named `.jpg`", f"{PREFIX}IMG_0002.jpg", _iphone_heic, "PROCESSED"),
    Case("jpeg-named-heic", "a JPEG named `.heic`", f"{PREFIX}IMG_0003.heic", _JPEG, "PROCESSED"),
    Case("heic-no-extension", "a HEIC photo with no extension", f"{PREFIX}IMG_0004", _iphone_heic, "PROCESSED"),
    Case(
        "heic-burst",
        "a HEIC holding three images (a burst), the second one primary",
        f"{PREFIX}burst.heic",
        lambda: images.heic([images.photo(320, 240, seed=seed) for seed in (1, 2, 3)], primary=1),
        "PROCESSED",
        frame_count=3,
        note="thumbnail of the primary image; `frame_count` 3",
    ),
    Case(
        "heic-10-bit", "a 10-bit HEIC", f"{PREFIX}deep.heic", lambda: images.heic(images.photo(), bits=10), "PROCESSED"
    ),
    Case("heic-empty", "a 0-byte `.heic`", f"{PREFIX}empty.heic", lambda: b"", "REJECTED", "empty_object"),
    Case(
        "heic-truncated",
        "a HEIC cut off halfway",
        f"{PREFIX}cut.heic",
        lambda: _truncated(_iphone_heic()),
        "REJECTED",
        "truncated_image",
        note="libheif finds that its data ends before the file does",
    ),
    Case(
        "heic-header-only",
        "a HEIC `ftyp` box and an empty `meta` box",
        f"{PREFIX}header.heic",
        lambda: _HEIC_HEADER_ONLY,
        "REJECTED",
        "corrupt_image",
    ),
    Case(
        "heic-corrupt",
        "a HEIC whose decoder configuration (hvcC) is zeroed",
        f"{PREFIX}corrupt.heic",
        _heic_zeroed_decoder_configuration,
        "REJECTED",
        "corrupt_image",
    ),
    Case(
        "heic-pixel-flood",
        "a 30 KB HEIC whose header claims 20,000 x 20,000",
        f"{PREFIX}flood.heic",
        lambda: _heic_declaring(20_000, 20_000),
        "REJECTED",
        "decompression_bomb",
        note="rejected from the header, before libheif decodes anything",
    ),
    Case(
        "heic-ispe-under-coded",
        "a HEIC whose `ispe` says 64 x 48 over a 320 x 240 HEVC picture",
        f"{PREFIX}ispe-small.heic",
        lambda: images.with_ispe(images.heic(images.photo(320, 240)), 64, 48),
        "REJECTED",
        "corrupt_image",
        note="the SPS's picture size, less its conformance window, must equal `ispe`",
    ),
    Case(
        "heic-exif-item-type-not-text",
        "a HEIC whose Exif item's type has one byte changed to a non-UTF-8 one",
        f"{PREFIX}item-type.heic",
        lambda: _heic_item_text_changed(b"Exif"),
        "REJECTED",
        "corrupt_image",
        note="pi-heif 1.4.0 crashes opening it (a segmentation fault): the item descriptions' texts are checked first",
    ),
    Case(
        "heic-over-half-limit",
        "a HEIC whose header claims 8,000 x 7,000 (56 MP)",
        f"{PREFIX}large.heic",
        lambda: _heic_declaring(8_000, 7_000),
        "REJECTED",
        "too_many_pixels",
        note="HEIF is accepted up to half of MAX_IMAGE_PIXELS, as it decodes into a frame of libheif's own "
        "that Pillow copies; an iPhone's 48 MP photo (8,064 x 6,048) fits",
    ),
    Case(
        "heic-embedded-thumbnail",
        "an iPhone HEIC with its embedded 320-pixel thumbnail",
        f"{PREFIX}IMG_0005.HEIC",
        _iphone_heic_with_thumbnail,
        "PROCESSED",
        note="made from the embedded copy, upright (`thumbnail_source` `embedded`); from the photo itself when "
        "the copy is smaller than the thumbnail made, not a faithful copy, or `EMBEDDED_THUMBNAILS=false`",
    ),
    Case(
        "heic-mif2",
        "a HEIC whose major brand is `mif2`",
        f"{PREFIX}mif2.heic",
        lambda: images.heif_with_major_brand(_iphone_heic(), b"mif2"),
        "PROCESSED",
        note="any brand libheif reads is HEIF",
    ),
    Case(
        "heic-cropped",
        "a HEIC cropped by a `clap` box before its rotation",
        f"{PREFIX}cropped.heic",
        lambda: _cropped(images.heic(images.photo(480, 320), transform=6)),
        "PROCESSED",
        note="the crop applied where the file lists it; `width` and `height` are the cropped size",
    ),
    Case(
        "avif-cropped",
        "an AVIF cropped by a `clap` box",
        f"{PREFIX}cropped.avif",
        lambda: _cropped(images.encode(images.photo(480, 320), "AVIF")),
        "PROCESSED",
    ),
    Case(
        "heif-avc",
        "a HEIF file of AVC (H.264) images",
        f"{PREFIX}avc.heif",
        lambda: images.heif_with_major_brand(images.heif_with_item_type(_iphone_heic(), b"hvc1", b"avc1"), b"avci"),
        "REJECTED",
        "unsupported_format",
        note='"a HEIF file of AVC (H.264) images"; JPEG, VVC and other codecs likewise',
    ),
    Case(
        "avif-289-megapixels",
        "an AVIF declaring 17,000 x 17,000 (289 MP)",
        f"{PREFIX}huge.avif",
        lambda: _avif_declaring(17_000, 17_000),
        "REJECTED",
        "decompression_bomb",
        note="from its boxes, before libavif refuses it unread; `too_many_pixels` under a limit of 144.5 MP or "
        "more, as for every format",
    ),
)

AT_LIMIT_CASES: tuple[Case, ...] = (
    Case(
        "limit-png-grey",
        "a 97 KB greyscale PNG of exactly 10,000 x 10,000",
        f"{PREFIX}limit-grey.png",
        lambda: _png(LIMIT_SIDE, LIMIT_SIDE, color_type=0),
        "PROCESSED",
        max_mb=AT_LIMIT_MB,
        max_seconds=AT_LIMIT_SECONDS,
        heavy=True,
        note="the largest image accepted; decoded at full size",
    ),
    Case(
        "limit-png-rgb",
        "a 290 KB RGB PNG of 10,000 x 10,000",
        f"{PREFIX}limit-rgb.png",
        lambda: _png(LIMIT_SIDE, LIMIT_SIDE, color_type=2),
        "PROCESSED",
        max_mb=AT_LIMIT_MB,
        max_seconds=AT_LIMIT_SECONDS,
        heavy=True,
    ),
    Case(
        "limit-png-rgba",
        "a 390 KB RGBA PNG of 10,000 x 10,000",
        f"{PREFIX}limit-rgba.png",
        lambda: _png(LIMIT_SIDE, LIMIT_SIDE, color_type=6),
        "REJECTED",
        "too_many_pixels",
        max_mb=AT_LIMIT_MB,
        max_seconds=AT_LIMIT_SECONDS,
        heavy=True,
    ),
    Case(
        "limit-png-palette-alpha",
        "a 97 KB palette PNG with transparency of 10,000 x 10,000",
        f"{PREFIX}limit-palette.png",
        lambda: _png(
            LIMIT_SIDE,
            LIMIT_SIDE,
            color_type=3,
            extra=_png_chunk(b"PLTE", b"\x00\x00\x00\xff\xff\xff") + _png_chunk(b"tRNS", b"\x00"),
        ),
        "REJECTED",
        "too_many_pixels",
        max_mb=AT_LIMIT_MB,
        max_seconds=AT_LIMIT_SECONDS,
        heavy=True,
    ),
    Case(
        "limit-png-16-bit-grey",
        "a 190 KB 16-bit greyscale PNG of 10,000 x 10,000",
        f"{PREFIX}limit-grey16.png",
        lambda: _png(LIMIT_SIDE, LIMIT_SIDE, color_type=0, depth=16),
        "PROCESSED",
        max_mb=AT_LIMIT_MB,
        max_seconds=AT_LIMIT_SECONDS,
        heavy=True,
    ),
    Case(
        "limit-tiff-16-bit-grey-big-endian",
        "a 195 KB big-endian 16-bit greyscale TIFF of 10,000 x 10,000",
        f"{PREFIX}limit-grey16-mm.tif",
        lambda: images.big_endian_grey_tiff(Image.new("I;16", (LIMIT_SIDE, LIMIT_SIDE))),
        "PROCESSED",
        max_mb=AT_LIMIT_MB,
        max_seconds=AT_LIMIT_SECONDS,
        heavy=True,
        note="widened to 32 bits once (Pillow cannot resample this byte order), then thumbnailed",
    ),
    Case(
        "limit-tiff-float",
        "a 32-bit floating-point TIFF of 10,000 x 10,000",
        f"{PREFIX}limit-float.tif",
        lambda: images.encode(Image.new("F", (LIMIT_SIDE, LIMIT_SIDE)), "TIFF", compression="tiff_adobe_deflate"),
        "PROCESSED",
        max_mb=AT_LIMIT_MB,
        max_seconds=AT_LIMIT_SECONDS,
        heavy=True,
        note="thumbnailed in 32 bits, then mapped to 8",
    ),
    Case(
        "limit-webp-rgba",
        "a 4 KB lossless WebP of 10,000 x 10,000 with alpha",
        f"{PREFIX}limit.webp",
        lambda: images.encode(Image.new("RGBA", (LIMIT_SIDE, LIMIT_SIDE)), "WEBP", lossless=True),
        "REJECTED",
        "too_many_pixels",
        max_mb=AT_LIMIT_MB,
        max_seconds=AT_LIMIT_SECONDS,
        heavy=True,
    ),
    Case(
        "limit-avif",
        "a 3 KB AVIF of 10,000 x 10,000 with alpha",
        f"{PREFIX}limit.avif",
        lambda: images.encode(Image.new("RGBA", (LIMIT_SIDE, LIMIT_SIDE)), "AVIF", speed=10, quality=10),
        "REJECTED",
        "too_many_pixels",
        max_mb=AT_LIMIT_MB,
        max_seconds=AT_LIMIT_SECONDS,
        heavy=True,
    ),
    Case(
        "limit-jpeg-progressive-420",
        "a 293 KB progressive JPEG of 10,000 x 10,000 with half-resolution colour (4:2:0)",
        f"{PREFIX}limit-progressive.jpg",
        lambda: images.progressive_jpeg(LIMIT_SIDE, LIMIT_SIDE, ((2, 2), (1, 1), (1, 1))),
        "PROCESSED",
        max_mb=AT_LIMIT_MB,
        max_seconds=AT_LIMIT_SECONDS,
        heavy=True,
        note="decoded as a reduced draft, but from all its DCT coefficients: 300 MB, inside the 4 bytes a pixel "
        "of the limit",
    ),
    Case(
        "half-limit-png-rgba",
        "an RGBA PNG of 7,071 x 7,071",
        f"{PREFIX}half-limit-rgba.png",
        lambda: _png(HALF_LIMIT_SIDE, HALF_LIMIT_SIDE, color_type=6),
        "PROCESSED",
        max_mb=AT_LIMIT_MB,
        max_seconds=AT_LIMIT_SECONDS,
        heavy=True,
        note="the largest image with transparency accepted (half of MAX_IMAGE_PIXELS)",
    ),
    Case(
        "half-limit-png-palette-alpha",
        "a palette PNG with transparency of 7,071 x 7,071",
        f"{PREFIX}half-limit-palette.png",
        lambda: _png(
            HALF_LIMIT_SIDE,
            HALF_LIMIT_SIDE,
            color_type=3,
            extra=_png_chunk(b"PLTE", b"\x00\x00\x00\xff\xff\xff") + _png_chunk(b"tRNS", b"\x00"),
        ),
        "PROCESSED",
        max_mb=AT_LIMIT_MB,
        max_seconds=AT_LIMIT_SECONDS,
        heavy=True,
    ),
    Case(
        "half-limit-webp-rgba",
        "a lossless WebP of 7,071 x 7,071 with alpha",
        f"{PREFIX}half-limit.webp",
        lambda: images.encode(Image.new("RGBA", (HALF_LIMIT_SIDE, HALF_LIMIT_SIDE)), "WEBP", lossless=True),
        "PROCESSED",
        max_mb=WEBP_AT_LIMIT_MB,
        max_seconds=AT_LIMIT_SECONDS,
        heavy=True,
        note="the largest WebP accepted (half of MAX_IMAGE_PIXELS)",
    ),
    Case(
        "half-limit-avif",
        "an AVIF of 7,071 x 7,071 with alpha",
        f"{PREFIX}half-limit.avif",
        lambda: images.encode(Image.new("RGBA", (HALF_LIMIT_SIDE, HALF_LIMIT_SIDE)), "AVIF", speed=10, quality=10),
        "PROCESSED",
        max_mb=AT_LIMIT_MB,
        max_seconds=AT_LIMIT_SECONDS,
        heavy=True,
    ),
)


def _key_case(name: str, upload: str, key: str, make: Callable[[], bytes] = _JPEG, **expected: object) -> Case:
    return Case(name, upload, key, make, expected.pop("status", "PROCESSED"), **expected)


# Characters from S3's object key guidelines, every group of them.
S3_SAFE = "!-_.*'()"
S3_SPECIAL_HANDLING = "&$@=;/:+ ,?"
S3_CONTROL = "".join(map(chr, range(1, 32))) + "\x7f"
S3_AVOID = '\\{^}%`]">[~<#|'

KEY_CASES: tuple[Case, ...] = (
    _key_case(
        "key-1024-ascii",
        "a key of exactly 1,024 bytes (S3's maximum)",
        "k" * (S3_MAX_KEY_BYTES - 4) + ".jpg",
        note="thumbnail key `thumbnails/_long/<sha256 of the key>.webp`: the usual one would pass 1,024 bytes",
    ),
    _key_case("key-1024-utf8", "a 1,024-byte key of 2-byte characters", "é" * 510 + ".jpg", note="as above"),
    _key_case(
        "key-safe",
        f"a key with S3's safe characters `{S3_SAFE}`",
        f"{PREFIX}safe {S3_SAFE}.jpg",
        note="thumbnail key `thumbnails/` + key + `.webp`, record key = the key as uploaded (all key cases)",
    ),
    _key_case(
        "key-special",
        "a key with the characters S3 says need special handling `& $ @ = ; / : + space , ?`",
        f"{PREFIX}special {S3_SPECIAL_HANDLING}.jpg",
        note="S3's event encodes the key (`+` for a space, `%2B` for `+`); it is decoded once",
    ),
    _key_case(
        "key-control",
        "a key with every ASCII control character (1-31, 127), newline and tab included",
        f"{PREFIX}control {S3_CONTROL}.jpg",
        note="log lines stay one JSON object each: control characters are escaped",
    ),
    _key_case(
        "key-avoid",
        'a key with the characters S3 says to avoid: `` \\ { ^ } % ` ] " > [ ~ < # | ``',
        f"{PREFIX}avoid {S3_AVOID}.jpg",
    ),
    _key_case(
        "key-encoded-lookalike",
        "a key that looks URL-encoded: `%2B+%20%25`",
        f"{PREFIX}%2B+%20%25.jpg",
        note="decoded exactly once: the record's key is `hostile/%2B+%20%25.jpg`",
    ),
    _key_case(
        "key-unicode",
        "a key with accents, emoji, right-to-left override and a combining (NFD) accent",
        f"{PREFIX}café ☕ 👍🏽 \u202egpj.exe e\u0301.jpg",
        note="stored as given, not normalised: NFC and NFD spellings are two uploads",
    ),
    _key_case(
        "key-dot-segments",
        "a key with `//`, `./` and `../` segments",
        f"{PREFIX}a//b/./../c.jpg",
        note="no path normalisation: its own key",
    ),
    _key_case(
        "key-folder-marker",
        "a 0-byte key ending in `/` (a console \u201cfolder\u201d)",
        f"{PREFIX}folder/",
        lambda: b"",
        status="REJECTED",
        reason="empty_object",
    ),
)

CASES: tuple[Case, ...] = CONTENT_CASES + STRUCTURE_CASES + HEIC_CASES + AT_LIMIT_CASES + KEY_CASES


def light_cases() -> tuple[Case, ...]:
    """The cases cheap enough to upload by the hundred: no 100-megapixel decodes, no slow ones."""
    return tuple(case for case in CASES if not case.heavy)


def readme_tables() -> str:
    """docs/reliability.md's "What happens when you upload X" tables, as `python -m sample_images.catalogue` prints."""
    groups = [
        ("Files", CONTENT_CASES),
        ("Files built to make a decoder slow or big", STRUCTURE_CASES),
        ("HEIC photos, as iPhones save them", HEIC_CASES),
        ("Images at the pixel limit (`MAX_IMAGE_PIXELS` = 100,000,000)", AT_LIMIT_CASES),
        ("Keys (each a 640 x 480 JPEG, unless said otherwise)", KEY_CASES),
    ]
    return "\n\n".join(_table(title, cases) for title, cases in groups) + "\n"


def _table(title: str, cases: tuple[Case, ...]) -> str:
    rows = [f"| {title} | outcome | notes |", "|---|---|---|"]
    for case in cases:
        outcome = case.status if case.reason is None else f"{case.status} `{case.reason}`"
        notes = [case.note] if case.note else []
        notes += [f"**Known issue:** {bug}" for bug in (case.outcome_bug, case.budget_bug) if bug]
        rows.append(f"| {_cell(case.upload)} | {outcome} | {_cell('. '.join(notes))} |")
    return "\n".join(rows)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def case_named(name: str) -> Case:
    (case,) = [case for case in CASES if case.name == name]
    return case


if __name__ == "__main__":
    print(readme_tables(), end="")
