"""What the image work takes and gives: the types the handler and the decoder's child process share,
the rejection every check raises, and the thumbnails' keys. No Pillow here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from image_processor.storable import safe_text

THUMBNAIL_CONTENT_TYPE = "image/webp"
THUMBNAIL_EXTENSION = ".webp"
S3_MAX_KEY_BYTES = 1024
_HASHED_FOLDER = "_long/"
_SIZES_FOLDER = "_sizes/"
_DETAIL_LIMIT = 1000


class ImageRejectedError(Exception):
    """The upload can never become a thumbnail: retrying will not help.

    `reason` is a stable machine-readable code (it lands in the record); `detail` says what
    exactly was wrong with this file.
    """

    def __init__(self, reason: str, detail: str) -> None:
        # Details quote decoders' messages, which may quote the file: only storable text goes on.
        detail = safe_text(detail, _DETAIL_LIMIT)
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ImageInfo:
    format: str
    mime_type: str
    width: int
    height: int
    display_width: int
    display_height: int
    mode: str
    frame_count: int
    exif: dict[str, Any] = field(default_factory=dict)
    icc_profile: str | None = None  # the name of the embedded colour profile the thumbnail was converted from
    icc_profile_ignored: str | None = None  # why an embedded colour profile was not used
    # "embedded" when a HEIF file's own thumbnail made the thumbnails, "primary" when the image itself did.
    thumbnail_source: str = "primary"
    # From the upright thumbnail image (fingerprints.py): a ThumbHash placeholder, `#rrggbb`, a 64-bit dHash.
    placeholder: str = ""
    dominant_color: str = ""
    phash: str = ""


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    width: int
    height: int
    content_type: str = THUMBNAIL_CONTENT_TYPE


def thumbnail_key(source_key: str, prefix: str, extra_size: int | None = None) -> str:
    """A thumbnail's key: a pure function of the source key, so re-processing overwrites it.

    The source extension stays in the name (`a.png` and `a.jpg` never collide). An extra size lives
    under `_sizes/<size>/`. Keys that would pass S3's 1,024-byte limit fall back to a hash of the
    source key, and so do keys inside those two folders themselves, so that no upload's name can take
    another upload's thumbnail.
    """
    folder = f"{prefix}{_SIZES_FOLDER}{extra_size}/" if extra_size is not None else prefix
    key = f"{folder}{source_key}{THUMBNAIL_EXTENSION}"
    if len(key.encode("utf-8")) <= S3_MAX_KEY_BYTES and not source_key.startswith((_HASHED_FOLDER, _SIZES_FOLDER)):
        return key
    digest = hashlib.sha256(source_key.encode("utf-8")).hexdigest()
    return f"{folder}{_HASHED_FOLDER}{digest}{THUMBNAIL_EXTENSION}"


# imaging.make_thumbnails' signature; the handler runs it through worker.Decoder, in a limited child process.
Decode = Callable[..., tuple[ImageInfo, tuple[Thumbnail, ...]]]
