"""Thumbnails and image metadata with Pillow. Pure functions: no AWS, no I/O beyond memory.

The fast path decodes each image once: `Image.open` reads only the header (format, size,
EXIF), `Image.thumbnail` then asks the JPEG decoder for a DCT-scaled draft (1/2, 1/4 or 1/8
of full size) and resamples that, and only the small result is rotated for EXIF orientation.
Applying `ImageOps.exif_transpose` first would force a full-size decode and rotation, which is
several times slower on large photos and needs several times the memory.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pi_heif
from PIL import Image, UnidentifiedImageError

from image_processor import coded_size, colour, heif, isobmff, prechecks
from image_processor.exif import read_exif
from image_processor.fingerprints import fingerprints
from image_processor.images import ImageInfo, ImageRejectedError, Thumbnail

# AVIF before HEIF: both live in ISO BMFF (`ftyp`) files, and Pillow tries the formats in this order.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "AVIF", "HEIF")
_DOUBLE_BUFFERED_FORMATS = ("WEBP", "AVIF", "HEIF")
# The codecs whose HEIF files are decoded: HEVC (HEIC) by libheif through pi-heif, AV1 (AVIF) by Pillow's libavif.
_DECODED_HEIF_CODECS = ("HEVC", "AV1")
THUMBNAIL_QUALITY = 80
# thumbnail() decodes a JPEG draft at least reducing_gap times the target box, then resamples.
# 1.4 lets a 4000x3000 photo decode at 1/8 scale (500x375, still ~2x the thumbnail) instead of 1/4:
# 6x faster than a full decode and on par with libvips, at 44-50 dB PSNR against a full-resolution
# LANCZOS resize, where differences are invisible (bench/RESULTS.md). Pillow's docs call 3.0
# indistinguishable from fair resampling; the thumbnail's own resample closes most of that gap.
REDUCING_GAP = 1.4

# Orientation tag values (EXIF 2.3, tag 0x0112) and the transpose that makes the image upright:
# the same table ImageOps.exif_transpose uses, applied here to the small thumbnail.
_UPRIGHT_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# HEIF/HEIC through pi-heif (libheif with its HEVC decoder): the primary image only, so the thumbnails,
# depth maps and auxiliary images a phone stores beside it are neither decoded nor kept.
pi_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
# pi-heif's own check knows ten major brands and misses mif2/mif3 and files that list `heic` as a compatible
# brand only: every ISO BMFF file but an AVIF one goes to libheif, whose reader decides by all its brands.
Image.register_open(pi_heif.HeifImageFile.format, pi_heif.HeifImageFile, lambda prefix: _is_heif_candidate(prefix))


def make_thumbnails(
    data: bytes,
    *,
    sizes: Sequence[int],
    max_pixels: int,
    include_gps: bool = False,
    embedded_thumbnails: bool = True,
) -> tuple[ImageInfo, tuple[Thumbnail, ...]]:
    """Decodes `data` once and returns its metadata and one WebP thumbnail per size, each fitting size x size.

    The largest is made from the decoded image and every other from the largest, so each extra size
    costs one small resize and encode, not another decode. With `embedded_thumbnails`, a HEIF file's own
    thumbnail is decoded instead of the image when it is a faithful copy at least that large
    (heif.thumbnail_item). Raises ImageRejectedError for anything that is not a well-formed image we accept.
    """
    if not data:
        raise ImageRejectedError("empty_object", "the object is 0 bytes long")
    limit_decoder_pixels(max_pixels)
    _check_riff_complete(data)
    prechecks.check(data, max_pixels=max_pixels)
    _check_item_texts(data)
    _check_heif_container(data, max_pixels)
    decoded, crop = _uncropped(data)
    with _rejecting_decode_errors(), _open(decoded) as image:
        _check_pixels(image, max_pixels)
        if image.format in ("AVIF", "HEIF"):
            _check_coded_sizes(data, max_pixels)
        width, height = (crop[2] - crop[0], crop[3] - crop[1]) if crop else image.size
        orientation, exif = read_exif(image, include_gps=include_gps)
        if image.format == "HEIF":
            orientation = _heif_orientation(image, data, exif)
        conversion = colour.conversion_for(image)
        embedded = _embedded_thumbnail(image, data, (width, height), max(sizes)) if embedded_thumbnails else None
        info = ImageInfo(
            format=image.format or "",
            mime_type=image.get_format_mimetype() or "",
            width=width,
            height=height,
            display_width=height if orientation >= 5 else width,
            display_height=width if orientation >= 5 else height,
            mode=image.mode,
            frame_count=_frame_count(image, data),
            exif=exif,
            icc_profile=conversion.description,
            icc_profile_ignored=conversion.ignored,
            thumbnail_source="embedded" if embedded else "primary",
        )
        # The embedded thumbnail is used only when its colour profile is the primary's, or it has none.
        largest = _decode_small(embedded or _cropped(image, crop), max(sizes), conversion)
    if orientation in _UPRIGHT_TRANSPOSE:
        largest = largest.transpose(_UPRIGHT_TRANSPOSE[orientation])
    info = replace(info, **fingerprints(largest))
    return info, tuple(_encode(_fitted(largest, size)) for size in sizes)


def make_thumbnail(
    data: bytes, *, size: int, max_pixels: int, include_gps: bool = False, embedded_thumbnails: bool = True
) -> tuple[ImageInfo, Thumbnail]:
    """make_thumbnails for one size."""
    info, (thumbnail,) = make_thumbnails(
        data, sizes=(size,), max_pixels=max_pixels, include_gps=include_gps, embedded_thumbnails=embedded_thumbnails
    )
    return info, thumbnail


def limit_decoder_pixels(max_pixels: int) -> None:
    """Aligns Pillow's own bomb check (it also guards every animation frame) with our limit; a
    process-wide setting, set by every make_thumbnails call for itself (the worker runs one at a time)."""
    Image.MAX_IMAGE_PIXELS = max_pixels


def _heif_orientation(image: Image.Image, data: bytes, exif: dict[str, Any]) -> int:
    """The EXIF orientation still to apply to a decoded HEIF image: none when the file rotates or mirrors
    itself (irot/imir properties, which libheif applies while decoding, and which the HEIF standard puts
    before EXIF), else its EXIF Orientation tag, which pi-heif reads and resets to 1 on open."""
    original = image.info.get("original_orientation")
    if _heif_transform_properties(data) or not isinstance(original, int) or not 2 <= original <= 8:
        return 1
    exif["orientation"] = original
    return original


def _embedded_thumbnail(image: Image.Image, data: bytes, visible: tuple[int, int], size: int) -> Image.Image | None:
    """The HEIF file's own thumbnail, decoded by libheif with its crop, rotation and mirroring as the primary
    image is and resized to fit `size` as the primary (`visible` once cropped) would be, when it can stand in
    for the primary (heif.thumbnail_item); else None."""
    item = heif.thumbnail_item(data, fit=size) if image.format == "HEIF" else None
    if item is None:
        return None
    try:
        decoded, crop = _uncropped(heif.as_primary(data, item))
        with Image.open(io.BytesIO(decoded), formats=("HEIF",)) as opened:
            thumbnail = _cropped(opened, crop)
            thumbnail.load()
    except Exception:  # noqa: BLE001 - a thumbnail libheif cannot decode is no reason to refuse the image
        return None
    width, height = visible
    scale = min(size / width, size / height, 1)
    box = (max(1, round(width * scale)), max(1, round(height * scale)))
    fits = thumbnail.width >= box[0] and thumbnail.height >= box[1]
    same_shape = abs(thumbnail.width * height - thumbnail.height * width) <= 2 * max(visible)
    if not fits or not same_shape or thumbnail.mode != image.mode:
        return None
    # To the size the primary image would give: the embedded one's sides may be rounded to even numbers.
    return thumbnail.resize(box, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)


def _uncropped(data: bytes) -> tuple[bytes, tuple[int, int, int, int] | None]:
    """The bytes to decode and the `clap` crop still to apply to what they decode to, for HEIF and AVIF.

    libavif ignores the crop; pi-heif's libheif refuses it (its memory limit is set from the cropped size),
    so libheif gets a copy without it, rotates and mirrors, and the crop is applied here, where the file
    lists it among those (MIAF: first)."""
    codec = heif.primary_codec(data) if heif.is_heif(data) else None
    if codec == "HEVC":
        crop = heif.crop_box(data, rotated=True)
        return (heif.without_crop(data), crop) if crop else (data, None)
    if codec == "AV1":
        return data, heif.crop_box(data, rotated=False)
    return data, None


def _cropped(image: Image.Image, crop: tuple[int, int, int, int] | None) -> Image.Image:
    return image.crop(crop) if crop else image


def _check_heif_container(data: bytes, max_pixels: int) -> None:
    """What a HEIF file's boxes already tell: a codec we do not decode, or more pixels than the limit.

    libheif and libavif refuse both at open with a generic error (libavif past its own 268 MP limit)."""
    if not heif.is_heif(data):
        return
    codec = heif.primary_codec(data)
    if codec is not None and codec not in _DECODED_HEIF_CODECS:
        raise ImageRejectedError(
            "unsupported_format", f"a HEIF file of {codec} images (decoded: HEVC, as HEIC, and AV1, as AVIF)"
        )
    item = heif.primary(data)
    size = item.size if item else None
    if size and size[0] * size[1] > max_pixels:
        pixels = size[0] * size[1]
        reason = "decompression_bomb" if pixels > 2 * max_pixels else "too_many_pixels"
        twice = "twice " if reason == "decompression_bomb" else ""
        raise ImageRejectedError(
            reason, f"{size[0]}x{size[1]} = {pixels:,} pixels is over {twice}MAX_IMAGE_PIXELS={max_pixels:,}"
        )


def _is_heif_candidate(prefix: bytes) -> bool:
    """Pillow's check for the HEIF plugin, which sees the first 16 bytes: an ISO BMFF file that is no AVIF."""
    return prefix[4:8] == b"ftyp" and prefix[8:12] not in (b"avif", b"avis")


def _heif_transform_properties(data: bytes) -> bool:
    """Whether the primary image has a rotation or a mirroring among its properties (heif.py reads a bounded
    number of boxes: a file of millions costs no more)."""
    item = heif.primary(data)
    return item is not None and any(kind in (b"irot", b"imir") for kind, _ in item.transforms)


@contextmanager
def _rejecting_decode_errors() -> Iterator[None]:
    """Turns whatever Pillow raises on a hostile or broken file into a rejection with its reason."""
    try:
        yield
    except (ImageRejectedError, MemoryError):
        raise
    except Exception as error:  # hostile files make Pillow raise almost anything
        raise _decode_failure(error) from error


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError as error:
        raise _unrecognised(data) from error


def _unrecognised(data: bytes) -> ImageRejectedError:
    claimed_format = _accepted_signature(data)
    if claimed_format == "HEIF":
        # Pillow drops the plugin's reason; libheif's says whether the file is cut off or broken.
        try:
            pi_heif.open_heif(io.BytesIO(data))
        except Exception as error:  # noqa: BLE001 - whatever libheif raised is the reason to report
            failure = _decode_failure(error)
            return ImageRejectedError(failure.reason, f"a HEIF file libheif cannot read: {failure.detail}")
    if claimed_format:
        return ImageRejectedError("corrupt_image", f"starts like a {claimed_format} file but its header is unreadable")
    other_format = _identify_any_format(data) or _sniff_unsupported(data)
    if other_format:
        accepted = ", ".join(ACCEPTED_FORMATS)
        detail = f"{other_format} is not accepted (accepted: {accepted})"
        return ImageRejectedError("unsupported_format", detail)
    head = data[:16]
    kind = "text" if _looks_like_text(data) else "binary data"
    return ImageRejectedError("not_an_image", f"content is {kind}, not an image (starts with {head!r})")


def _accepted_signature(data: bytes) -> str | None:
    signatures = {
        b"\xff\xd8\xff": "JPEG",
        b"\x89PNG\r\n\x1a\n": "PNG",
        b"GIF87a": "GIF",
        b"GIF89a": "GIF",
        b"II*\x00": "TIFF",
        b"MM\x00*": "TIFF",
        b"BM": "BMP",
    }
    for signature, name in signatures.items():
        if data.startswith(signature):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp" and data[8:12] in {b"avif", b"avis"}:
        return "AVIF"
    if heif.is_heif(data):
        return "HEIF"
    return None


def _identify_any_format(data: bytes) -> str | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.format
    except Exception:  # noqa: BLE001 - any failure simply means "not an image Pillow knows"
        return None


def _sniff_unsupported(data: bytes) -> str | None:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"%pdf"):
        return "PDF"
    if b"<svg" in head and head.startswith((b"<?xml", b"<svg", b"<!--")):
        return "SVG"
    return None


def _looks_like_text(data: bytes) -> bool:
    try:
        data[:512].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _check_pixels(image: Image.Image, max_pixels: int) -> None:
    pixels = image.width * image.height
    # Pillow's own rule: past twice its MAX_IMAGE_PIXELS a file is treated as an attack.
    if pixels > 2 * max_pixels:
        raise ImageRejectedError("decompression_bomb", f"{_size(image)} is over twice MAX_IMAGE_PIXELS={max_pixels:,}")
    if pixels > max_pixels:
        raise ImageRejectedError("too_many_pixels", f"{_size(image)} is over MAX_IMAGE_PIXELS={max_pixels:,}")
    if pixels > max_pixels // 2 and _needs_two_full_frames(image):
        raise ImageRejectedError(
            "too_many_pixels",
            f"{_size(image)} is over {max_pixels // 2:,}, half of MAX_IMAGE_PIXELS, the limit for "
            f"{image.format} images {'with transparency ' if image.format not in _DOUBLE_BUFFERED_FORMATS else ''}"
            "(decoding them needs two full-size RGBA frames)",
        )


def _needs_two_full_frames(image: Image.Image) -> bool:
    """libwebp and libavif decode into a frame of their own that Pillow copies; any other full-size
    decode with transparency is copied once more by resize(), which premultiplies alpha first."""
    if image.format in _DOUBLE_BUFFERED_FORMATS:
        return True
    return image.format != "JPEG" and ("A" in image.mode or image.has_transparency_data)


def _check_coded_sizes(data: bytes, max_pixels: int) -> None:
    """Every AV1, HEVC and grid item codes the size its `ispe` declares (coded_size.py), and a size the
    decoder can hold: AVIF and HEIF decode into a frame of their own, so half of MAX_IMAGE_PIXELS."""
    for item in coded_size.item_sizes(data):
        where = f"{item.image} ({item.codec})"
        if item.coded is None:
            raise ImageRejectedError("corrupt_image", f"{where} has {item.source}")
        size = "x".join(map(str, item.coded))
        coded = f"{where}: {item.source} codes {size} = {item.decoded_pixels:,} pixels"
        if item.decoded_pixels > 2 * max_pixels:
            raise ImageRejectedError("decompression_bomb", f"{coded}, over twice MAX_IMAGE_PIXELS={max_pixels:,}")
        if item.decoded_pixels > max_pixels // 2:
            half = f"{max_pixels // 2:,}, half of MAX_IMAGE_PIXELS, the limit for AVIF and HEIF"
            raise ImageRejectedError("too_many_pixels", f"{coded}, over {half}")
        if item.coded != item.declared:
            declared = "no size" if item.declared is None else "x".join(map(str, item.declared))
            header = "ispe property" if item.image.startswith("item") else "track header"
            detail = f"{where}: its {header} declares {declared} but {item.source} codes {size}"
            raise ImageRejectedError("corrupt_image", detail)


def _size(image: Image.Image) -> str:
    return f"{image.width}x{image.height} = {image.width * image.height:,} pixels"


def _check_riff_complete(data: bytes) -> None:
    """libwebp refuses a cut-off file with a generic error; its RIFF header says how long it should be."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 8:
        declared = int.from_bytes(data[4:8], "little") + 8
        if declared > len(data):
            raise ImageRejectedError(
                "truncated_image", f"the WebP file is {len(data):,} bytes but its header declares {declared:,}"
            )


def _check_item_texts(data: bytes) -> None:
    """The texts in an ISO BMFF file's item descriptions are UTF-8, as HEIF requires: pi-heif 1.4.0 crashes
    (a segmentation fault, while opening) on an item type or content type that is not."""
    if data[4:8] != b"ftyp":
        return
    for text in isobmff.item_texts(data):
        try:
            text.decode("utf-8")
        except UnicodeDecodeError:
            detail = f"an item description (iinf) holds text that is not UTF-8: {text[:64]!r}"
            raise ImageRejectedError("corrupt_image", detail) from None


def _frame_count(image: Image.Image, data: bytes) -> int:
    if image.format == "TIFF":
        # Pillow counts TIFF pages in quadratic time (13-23 s for 40,000 pages): walk the IFD chain instead.
        return _tiff_page_count(data)
    if image.format == "GIF":
        return prechecks.gif_frame_count(data)  # Pillow's n_frames walks every block in Python, unbounded
    return getattr(image, "n_frames", 1)


def _tiff_page_count(data: bytes) -> int:
    """Counts the IFDs (pages) of a classic or Big TIFF in one pass, stopping at a loop or the file's end."""
    order = "little" if data[:2] == b"II" else "big"
    big = int.from_bytes(data[2:4], order) == 43
    offset_size, count_size, entry_size = (8, 8, 20) if big else (4, 2, 12)
    offset = int.from_bytes(data[8:16] if big else data[4:8], order)
    seen: set[int] = set()
    while offset > 0 and offset + count_size <= len(data) and offset not in seen:
        seen.add(offset)
        entries = int.from_bytes(data[offset : offset + count_size], order)
        next_at = offset + count_size + entries * entry_size
        offset = int.from_bytes(data[next_at : next_at + offset_size], order)
    return max(len(seen), 1)


def _decode_small(image: Image.Image, size: int, conversion: colour.Conversion) -> Image.Image:
    """Decodes the first frame, reduced to fit size x size, in sRGB (RGB or RGBA), detached from the file."""
    if image.mode == "F" or image.mode.startswith("I"):
        return _deep_grey_thumbnail(image, size)
    resizable = _resizable_mode(image)
    if resizable.format == "HEIF":
        # pi-heif loads a file of several images again on every load(), into the size the image has by then:
        # the file's own image made smaller (thumbnail()) breaks the copy() below, a new image does not.
        scale = min(size / resizable.width, size / resizable.height, 1)
        box = (max(1, round(resizable.width * scale)), max(1, round(resizable.height * scale)))
        resizable = resizable.resize(box, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
    else:
        resizable.thumbnail((size, size), reducing_gap=REDUCING_GAP)
    if conversion.transform is not None:
        return colour.to_srgb(resizable, conversion)
    if resizable.mode in ("RGB", "RGBA"):
        return resizable.copy() if resizable is image else resizable
    has_alpha = "A" in resizable.mode or resizable.has_transparency_data
    return resizable.convert("RGBA" if has_alpha else "RGB")


def _fitted(image: Image.Image, size: int) -> Image.Image:
    if max(image.size) <= size:
        return image
    smaller = image.copy()
    smaller.thumbnail((size, size))
    return smaller


def _resizable_mode(image: Image.Image) -> Image.Image:
    """Converts modes Pillow cannot resample well; leaves JPEG's modes alone so draft() still works."""
    mode = image.mode
    if mode in ("RGB", "RGBA", "L", "LA", "CMYK", "YCbCr"):
        return image.convert("RGBA") if image.has_transparency_data and "A" not in mode else image
    if mode in ("P", "PA"):
        return image.convert("RGBA" if image.has_transparency_data else "RGB")
    if mode == "1":
        return image.convert("L")
    if mode in ("La", "RGBa"):
        return image.convert("RGBA")
    return image.convert("RGB")


def _deep_grey_thumbnail(image: Image.Image, size: int) -> Image.Image:
    """16-bit and 32-bit grey, resampled in its own depth, then mapped onto 0-255 ("I" -> "L" alone
    would clip at 255) with a scale and offset from the full image's range.

    Only the thumbnail is mapped: mapping the full image first took two or three full-size 32-bit
    copies (1.1 GB for a 100 MP big-endian 16-bit TIFF). Native 16-bit (I;16) resamples as it is, in
    one pass from full size, as Pillow's reduce() has no 16-bit modes; Pillow resamples another byte
    order (I;16B, from big-endian TIFFs) as if it were native and cannot swap it, so that is widened
    to 32 bits, the one full-size copy left.
    """
    deep = image if image.mode in ("I", "F", "I;16") else image.convert("I")
    scale, offset = _eight_bit_mapping(deep)
    deep.thumbnail((size, size), reducing_gap=REDUCING_GAP if deep.mode in ("I", "F") else None)
    small = deep if deep.mode in ("I", "F") else deep.convert("I")
    return small.point(lambda value: value * scale + offset).convert("L").convert("RGB")


def _eight_bit_mapping(image: Image.Image) -> tuple[float, float]:
    """(scale, offset) onto 0-255: floats from their own range, integers as 8-bit data when they fit in it."""
    low, high = image.getextrema()
    if image.mode == "F":
        if high > low:
            return 255 / (high - low), -low * 255 / (high - low)
        return 0.0, min(max(low, 0.0), 1.0) * 255  # a flat float image: assume the usual 0.0-1.0 range
    return (1.0 if high <= 255 else 255 / 65535), 0.0


def _encode(image: Image.Image) -> Thumbnail:
    buffer = io.BytesIO()
    # exif/xmp left out on purpose: the thumbnail must not carry camera or GPS data. No ICC profile either:
    # the pixels are sRGB by now, which is what an image without one means (colour.py).
    image.save(buffer, "WEBP", quality=THUMBNAIL_QUALITY, icc_profile=b"", exif=b"")
    return Thumbnail(data=buffer.getvalue(), width=image.width, height=image.height)


def _decode_failure(error: Exception) -> ImageRejectedError:
    text = f"{type(error).__name__}: {error}".strip()
    # Pillow refuses text and ICC chunks that inflate past its limits with this message.
    if isinstance(error, Image.DecompressionBombError) or "decompressed data too large" in str(error).lower():
        return ImageRejectedError("decompression_bomb", text)
    # libheif says "Unexpected end of file" when a box points past the end of a cut-off file.
    if any(word in str(error).lower() for word in ("truncated", "end of file")) or isinstance(error, EOFError):
        return ImageRejectedError("truncated_image", text)
    return ImageRejectedError("corrupt_image", text)
