"""The EXIF fields a record keeps, each one safe to store: no field can make db_writer's write fail.

EXIF is whatever the file says, so every value is checked before it leaves the function. Text loses
what DynamoDB or a reader cannot use (unpaired surrogates, Unicode noncharacters, control characters);
a number must be finite and inside DynamoDB's number range, as db_writer stores it (the JSON text read
back as a Decimal). A value that fails is dropped and its field named in the record's `exif.dropped`,
so a broken field costs that field only, a broken GPS directory the coordinates only.
"""

from __future__ import annotations

import math
from typing import Any

from PIL import Image

from image_processor.storable import fits_dynamodb, safe_text

_ORIENTATION_TAG = 0x0112
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_BASE_EXIF_FIELDS = {0x010F: "make", 0x0110: "model", 0x0132: "datetime"}
_EXIF_IFD_FIELDS = {
    0x9003: "datetime_original",
    0x829A: "exposure_time",
    0x829D: "f_number",
    0x8827: "iso",
    0x920A: "focal_length",
    0xA434: "lens_model",
}
# (record field, reference tag, value tag, the reference letter that makes it negative, largest magnitude)
_GPS_FIELDS = (("gps_latitude", 1, 2, "S", 90), ("gps_longitude", 3, 4, "W", 180))
NUMBER_DECIMALS = 6


class _UnusableValueError(ValueError):
    """The file holds the field, but nothing in it can be stored."""


def read_exif(image: Image.Image, *, include_gps: bool) -> tuple[int, dict[str, Any]]:
    """Returns (orientation 1-8, a bounded allow-list of EXIF fields). Corrupt EXIF is not fatal."""
    dropped: list[str] = []
    try:
        exif = image.getexif()
        orientation = exif.get(_ORIENTATION_TAG, 1)
        fields = _pick(exif, _BASE_EXIF_FIELDS, dropped) | _pick(exif.get_ifd(_EXIF_IFD), _EXIF_IFD_FIELDS, dropped)
    except Exception as error:  # noqa: BLE001 - a broken EXIF block must not lose the image
        return 1, {"error": safe_text(f"unreadable EXIF: {type(error).__name__}: {error}")}
    if include_gps:
        fields |= _gps_fields(exif, dropped)
    if not isinstance(orientation, int) or not 1 <= orientation <= 8:
        orientation = 1
    if orientation != 1:
        fields["orientation"] = orientation
    if dropped:
        fields["dropped"] = ", ".join(dropped)  # a string: every EXIF value in the record is a scalar
    return orientation, fields


def _pick(tags: Any, wanted: dict[int, str], dropped: list[str]) -> dict[str, Any]:
    picked = {}
    for tag, name in wanted.items():
        try:
            value = _plain(tags.get(tag))
        except _UnusableValueError:
            dropped.append(name)
            continue
        if value is not None:
            picked[name] = value
    return picked


def _plain(value: Any) -> str | int | float | None:
    """An EXIF value as a storable scalar; None when the field is absent or empty."""
    if value is None:
        return None
    if isinstance(value, tuple | list):
        if len(value) != 1:
            raise _UnusableValueError(f"{len(value)} values where one was expected")
        return _plain(value[0])
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return safe_text(value) or None
    return _number(value)


def _number(value: Any) -> int | float:
    if isinstance(value, int) and not isinstance(value, bool):
        number: int | float = value
    else:
        try:
            number = float(value)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as error:
            raise _UnusableValueError(f"not a number: {error}") from error
    # Checked before rounding, so that a tiny out-of-range value is dropped rather than stored as 0.
    if not fits_dynamodb(number):
        raise _UnusableValueError(f"{number!r} is not finite or outside DynamoDB's number range")
    return number if isinstance(number, int) else round(number, NUMBER_DECIMALS)


def _gps_fields(exif: Image.Exif, dropped: list[str]) -> dict[str, float]:
    """Both coordinates, or none (and both named as dropped) when either one is unusable."""
    try:
        gps = exif.get_ifd(_GPS_IFD)
        coordinates = {name: _coordinate(gps, *where) for name, *where in _GPS_FIELDS}
    except Exception:  # noqa: BLE001 - a broken GPS directory must cost the coordinates only
        return _dropped_gps(dropped)
    present = {name: value for name, value in coordinates.items() if value is not None}
    if len(present) == 1:
        return _dropped_gps(dropped)
    return present


def _dropped_gps(dropped: list[str]) -> dict[str, float]:
    dropped.extend(name for name, *_ in _GPS_FIELDS)
    return {}


def _coordinate(gps: Any, ref_tag: int, value_tag: int, negative: str, bound: int) -> float | None:
    parts = gps.get(value_tag)
    if parts is None:
        return None
    degrees, minutes, seconds = (float(part) for part in parts)  # anything but three numbers raises
    decimal = degrees + minutes / 60 + seconds / 3600
    if not (math.isfinite(decimal) and min(degrees, minutes, seconds) >= 0 and decimal <= bound):
        raise _UnusableValueError(f"{degrees!r} {minutes!r} {seconds!r} is no coordinate")
    sign = -1 if str(gps.get(ref_tag, "")).upper().startswith(negative) else 1
    return round(sign * decimal, NUMBER_DECIMALS)
