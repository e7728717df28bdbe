"""The metadata message, image_processor -> SQS -> db_writer: the one contract between the two functions.

Every field is declared once, in `MetadataMessage`: image_processor builds its messages to it, db_writer
reads them with `read_message`, which refuses a field outside it or of another type (a
`ContractError` naming the field), and stores exactly these fields. Schema version 2 lists every
thumbnail in `thumbnails`, one per size made, `THUMBNAIL_SIZE`'s first. Version 1, still read for the
messages queued before version 2 was deployed, described the first thumbnail in flat
`thumbnail_key/_bytes/_width/_height` fields and listed `thumbnails` only when there were several;
records it wrote keep that shape in the table, so readers of records use `thumbnails_of`.
"""

# No `from __future__ import annotations` here: TypedDict reads NotRequired from evaluated annotations only.
from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from types import NoneType, UnionType
from typing import Any, Literal, NotRequired, TypedDict, cast, get_args, get_origin, get_type_hints, is_typeddict

SCHEMA_VERSION = 2
READABLE_SCHEMA_VERSIONS = (1, SCHEMA_VERSION)
Status = Literal["PROCESSED", "REJECTED", "DELETED"]
STATUSES: tuple[Status, ...] = get_args(Status)
ExifValue = str | int | float


class Rendition(TypedDict):
    """One size made: the bound asked for (`size` x `size`), where it is, its bytes and its pixels."""

    size: int
    key: str
    bytes: int
    width: int
    height: int


class MetadataMessage(TypedDict):
    schema_version: int
    status: Status
    reason: str | None
    reason_detail: str | None
    bucket: str
    key: str
    version_id: str | None
    size: int | None
    etag: str | None
    sequencer: str | None
    event_time: str | None
    event_name: str | None
    processing_ms: float
    processed_at: str
    # A PROCESSED message carries every field below, a REJECTED one `rendered_with` only.
    format: NotRequired[str]
    mime_type: NotRequired[str]
    width: NotRequired[int]
    height: NotRequired[int]
    display_width: NotRequired[int]
    display_height: NotRequired[int]
    mode: NotRequired[str]
    frame_count: NotRequired[int]
    thumbnail_source: NotRequired[str]
    exif: NotRequired[dict[str, ExifValue]]
    placeholder: NotRequired[str]
    dominant_color: NotRequired[str]
    phash: NotRequired[str]
    # Only when the file embeds a colour profile: the one used, or why it was not.
    icc_profile: NotRequired[str]
    icc_profile_ignored: NotRequired[str]
    thumbnail_bucket: NotRequired[str]
    thumbnails: NotRequired[list[Rendition]]
    rendered_with: NotRequired[str]


MESSAGE_FIELDS: tuple[str, ...] = tuple(MetadataMessage.__annotations__)
# Image fields added after schema 2 first shipped: a PROCESSED message still queued from an earlier
# image_processor, or a record it wrote, lacks them (scripts/reprocess.py --force fills them in).
LATER_FIELDS: tuple[str, ...] = ("thumbnail_source", "placeholder", "dominant_color", "phash")
# Image fields a PROCESSED message carries only when they apply.
OPTIONAL_FIELDS: tuple[str, ...] = ("icc_profile", "icc_profile_ignored")
# Schema version 1's flat fields for the first thumbnail, and the name each has in a `Rendition`.
_SCHEMA_1_THUMBNAIL_FIELDS = {
    "thumbnail_key": "key",
    "thumbnail_bytes": "bytes",
    "thumbnail_width": "width",
    "thumbnail_height": "height",
}
_JSON_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", NoneType: "null"}


class ContractError(ValueError):
    """A message that does not fit the contract; the text names the field and what is wrong with it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"field {field!r} {problem}")
        self.field = field


def read_message(document: Mapping[str, Any]) -> MetadataMessage:
    """`document` (a decoded message of any readable schema version) as a schema version 2 message."""
    version = document.get("schema_version")
    if type(version) is not int or version not in READABLE_SCHEMA_VERSIONS:  # not True, 1.0 or "1" either
        readable = ", ".join(str(readable) for readable in READABLE_SCHEMA_VERSIONS)
        raise ContractError("schema_version", f"is {version!r}, not a version db_writer reads ({readable})")
    return check_message(_from_schema_1(document) if version == 1 else document)


def check_message(message: Mapping[str, Any]) -> MetadataMessage:
    """`message` itself once it fits the contract, field by field; else the first misfit, named."""
    _check_fields(message, MetadataMessage, "")
    if message["schema_version"] != SCHEMA_VERSION:
        raise ContractError("schema_version", f"is {message['schema_version']}, the contract's is {SCHEMA_VERSION}")
    for name in ("bucket", "key"):
        if not message[name]:
            raise ContractError(name, "is empty")
    if message["status"] == "REJECTED" and not message["reason"]:
        raise ContractError("reason", "is missing: a REJECTED message says why")
    if message["status"] == "PROCESSED":
        optional = (*LATER_FIELDS, *OPTIONAL_FIELDS)
        missing = [name for name in MESSAGE_FIELDS if name not in message and name not in optional]
        if missing:
            raise ContractError(missing[0], "is missing: a PROCESSED message carries every image field")
        if not message["thumbnails"]:
            raise ContractError("thumbnails", "is empty: a PROCESSED message has at least one")
    return cast(MetadataMessage, message)


def thumbnails_of(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The thumbnails a message or table record describes, in either schema version's shape. A version 1
    record's flat fields give no `size`; its `rendered_with` does (its first size), when it has one."""
    if record.get("thumbnails"):
        return list(record["thumbnails"])
    if not record.get("thumbnail_key"):
        return []
    size = _first_size(record.get("rendered_with"))
    flat = {name: record.get(flat_name) for flat_name, name in _SCHEMA_1_THUMBNAIL_FIELDS.items()}
    return [({"size": size} if size is not None else {}) | flat]


def _from_schema_1(document: Mapping[str, Any]) -> dict[str, Any]:
    message = {name: value for name, value in document.items() if name not in _SCHEMA_1_THUMBNAIL_FIELDS}
    message["schema_version"] = SCHEMA_VERSION
    message.pop("thumbnails", None)
    if document.get("status") == "PROCESSED":
        message["thumbnails"] = thumbnails_of(document)
    return message


def _first_size(rendered_with: Any) -> int | None:
    """The first thumbnail size in a `rendered_with` (`sizes;prefix;...`, the sizes comma-separated)."""
    first = rendered_with.split(";", 1)[0].split(",", 1)[0] if isinstance(rendered_with, str) else ""
    return int(first) if first.isdigit() else None


def _check_fields(value: Mapping[str, Any], shape: type, prefix: str) -> None:
    expected = _field_types(shape)
    unknown = sorted(value.keys() - expected.keys(), key=str)
    if unknown:
        raise ContractError(f"{prefix}{unknown[0]}", "is not part of the message contract")
    missing = sorted(shape.__required_keys__ - value.keys())  # type: ignore[attr-defined]
    if missing:
        raise ContractError(f"{prefix}{missing[0]}", "is missing")
    for name, field_value in value.items():
        _check(field_value, expected[name], f"{prefix}{name}")


@cache
def _field_types(shape: type) -> dict[str, Any]:
    return get_type_hints(shape)


def _check(value: Any, expected: Any, field: str) -> None:
    origin = get_origin(expected)
    if is_typeddict(expected):
        _require(isinstance(value, dict), value, "an object", field)
        _check_fields(value, expected, f"{field}.")
    elif origin is list:
        _require(isinstance(value, list), value, "a list", field)
        for index, item in enumerate(value):
            _check(item, get_args(expected)[0], f"{field}[{index}]")
    elif origin is dict:
        _require(isinstance(value, dict), value, "an object", field)
        for name, item in value.items():
            _check(item, get_args(expected)[1], f"{field}.{name}")
    else:
        _require(_is_a(value, expected), value, _describe(expected), field)


def _is_a(value: Any, expected: Any) -> bool:
    origin = get_origin(expected)
    if origin is UnionType:
        return any(_is_a(value, option) for option in get_args(expected))
    if origin is Literal:
        return isinstance(value, str) and value in get_args(expected)
    if isinstance(value, bool):  # JSON's true and false are no numbers, though Python's bool is an int
        return False
    if expected is float:
        return isinstance(value, int | float | Decimal)
    return isinstance(value, expected)


def _describe(expected: Any) -> str:
    if get_origin(expected) is UnionType:
        return " or ".join(_describe(option) for option in get_args(expected))
    if get_origin(expected) is Literal:
        return "one of " + ", ".join(get_args(expected))
    return _JSON_TYPE_NAMES[expected]


def _require(fits: bool, value: Any, expected: str, field: str) -> None:
    if not fits:
        shown = repr(value)
        shown = shown if len(shown) <= 40 else f"{shown[:37]}..."
        raise ContractError(field, f"must be {expected}, got {_json_type(value)} {shown}")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    return {str: "string", list: "list", dict: "object", NoneType: "null"}.get(type(value), type(value).__name__)
