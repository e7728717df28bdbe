"""ISO base media file format (HEIF, AVIF) boxes, read straight from the file's bytes.

Pure functions over `bytes`: they never raise on a malformed file, they stop at the first box that
does not fit inside its parent, so a hostile file can only make them return less.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

# A version 0 tkhd's content: version and flags, times, IDs, layer, volume, matrix, width and height.
_TKHD_V0_SIZE = 84


def box(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    """(content start, end) of the first box of `kind` between `start` and `end`."""
    return next(((begin, stop) for found, begin, stop in boxes(data, start, end) if found == kind), None)


def boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """ISO BMFF boxes between `start` and `end` as (type, content start, end); stops at a malformed one."""
    while start + 8 <= end:
        size, kind, header = int.from_bytes(data[start : start + 4], "big"), data[start + 4 : start + 8], 8
        if size == 1 and start + 16 <= end:
            size, header = int.from_bytes(data[start + 8 : start + 16], "big"), 16
        elif size == 0:
            size = end - start
        if size < header or start + size > end:
            return
        yield kind, start + header, start + size
        start += size


def item_properties(data: bytes) -> tuple[int, int] | None:
    """(content start, end) of the file's property container, meta > iprp > ipco."""
    meta = box(data, 0, len(data), b"meta")
    iprp = meta and box(data, meta[0] + 4, meta[1], b"iprp")  # meta is a full box: skip version and flags
    return iprp and box(data, iprp[0], iprp[1], b"ipco")


def item_types(data: bytes) -> dict[int, bytes]:
    """Each item's type (`av01`, `hvc1`, `grid`, `Exif`, ...) from meta > iinf, by item ID."""
    types = {}
    for start, end in _item_infos(data):
        version = data[start]
        if version < 2:  # versions 0 and 1 describe files, not image items
            continue
        id_size = 2 if version == 2 else 4
        type_at = start + 4 + id_size + 2  # version and flags, the ID, the protection index
        if type_at + 4 <= end:
            types[int.from_bytes(data[start + 4 : start + 4 + id_size], "big")] = data[type_at : type_at + 4]
    return types


def item_texts(data: bytes) -> list[bytes]:
    """The texts of every item's description (meta > iinf > infe), as the file holds them: its type, its
    name, and a `mime` item's content type and encoding or a `uri ` item's URI type."""
    texts = []
    for start, end in _item_infos(data):
        version, kind = data[start], b""
        at = start + 4 + (4 if version == 3 else 2) + 2  # version and flags, the ID, the protection index
        if version >= 2:
            kind, at = data[at : at + 4], at + 4
            texts.append(kind)
        # Null-terminated strings follow; versions 0 and 1 have a name, a content type and an encoding.
        count = 3 if version < 2 or kind == b"mime" else 2 if kind == b"uri " else 1
        texts += _strings(data, at, end, count)
    return texts


def item_property_boxes(data: bytes) -> dict[int, list[tuple[bytes, int, int]]]:
    """Each item's properties as (type, content start, end), in the order meta > iprp > ipma lists them."""
    meta = _meta_content(data)
    iprp = meta and box(data, *meta, b"iprp")
    ipco = iprp and box(data, *iprp, b"ipco")
    ipma = iprp and box(data, *iprp, b"ipma")
    if not ipco or not ipma:
        return {}
    listed = list(boxes(data, *ipco))
    reader = _Reader(data, *ipma)
    associated: dict[int, list[tuple[bytes, int, int]]] = {}
    try:
        version, flags = reader.uint(1), reader.uint(3)
        id_size, index_size = (2 if version == 0 else 4), (2 if flags & 1 else 1)
        index_mask = 0x7FFF if index_size == 2 else 0x7F  # the top bit says "essential"
        for _ in range(reader.uint(4)):
            item_id, count = reader.uint(id_size), reader.uint(1)
            indexes = [reader.uint(index_size) & index_mask for _ in range(count)]
            associated[item_id] = [listed[index - 1] for index in indexes if 0 < index <= len(listed)]
    except _MalformedError:
        pass
    return associated


def item_data(data: bytes) -> dict[int, memoryview]:
    """Each item's bytes as meta > iloc places them (in the file or in meta > idat), by item ID. Left out:
    an item whose location runs past its source or is built from another item (construction method 2),
    and items in several extents once joining them would copy more than the file's size (extents that
    overlap, which only a hostile file has)."""
    meta = _meta_content(data)
    iloc = meta and box(data, *meta, b"iloc")
    if not iloc:
        return {}
    idat = box(data, *meta, b"idat")
    sources = {0: (0, len(data)), **({1: idat} if idat else {})}
    found, copied = {}, 0
    for item_id, (method, base, extents) in _item_locations(data, *iloc).items():
        parts = _extents(data, sources.get(method), base, extents)
        if parts is None or (len(parts) > 1 and copied + sum(map(len, parts)) > len(data)):
            continue
        if len(parts) > 1:
            copied += sum(map(len, parts))
        found[item_id] = parts[0] if len(parts) == 1 else memoryview(b"".join(parts))
    return found


def _extents(
    data: bytes, source: tuple[int, int] | None, base: int, extents: list[tuple[int, int]]
) -> list[memoryview] | None:
    """Views of an item's extents in `source` (start, end), or None when one runs past it."""
    if source is None:
        return None
    parts = []
    for offset, length in extents:
        start = source[0] + base + offset
        stop = source[1] if length == 0 else start + length  # length 0: up to the end of the source
        if stop > source[1]:
            return None
        parts.append(memoryview(data)[start:stop])
    return parts


def _item_infos(data: bytes) -> Iterator[tuple[int, int]]:
    """(content start, end) of each infe box in meta > iinf."""
    meta = _meta_content(data)
    iinf = meta and box(data, *meta, b"iinf")
    if not iinf or iinf[0] == iinf[1]:
        return
    first_entry = iinf[0] + (6 if data[iinf[0]] == 0 else 8)  # version, flags, then a 16- or 32-bit count
    for kind, start, end in boxes(data, first_entry, iinf[1]):
        if kind == b"infe" and end - start >= 8:
            yield start, end


def _strings(data: bytes, at: int, end: int, count: int) -> list[bytes]:
    """Up to `count` null-terminated strings from data[at:end] (the last may run to `end`)."""
    strings = []
    while len(strings) < count and at < end:
        stop = data.find(b"\x00", at, end)
        stop = end if stop < 0 else stop
        strings.append(data[at:stop])
        at = stop + 1
    return strings


def _meta_content(data: bytes) -> tuple[int, int] | None:
    meta = box(data, 0, len(data), b"meta")
    return meta and (meta[0] + 4, meta[1])  # a full box: skip version and flags


def _item_locations(data: bytes, start: int, end: int) -> dict[int, tuple[int, int, list[tuple[int, int]]]]:
    """meta > iloc: (construction method, base offset, [(extent offset, length)]) by item ID."""
    reader = _Reader(data, start, end)
    locations = {}
    try:
        version = reader.uint(4) >> 24
        sizes = reader.uint(2)
        offset_size, length_size, base_size = sizes >> 12, sizes >> 8 & 15, sizes >> 4 & 15
        index_size = sizes & 15 if version in (1, 2) else 0
        for _ in range(reader.uint(2 if version < 2 else 4)):
            item_id = reader.uint(2 if version < 2 else 4)
            method = reader.uint(2) & 15 if version in (1, 2) else 0
            reader.uint(2)  # data reference index: 0, this file
            base = reader.uint(base_size)
            extents = []
            for _ in range(reader.uint(2)):
                reader.uint(index_size)
                extents.append((reader.uint(offset_size), reader.uint(length_size)))
            locations[item_id] = (method, base, extents)
    except _MalformedError:
        pass
    return locations


class _MalformedError(Exception):
    """A field runs past the end of its box."""


class _Reader:
    """Big-endian unsigned integers read one after another from data[start:end]."""

    def __init__(self, data: bytes, start: int, end: int) -> None:
        self.data, self.at, self.end = data, start, end

    def uint(self, size: int) -> int:
        if self.at + size > self.end:
            raise _MalformedError
        value = int.from_bytes(self.data[self.at : self.at + size], "big")
        self.at += size
        return value


@dataclass(frozen=True)
class Track:
    """One track of moov, as far as a decoder reads it to show the first frame."""

    track_id: int
    size: tuple[int, int]  # tkhd's width and height (16.16 fixed point, whole pixels)
    sample_entries: list[tuple[bytes, int, int]]  # stsd's entries as (format, content start, end)
    first_sample: memoryview | None  # the first sample's bytes: the first frame


def tracks(data: bytes) -> list[Track]:
    """The tracks of moov (animated AVIF, image sequences); tracks without a readable tkhd are left out."""
    moov = box(data, 0, len(data), b"moov")
    found = []
    for kind, start, end in boxes(data, *moov) if moov else ():
        tkhd = box(data, start, end, b"tkhd") if kind == b"trak" else None
        if not tkhd or tkhd[1] - tkhd[0] < _TKHD_V0_SIZE:
            continue
        id_at = tkhd[0] + (20 if data[tkhd[0]] == 1 else 12)  # after the creation and modification times
        width, height = (int.from_bytes(data[at : at + 4], "big") >> 16 for at in (tkhd[1] - 8, tkhd[1] - 4))
        stbl = _path(data, start, end, b"mdia", b"minf", b"stbl")
        stsd = stbl and box(data, *stbl, b"stsd")
        entries = list(boxes(data, stsd[0] + 8, stsd[1])) if stsd else []  # after version, flags and count
        first = _first_sample(data, *stbl) if stbl else None
        found.append(Track(int.from_bytes(data[id_at : id_at + 4], "big"), (width, height), entries, first))
    return found


def _path(data: bytes, start: int, end: int, *kinds: bytes) -> tuple[int, int] | None:
    """(content start, end) of the box reached through `kinds`, one level each."""
    found: tuple[int, int] | None = (start, end)
    for kind in kinds:
        found = found and box(data, *found, kind)
    return found


def _first_sample(data: bytes, start: int, end: int) -> memoryview | None:
    """Sample 1 of a sample table: at the first chunk's offset (stco or co64), its size from stsz."""
    stsz, stco, co64 = (box(data, start, end, kind) for kind in (b"stsz", b"stco", b"co64"))
    offsets, offset_size = (stco, 4) if stco else (co64, 8)
    if not stsz or not offsets or stsz[1] - stsz[0] < 12 or offsets[1] - offsets[0] < 8 + offset_size:
        return None
    size = int.from_bytes(data[stsz[0] + 4 : stsz[0] + 8], "big")  # one size for every sample, or 0
    if size == 0 and stsz[1] - stsz[0] >= 16:
        size = int.from_bytes(data[stsz[0] + 12 : stsz[0] + 16], "big")
    offset = int.from_bytes(data[offsets[0] + 8 : offsets[0] + 8 + offset_size], "big")
    return memoryview(data)[offset : offset + size] if offset + size <= len(data) else None
