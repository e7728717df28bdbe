"""ISO base media file format (HEIF, AVIF) boxes, read straight from the file's bytes.

Pure functions over `bytes`: they never raise on a malformed file, they stop at the first box that
does not fit inside its parent, so a hostile file can only make them return less.
"""

from __future__ import annotations

from collections.abc import Iterator


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
