"""image_processor's configuration: every environment variable it reads, validated once per container."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

MIB = 1024 * 1024
# S3's rules for a general purpose bucket name: 3-63 characters, lower-case letters, digits, dots
# and hyphens, starting and ending with a letter or digit.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class ConfigError(Exception):
    """A missing or malformed environment variable; the message names it."""


@dataclass(frozen=True)
class Settings:
    thumbnail_bucket: str
    metadata_queue_url: str
    thumbnail_size: int = 256
    # Each extra size is one more small resize, WebP encode and PUT per image, from the same decode.
    extra_thumbnail_sizes: tuple[int, ...] = ()
    thumbnail_prefix: str = "thumbnails/"
    # Objects above this are rejected from the event's size alone, before any download.
    max_image_bytes: int = 50 * MIB
    # 100 MP. A full-size decode costs up to 4 bytes a pixel (an RGB PNG or TIFF peaks near 440 MB);
    # the worst accepted, a big-endian 16-bit TIFF, takes one 32-bit copy more and peaks near 630 MB,
    # inside the 1,024 MB default with runtime and download (bench/RESULTS.md). Formats
    # that need two full-size RGBA frames (WebP, AVIF, any non-JPEG with transparency) get half of it
    # (imaging._check_pixels). JPEGs decode as a DCT-scaled draft and need far less.
    # Raise it only together with the function's memory.
    max_image_pixels: int = 100_000_000
    include_gps: bool = False
    # The most one image's decode and thumbnails may take, in its worker process (worker.py), before it
    # is killed and the upload rejected as decoder_limit. The slowest accepted input, a 48 MP HEIC, takes
    # about 12 s at the default memory (0.58 vCPU); 30 s leaves room and stays inside the 60 s timeout.
    max_decode_seconds: float = 30.0
    # A HEIF file's own thumbnail (iPhones embed a 320-pixel one) stands in for its primary image when it is
    # a faithful copy at least as large as the thumbnail made: ~10x less CPU on phone photos, as libvips does.
    # Off for operators who must thumbnail exactly the primary pixels: a file can embed another picture.
    embedded_thumbnails: bool = True

    @property
    def thumbnail_sizes(self) -> tuple[int, ...]:
        return (self.thumbnail_size, *self.extra_thumbnail_sizes)

    @property
    def rendered_with(self) -> str:
        """Every setting a record and its thumbnails depend on, compact because every record stores it
        (`sizes;prefix;max_image_bytes;max_image_pixels;gps;embedded`, e.g.
        `256;thumbnails/;52428800;100000000;0;1`): scripts/reprocess.py re-renders the objects whose record was
        made with other settings."""
        sizes = ",".join(str(size) for size in self.thumbnail_sizes)
        flags = f"{int(self.include_gps)};{int(self.embedded_thumbnails)}"
        return f"{sizes};{self.thumbnail_prefix};{self.max_image_bytes};{self.max_image_pixels};{flags}"


def load_settings(environ: Mapping[str, str]) -> Settings:
    thumbnail_size = _integer(environ, "THUMBNAIL_SIZE", Settings.thumbnail_size, low=16, high=4096)
    return Settings(
        thumbnail_bucket=_bucket_name(environ, "THUMBNAIL_BUCKET"),
        metadata_queue_url=_queue_url(environ, "METADATA_QUEUE_URL"),
        thumbnail_size=thumbnail_size,
        extra_thumbnail_sizes=_extra_sizes(environ, "EXTRA_THUMBNAIL_SIZES", thumbnail_size),
        thumbnail_prefix=_prefix(environ, "THUMBNAIL_PREFIX", Settings.thumbnail_prefix),
        max_image_bytes=_integer(environ, "MAX_IMAGE_BYTES", Settings.max_image_bytes, low=1, high=5 * 1024**3),
        max_image_pixels=_integer(environ, "MAX_IMAGE_PIXELS", Settings.max_image_pixels, low=1, high=1_000_000_000),
        include_gps=_boolean(environ, "INCLUDE_GPS", Settings.include_gps),
        max_decode_seconds=_seconds(environ, "MAX_DECODE_SECONDS", Settings.max_decode_seconds, low=0.1, high=900),
        embedded_thumbnails=_boolean(environ, "EMBEDDED_THUMBNAILS", Settings.embedded_thumbnails),
    )


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is required but not set")
    return value


def _bucket_name(environ: Mapping[str, str], name: str) -> str:
    value = _required(environ, name)
    if not _BUCKET_NAME.fullmatch(value) or ".." in value:
        raise ConfigError(f"{name} must be an S3 bucket name (3-63 of a-z 0-9 . -), got {value!r}")
    return value


def _queue_url(environ: Mapping[str, str], name: str) -> str:
    value = _required(environ, name)
    url = urlsplit(value)
    # SendMessage needs the queue's URL; a bare name or an ARN would fail only on the first upload.
    if url.scheme not in ("https", "http") or not url.netloc or url.path.strip("/").count("/") != 1:
        raise ConfigError(
            f"{name} must be an SQS queue URL like https://sqs.<region>.amazonaws.com/<account>/<name>, got {value!r}"
        )
    return value


def _integer(environ: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _seconds(environ: Mapping[str, str], name: str, default: float, *, low: float, high: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high} seconds, got {raw}")
    return value


def _extra_sizes(environ: Mapping[str, str], name: str, thumbnail_size: int) -> tuple[int, ...]:
    raw = environ.get(name, "").strip()
    if not raw:
        return ()
    sizes = []
    for part in raw.split(","):
        if not part.strip():
            raise ConfigError(f"{name} must be sizes separated by commas, like '128,1024', got {raw!r}")
        size = _integer({name: part}, name, 0, low=16, high=4096)
        if size == thumbnail_size or size in sizes:
            raise ConfigError(
                f"{name} lists {size} twice (THUMBNAIL_SIZE={thumbnail_size} is always made), got {raw!r}"
            )
        sizes.append(size)
    return tuple(sizes)


def _prefix(environ: Mapping[str, str], name: str, default: str) -> str:
    value = environ.get(name, default)
    if value.startswith("/") or (value and not value.endswith("/")):
        raise ConfigError(f"{name} must be empty or a key prefix like 'thumbnails/' (no leading /), got {value!r}")
    return value


def _boolean(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")
