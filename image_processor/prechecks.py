"""Cheap checks on an upload's bytes, before any decoder sees them. Pure: bytes in, a rejection out.

Each check walks a format's structure without decoding a pixel, stops as soon as a cap is passed, and
rejects files whose structure would make the decoder slow or big out of all proportion to their size:
thousands of empty JPEG segments or scans, PNG chunks or GIF frames, TIFF strip lists longer than the
image, BMP run-length data that Pillow's pure-Python decoder would step through millions of times, and
JPEGs whose decode keeps every DCT coefficient in memory. Real photos are far below every cap (numbers in
docs/reliability.md, "Cheap pre-checks"). Anything the walks cannot follow is left to the decoder, which
gives its own reason (truncated_image, corrupt_image).
"""

from __future__ import annotations

import math
import re
import struct

from image_processor.images import ImageRejectedError

# JPEG: every marker segment (APPn, COM, tables, frame and scan headers) counts. A segment holds at most
# 65,533 bytes, so 1,000 of them pass any upload the size limit lets in: only a file of tiny, empty
# segments reaches this (Pillow reads each APPn and COM segment in Python: 3 M of them took 2-7 s and 270 MB).
MAX_JPEG_SEGMENTS = 1_000
# A baseline JPEG has 1 scan (or one a component), a progressive one 10 with libjpeg's default script. Each
# scan makes libjpeg visit every block of the image again: 7-13 ms a scan at 100 MP, so 100 scans keep a
# decode under 1.5 s. libjpeg-turbo leaves this limit to the application (TJPARAM_SCANLIMIT); its own fuzz
# targets use 500, for images of at most 1 MP.
MAX_JPEG_SCANS = 100
# What a full-size decode may cost per pixel of MAX_IMAGE_PIXELS: an RGB frame (config.py explains the limit).
DECODE_BYTES_PER_PIXEL = 4
# A decode that needs more than one pass over the data keeps every DCT coefficient, 2 bytes each.
_COEFFICIENT_BYTES_PER_BLOCK = 64 * 2
# PNG: image data (IDAT, and fdAT with fcTL for each animation frame) comes in as many chunks as the encoder
# likes; every other chunk (text, profile, metadata) is read by Pillow in Python, one at a time.
MAX_PNG_CHUNKS = 100_000
MAX_PNG_METADATA_CHUNKS = 1_000
_PNG_IMAGE_DATA_CHUNKS = frozenset({b"IDAT", b"fdAT", b"fcTL"})
# GIF: frames are counted, not decoded, but counting walks every data block. Encoders write 255-byte blocks,
# so a 50 MiB GIF has about 200,000 of them.
MAX_GIF_FRAMES = 100_000
MAX_GIF_BLOCKS = 1_000_000
# TIFF: Pillow makes a Python tile of every strip or tile of an uncompressed image. libtiff's default aims at
# 8 KB strips, one row each once a row is longer: 10,000 for a 100 MP image, 40,000 with four channels in
# separate planes; 256x256 tiles make 1,526.
MAX_TIFF_STRIPS = 100_000
# A page's fields (tags), each read by Pillow in Python: real pages have tens.
MAX_TIFF_FIELDS = 1_000
# BMP RLE: Pillow decodes it in Python, a loop step per run and per line end and, when it pads a line or
# draws 4-bit RLE, per pixel. What a step costs, measured on a shared 2-core x86_64 machine (0.3-0.8 us a
# run or line end, 0.1-0.15 us a pixel, by load), and the decode time allowed: a real RLE image takes a step
# per run of up to 255 pixels.
_BMP_RLE_STEP_NS, _BMP_RLE_PIXEL_NS = 500, 150
MAX_BMP_RLE_DECODE_NS = 1_000_000_000
_BMP_RLE_SLICE = 4096

_JPEG_FRAMES = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_PROGRESSIVE_FRAMES = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_JPEG_START_OF_SCAN, _JPEG_END_OF_IMAGE = 0xDA, 0xD9
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: markers without a length
# A marker is 0xFF (any number of them: fill bytes) then a byte other than 0x00 (a stuffed 0xFF in data).
# (Spelled \xff\xff* rather than \xff+ so that the regex engine can jump from one 0xFF to the next.)
_JPEG_MARKER = re.compile(rb"\xff\xff*([^\x00\xff])")
# Inside a scan's entropy-coded data the restart markers belong to the data.
_JPEG_MARKER_AFTER_SCAN = re.compile(rb"\xff\xff*([^\x00\xd0-\xd7\xff])")


def check(data: bytes, *, max_pixels: int) -> None:
    """Raises ImageRejectedError when the file's structure is over a cap; silent for anything else.

    A GIF's frames are counted once, by gif_frame_count, when imaging asks for the frame count (also
    before any decoding)."""
    if data.startswith(b"\xff\xd8"):
        _check_jpeg(data, max_pixels)
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        _check_png(data)
    elif data.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        _check_tiff(data)
    elif data.startswith(b"BM"):
        _check_bmp_rle(data)


# --- JPEG -------------------------------------------------------------------------------------------------


def _check_jpeg(data: bytes, max_pixels: int) -> None:
    segments = scans = 0
    frame: tuple[int, bytes] | None = None
    pattern, at = _JPEG_MARKER, 2
    while match := pattern.search(data, at):
        marker, at = match[1][0], match.end()
        pattern = _JPEG_MARKER
        if marker == _JPEG_END_OF_IMAGE:
            break
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise ImageRejectedError(
                "too_many_segments",
                f"the JPEG has more than {MAX_JPEG_SEGMENTS:,} marker segments (APPn, COM, tables) "
                f"{'before its first scan' if not scans else f'in its {scans:,} scans'}; real photos have under 100",
            )
        if marker in _JPEG_STANDALONE:
            continue
        if at + 2 > len(data):
            break
        (length,) = struct.unpack_from(">H", data, at)
        if marker in _JPEG_FRAMES and frame is None:
            frame = (marker, data[at + 2 : at + length])
        if marker == _JPEG_START_OF_SCAN:
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise ImageRejectedError(
                    "too_many_scans",
                    f"the JPEG has more than {MAX_JPEG_SCANS:,} scans, each a pass of the decoder over the whole "
                    "image; real progressive photos have about 10",
                )
            if _single_pass(frame, data[at + 2 : at + 3]):
                break  # libjpeg decodes the image from this one scan and skips the rest in C
            pattern = _JPEG_MARKER_AFTER_SCAN
        at += length
    if frame is not None:
        _check_jpeg_memory(*frame, scans=scans, max_pixels=max_pixels)


def _single_pass(frame: tuple[int, bytes] | None, components_in_scan: bytes) -> bool:
    """Whether the first scan of a sequential JPEG holds all its components: then it is the whole image."""
    return frame is not None and frame[0] not in _JPEG_PROGRESSIVE_FRAMES and frame[1][5:6] == components_in_scan


def _check_jpeg_memory(marker: int, header: bytes, *, scans: int, max_pixels: int) -> None:
    """A progressive JPEG, or one whose components come in separate scans, is decoded from a buffer of all
    its DCT coefficients: 2 bytes each, a coefficient per pixel per component at full resolution. That
    buffer must fit where a full-size RGB decode of MAX_IMAGE_PIXELS would."""
    if len(header) < 6 or (marker not in _JPEG_PROGRESSIVE_FRAMES and scans <= 1):
        return
    height, width, count = struct.unpack_from(">HHB", header, 1)
    sampling = [(byte >> 4, byte & 0x0F) for byte in header[7 : 6 + 3 * count : 3]]
    pixels = width * height
    if not pixels or not sampling or pixels > max_pixels or 0 in {factor for pair in sampling for factor in pair}:
        return  # the decoder's own checks and the pixel limit speak for these
    h_max, v_max = max(h for h, _ in sampling), max(v for _, v in sampling)
    blocks = 0
    for h, v in sampling:
        # libjpeg pads each component's block grid to whole MCUs (jdinput.c, jround_up).
        across = math.ceil(math.ceil(width * h / h_max) / 8)
        down = math.ceil(math.ceil(height * v / v_max) / 8)
        blocks += (across + -across % h) * (down + -down % v)
    needed = blocks * _COEFFICIENT_BYTES_PER_BLOCK
    budget = max_pixels * DECODE_BYTES_PER_PIXEL
    if needed > budget:
        per_pixel = needed / pixels
        kind = "progressive JPEG" if marker in _JPEG_PROGRESSIVE_FRAMES else "JPEG in several scans"
        raise ImageRejectedError(
            "too_many_pixels",
            f"{width}x{height} = {pixels:,} pixels is over {math.floor(budget / per_pixel):,}, the limit for a "
            f"{kind} with {len(sampling)} components at these samplings: decoding it keeps all its DCT "
            f"coefficients ({needed:,} bytes, {per_pixel:.1f} a pixel), over the {budget:,} bytes "
            f"MAX_IMAGE_PIXELS={max_pixels:,} allows a decode ({DECODE_BYTES_PER_PIXEL} a pixel)",
        )


# --- PNG --------------------------------------------------------------------------------------------------


def _check_png(data: bytes) -> None:
    chunks = metadata = 0
    at = 8
    while at + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, at)
        if kind == b"IEND":
            return
        chunks += 1
        metadata += kind not in _PNG_IMAGE_DATA_CHUNKS
        if metadata > MAX_PNG_METADATA_CHUNKS:
            raise ImageRejectedError(
                "too_many_segments",
                f"the PNG has more than {MAX_PNG_METADATA_CHUNKS:,} chunks besides its image data "
                f"(text, profiles, metadata; this one {kind.decode('latin-1')!r}); real images have a few",
            )
        if chunks > MAX_PNG_CHUNKS:
            raise ImageRejectedError(
                "too_many_segments", f"the PNG has more than {MAX_PNG_CHUNKS:,} chunks; real images have under 10,000"
            )
        at += 12 + length


# --- GIF --------------------------------------------------------------------------------------------------


def gif_frame_count(data: bytes) -> int:
    """The number of images in a GIF, counted by walking its blocks without decoding any; raises
    ImageRejectedError past MAX_GIF_FRAMES frames or MAX_GIF_BLOCKS blocks. Stops at the trailer, at a
    byte that starts no block, or at the end of the data (a cut-off file: the decoder says so)."""
    frames = blocks = 0
    at = 13 + _gif_colour_table_size(data, 10)
    while at < len(data):
        introducer = data[at]
        if introducer == 0x2C:  # an image: descriptor, optional colour table, LZW code size, data blocks
            frames += 1
            if frames > MAX_GIF_FRAMES:
                raise ImageRejectedError(
                    "too_many_frames",
                    f"the GIF has more than {MAX_GIF_FRAMES:,} frames (counting stopped there); the longest real "
                    "animations have a few thousand",
                )
            at += 10 + _gif_colour_table_size(data, at + 9) + 1
        elif introducer == 0x21:  # an extension: label, then data blocks
            at += 2
        else:
            break
        while at < len(data) and data[at]:
            at += data[at] + 1
            blocks += 1
            if blocks > MAX_GIF_BLOCKS:
                raise ImageRejectedError(
                    "too_many_segments",
                    f"the GIF has more than {MAX_GIF_BLOCKS:,} data blocks (after {frames:,} frames); encoders "
                    "write 255-byte blocks, about 200,000 in 50 MiB",
                )
        at += 1
    return max(frames, 1)


def _gif_colour_table_size(data: bytes, flags_at: int) -> int:
    flags = data[flags_at] if flags_at < len(data) else 0
    return 3 << ((flags & 0x07) + 1) if flags & 0x80 else 0


# --- TIFF -------------------------------------------------------------------------------------------------

_TIFF_WIDTH, _TIFF_HEIGHT, _TIFF_SAMPLES, _TIFF_ROWS_PER_STRIP, _TIFF_PLANAR = 256, 257, 277, 278, 284
_TIFF_STRIP_OFFSETS, _TIFF_TILE_WIDTH, _TIFF_TILE_LENGTH, _TIFF_TILE_OFFSETS = 273, 322, 323, 324
# Field types whose first value is read here: BYTE, SHORT, LONG, LONG8 (sizes and struct codes).
_TIFF_INTEGERS = {1: (1, "B"), 3: (2, "H"), 4: (4, "I"), 16: (8, "Q")}


def _check_tiff(data: bytes) -> None:
    """The first page's strips (or tiles) must be as many as its size needs, and at most MAX_TIFF_STRIPS."""
    fields = _tiff_first_page(data)
    width, height = fields.get(_TIFF_WIDTH, (0, 0))[1], fields.get(_TIFF_HEIGHT, (0, 0))[1]
    if not width or not height:
        return
    planes = fields.get(_TIFF_SAMPLES, (1, 1))[1] if fields.get(_TIFF_PLANAR, (1, 1))[1] == 2 else 1
    if _TIFF_TILE_OFFSETS in fields:
        tile_width, tile_length = fields.get(_TIFF_TILE_WIDTH, (0, 0))[1], fields.get(_TIFF_TILE_LENGTH, (0, 0))[1]
        if not tile_width or not tile_length:
            return
        kind, listed = "tiles", fields[_TIFF_TILE_OFFSETS][0]
        needed = math.ceil(width / tile_width) * math.ceil(height / tile_length) * planes
        layout = f"{tile_width}x{tile_length} tiles"
    elif _TIFF_STRIP_OFFSETS in fields:
        rows = min(fields.get(_TIFF_ROWS_PER_STRIP, (1, height))[1] or height, height)
        kind, listed = "strips", fields[_TIFF_STRIP_OFFSETS][0]
        needed = math.ceil(height / rows) * planes
        layout = f"{rows:,}-row strips"
    else:
        return
    planes_text = f" in {planes} planes" if planes > 1 else ""
    if listed > needed:
        raise ImageRejectedError(
            "too_many_strips",
            f"the TIFF lists {listed:,} {kind} but {width}x{height} in {layout}{planes_text} needs {needed:,}",
        )
    if listed > MAX_TIFF_STRIPS:
        raise ImageRejectedError(
            "too_many_strips",
            f"the TIFF's first page is stored in {listed:,} {kind} ({width}x{height} in {layout}{planes_text}), "
            f"over {MAX_TIFF_STRIPS:,}; real images have a few thousand",
        )


def _tiff_first_page(data: bytes) -> dict[int, tuple[int, int]]:
    """The first IFD's fields as {tag: (count, first value)}; the value is 0 unless it is an integer stored
    in the entry itself (a count's list lives elsewhere in the file and is never read)."""
    order = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")
    # Classic TIFF: 2-byte entry count, 12-byte entries, 4-byte counts and values. BigTIFF: 8, 20, 8.
    number, count_format, entry_size, value_size = ("Q", "Q", 20, 8) if big else ("H", "I", 12, 4)
    first_ifd_at = 8 if big else 4
    if len(data) < first_ifd_at + value_size:
        return {}
    (ifd,) = struct.unpack_from(order + ("Q" if big else "I"), data, first_ifd_at)
    entries_at = ifd + struct.calcsize(number)
    if entries_at > len(data):
        return {}
    (entries,) = struct.unpack_from(order + number, data, ifd)
    if entries > MAX_TIFF_FIELDS:
        raise ImageRejectedError(
            "too_many_segments",
            f"the TIFF's first page has {entries:,} fields, over {MAX_TIFF_FIELDS:,}; real pages have tens",
        )
    fields = {}
    for index in range(min(entries, (len(data) - entries_at) // entry_size)):
        at = entries_at + index * entry_size
        tag, kind, count = struct.unpack_from(order + "HH" + count_format, data, at)
        size, code = _TIFF_INTEGERS.get(kind, (0, ""))
        inline = 0 < size * count <= value_size
        value_at = at + 4 + struct.calcsize(count_format)
        fields[tag] = (count, struct.unpack_from(order + code, data, value_at)[0] if inline else 0)
    return fields


# --- BMP --------------------------------------------------------------------------------------------------


def _check_bmp_rle(data: bytes) -> None:
    """Follows 8- and 4-bit RLE data as Pillow's decoder does, adding up what its steps cost, until
    MAX_BMP_RLE_DECODE_NS. A stretch of runs (up to the next zero count) or of line ends (zero bytes) is
    taken at once, so the walk stays in C for the shapes an attack repeats; other escapes cost a Python step."""
    if len(data) < 54 or struct.unpack_from("<I", data, 14)[0] < 40:
        return
    (pixels_at,) = struct.unpack_from("<I", data, 10)
    width, height, _, bits, compression = struct.unpack_from("<iiHHI", data, 18)
    if compression not in (1, 2) or width <= 0 or height == 0:
        return
    rle4, total = compression == 2, width * abs(height)
    if (len(data) - pixels_at) // 2 * _BMP_RLE_STEP_NS + total * _BMP_RLE_PIXEL_NS <= MAX_BMP_RLE_DECODE_NS:
        return  # even if every two bytes were a line end and every pixel a step: no need to walk
    cost = produced = x = 0
    at, end = pixels_at, len(data) - 1
    while produced < total and at < end and cost <= MAX_BMP_RLE_DECODE_NS:
        count, value = data[at], data[at + 1]
        if count:  # runs of one colour, up to the next escape; Pillow clips them at the line's end
            counts = data[at : at + 2 * _bmp_steps_left(cost) : 2]
            escape = counts.find(0)
            counts = counts if escape < 0 else counts[:escape]
            run = min(sum(counts), max(0, width - x), total - produced)
            produced, x = produced + run, x + run
            cost += len(counts) * _BMP_RLE_STEP_NS + (run * _BMP_RLE_PIXEL_NS if rle4 else 0)
            at += 2 * len(counts)
        elif value == 0:  # line ends: the first pads the line one pixel at a time, the rest do nothing
            stretch = data[at : at + 2 * _bmp_steps_left(cost)]
            stop = at + (len(stretch) - len(stretch.lstrip(b"\x00"))) // 2 * 2
            padding = -produced % width
            produced, x = produced + padding, 0
            cost += (stop - at) // 2 * _BMP_RLE_STEP_NS + padding * _BMP_RLE_PIXEL_NS
            at = stop
        elif value == 1:  # end of bitmap
            break
        elif value == 2:  # delta: skip right and down
            skip = data[at + 2] + data[at + 3] * width if at + 3 < len(data) else 0
            produced = min(total, produced + skip)
            x, at, cost = produced % width, at + 4, cost + _BMP_RLE_STEP_NS
        else:  # absolute: `value` literal pixels, then padding to a 16-bit boundary
            run = min(total - produced, value)
            stored = (run + 1) // 2 if rle4 else run
            at += 2 + stored
            at += at % 2
            produced, x = produced + run, x + value
            cost += _BMP_RLE_STEP_NS + (run * _BMP_RLE_PIXEL_NS if rle4 else 0)
    if cost > MAX_BMP_RLE_DECODE_NS:
        raise ImageRejectedError(
            "too_many_runs",
            f"the BMP's {bits}-bit RLE data ({width}x{abs(height)}) would take Pillow's pure-Python decoder over "
            f"{MAX_BMP_RLE_DECODE_NS / 1e9:g} s: it steps once per run and line end, and once per pixel when it pads a "
            "line or draws 4-bit RLE; real RLE images take a step per run of up to 255 pixels",
        )


def _bmp_steps_left(cost: int) -> int:
    """How many run or line-end steps to take at once: as many as the budget allows plus the one that would
    pass it, in slices of at most _BMP_RLE_SLICE so a long file is not copied whole for a short stretch."""
    return min((MAX_BMP_RLE_DECODE_NS - cost) // _BMP_RLE_STEP_NS + 1, _BMP_RLE_SLICE)
