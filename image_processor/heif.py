"""HEIF files (HEIC, AVIF and their kin) read from their own boxes: which images they hold, in which codec,
with which properties, and the embedded thumbnail that can stand in for the primary image.

Pure functions over `bytes` like isobmff.py, which walks the boxes: a malformed file makes them return less
(no primary, no thumbnail), never raise; libheif or libavif then says what is wrong with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from itertools import islice

from image_processor import isobmff

# The brands libheif reads a file by, major or compatible (ISO/IEC 23008-12 and MIAF): the image-collection
# and sequence structure brands and the brands of each codec. A file is HEIF when its `ftyp` lists one;
# which codec its primary image is in decides who decodes it (CODECS).
HEIF_BRANDS = frozenset(
    {
        *(b"mif1", b"mif2", b"mif3", b"msf1", b"miaf"),
        *(b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"),
        *(b"avif", b"avis", b"avio"),
        *(b"avci", b"avcs", b"jpeg", b"jpgs", b"vvic", b"vvis", b"j2ki", b"j2is", b"evbi", b"evbs", b"unif"),
    }
)
# Coded item types (the `infe` box's item_type) and the codec each names.
CODECS = {
    b"hvc1": "HEVC",
    b"av01": "AV1",
    b"avc1": "AVC (H.264)",
    b"jpeg": "JPEG",
    b"vvc1": "VVC (H.266)",
    b"j2k1": "JPEG 2000",
    b"evc1": "EVC",
    b"unci": "uncompressed (ISO/IEC 23001-17)",
    b"mski": "mask",
}
# Derived images: made from other items (`dimg` references), so the codec is that of their inputs.
_DERIVED = (b"grid", b"iovl", b"iden")
_TRANSFORMS = (b"clap", b"irot", b"imir")
# At most this many entries of any one list (items, properties, associations, references, brands) are read:
# libheif's own default limit on a box's children. A crafted file listing millions costs no more.
_MAX_ENTRIES = 65_536


@dataclass(frozen=True)
class Item:
    """One image item and its properties, in the order the file associates them."""

    id: int
    type: bytes
    properties: tuple[tuple[bytes, bytes], ...]  # (property type, content)

    @property
    def size(self) -> tuple[int, int] | None:
        """The stored size (`ispe`), before any crop, rotation or mirroring."""
        ispe = self.get(b"ispe")
        if ispe is None or len(ispe) < 12:
            return None
        return int.from_bytes(ispe[4:8], "big"), int.from_bytes(ispe[8:12], "big")

    def get(self, kind: bytes) -> bytes | None:
        return next((content for found, content in self.properties if found == kind), None)

    @property
    def transforms(self) -> tuple[tuple[bytes, bytes], ...]:
        """Crop, rotation and mirroring, in the order libheif applies them (the file's)."""
        return tuple((kind, content) for kind, content in self.properties if kind in _TRANSFORMS)


@dataclass(frozen=True)
class _Meta:
    primary: int | None
    items: dict[int, Item]
    references: tuple[tuple[bytes, int, tuple[int, ...]], ...]  # (type, from item, to items)
    thmb_at: tuple[int, ...]  # file offsets of the `thmb` reference boxes' type


def is_heif(data: bytes) -> bool:
    """Whether the file's `ftyp` box names a brand libheif reads (AVIF included)."""
    return bool(brands(data) & HEIF_BRANDS)


def brands(data: bytes) -> frozenset[bytes]:
    """The `ftyp` box's major and compatible brands; none when the file does not start with one."""
    if data[4:8] != b"ftyp":
        return frozenset()
    ftyp = next(isobmff.boxes(data, 0, len(data)), None)
    if ftyp is None:
        return frozenset({data[8:12]})
    _, start, end = ftyp
    compatible = (data[at : at + 4] for at in range(start + 8, min(end, start + 8 + 4 * _MAX_ENTRIES) - 3, 4))
    return frozenset({data[start : start + 4], *compatible})


def primary(data: bytes) -> Item | None:
    meta = _meta(data)
    return meta.items.get(meta.primary) if meta.primary is not None else None


def primary_codec(data: bytes) -> str | None:
    """The codec the primary image is coded in (a grid's is its tiles'), e.g. "HEVC"; None when unreadable."""
    meta = _meta(data)
    item = meta.items.get(meta.primary) if meta.primary is not None else None
    for _ in range(8):  # a derived image of derived images: follow a few levels, never a loop
        if item is None or item.type not in _DERIVED:
            break
        inputs = next((to for kind, source, to in meta.references if kind == b"dimg" and source == item.id), ())
        item = meta.items.get(inputs[0]) if inputs else None
    if item is None or item.type in _DERIVED:
        return None
    return CODECS.get(item.type, item.type.decode("latin-1"))


def thumbnail_item(data: bytes, *, fit: int) -> Item | None:
    """The embedded thumbnail to decode instead of the primary image for a thumbnail fitting fit x fit.

    The smallest HEVC thumbnail of the primary image at least as large as the primary image fitted into that
    box, and a scaled copy of it: the same aspect ratio within 2 pixels (encoders make 4:2:0 sides even), the
    same rotation and mirroring in the same order, the same crop in proportion, and the same colour profile or
    none. None when there is no such thumbnail: then the primary image is decoded.
    """
    meta = _meta(data)
    main = meta.items.get(meta.primary) if meta.primary is not None else None
    size = _kept(main) if main else None
    if main is None or size is None or min(size) < 1:
        return None
    scale = min(fit / size[0], fit / size[1], 1)
    wanted = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
    thumbnails = (meta.items.get(source) for kind, source, to in meta.references if kind == b"thmb" and main.id in to)
    fitting = [item for item in thumbnails if item is not None and _is_scaled_copy(item, main, wanted)]
    return min(fitting, key=lambda item: item.size[0] * item.size[1], default=None)  # type: ignore[index]


def as_primary(data: bytes, item: Item) -> bytes:
    """A copy of the file whose primary image is `item`: the `pitm` box names it, and its `thmb`
    references are renamed so that libheif reads it as an image of its own. Same length, same offsets."""
    meta = _meta(data)
    pitm = _pitm_at(data)
    if pitm is None or meta.primary is None:
        return data
    at, width = pitm
    # `othm`: an unknown reference type, which readers skip
    return _patched(data, [(at, item.id.to_bytes(width, "big")), *((type_at, b"othm") for type_at in meta.thmb_at)])


def _is_scaled_copy(thumbnail: Item, main: Item, wanted: tuple[int, int]) -> bool:
    size, main_size = thumbnail.size, main.size
    if thumbnail.type != b"hvc1" or size is None or main_size is None:
        return False
    width, height = size
    main_width, main_height = main_size
    kept = _kept(thumbnail)
    if kept is None or kept[0] < wanted[0] or kept[1] < wanted[1] or (width >= main_width and height >= main_height):
        return False
    # Beyond rounding: encoders round a 4:2:0 thumbnail's sides to even numbers, up to 2 pixels off.
    if abs(width * main_height - height * main_width) > 2 * max(main_width, main_height):
        return False
    if _orientation(thumbnail) != _orientation(main) or not _same_crop(thumbnail, main):
        return False
    colour, main_colour = thumbnail.get(b"colr"), main.get(b"colr")
    return colour is None or main_colour is None or colour == main_colour


def _orientation(item: Item) -> tuple[tuple[bytes, int], ...]:
    return tuple((kind, content[0] & 3 if content else 0) for kind, content in item.transforms if kind != b"clap")


def _same_crop(thumbnail: Item, main: Item) -> bool:
    """Both uncropped, or cropped to the same part of the picture within a pixel of the thumbnail."""
    crop, main_crop = _crop(thumbnail), _crop(main)
    if crop is None or main_crop is None:
        return crop is None and main_crop is None
    width = thumbnail.size[0]  # type: ignore[index]
    return all(abs(part - main_part) * width <= 1 for part, main_part in zip(crop, main_crop, strict=True))


def _kept(item: Item) -> tuple[int, int] | None:
    """The stored size, less what the crop cuts away."""
    size, crop = item.size, _crop(item)
    if size is None or crop is None:
        return size
    if len(crop) < 2:
        return None
    return math.floor(size[0] * crop[0]), math.floor(size[1] * crop[1])


def _crop(item: Item) -> tuple[Fraction, ...] | None:
    """The `clap` box as (width, height, horizontal offset, vertical offset), each a fraction of the stored size."""
    clap, size = item.get(b"clap"), item.size
    if clap is None or size is None or len(clap) < 32:
        return None
    numbers = [int.from_bytes(clap[at : at + 4], "big", signed=at >= 16) for at in range(0, 32, 4)]
    if 0 in numbers[1::2] or 0 in size:
        return (Fraction(-1),)  # a broken crop matches nothing
    width, height, across, down = (Fraction(numbers[at], numbers[at + 1]) for at in range(0, 8, 2))
    return width / size[0], height / size[1], across / size[0], down / size[1]


def _meta(data: bytes) -> _Meta:
    meta = _box(data, 0, len(data), b"meta")
    if meta is None:
        return _Meta(None, {}, (), ())
    start, end = meta[0] + 4, meta[1]  # meta is a full box: skip version and flags
    pitm = _pitm_at(data)
    primary_id = int.from_bytes(data[pitm[0] : sum(pitm)], "big") if pitm else None
    properties = _associated_properties(data, start, end)
    items = {
        item_id: Item(item_id, kind, properties.get(item_id, ())) for item_id, kind in _item_types(data, start, end)
    }
    references, thmb_at = _references(data, start, end)
    return _Meta(primary_id, items, references, thmb_at)


def _box(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    """isobmff.box among the first _MAX_ENTRIES boxes only."""
    boxes = islice(isobmff.boxes(data, start, end), _MAX_ENTRIES)
    return next(((begin, stop) for found, begin, stop in boxes if found == kind), None)


def _pitm_at(data: bytes) -> tuple[int, int] | None:
    """(offset, width) of the primary item's ID inside the `pitm` box."""
    meta = _box(data, 0, len(data), b"meta")
    pitm = meta and _box(data, meta[0] + 4, meta[1], b"pitm")
    if not pitm:
        return None
    width = 2 if data[pitm[0]] == 0 else 4
    return (pitm[0] + 4, width) if pitm[0] + 4 + width <= pitm[1] else None


def _item_types(data: bytes, start: int, end: int) -> list[tuple[int, bytes]]:
    iinf = _box(data, start, end, b"iinf")
    if iinf is None:
        return []
    entries_at = iinf[0] + (6 if data[iinf[0]] == 0 else 8)
    types = []
    for kind, begin, stop in islice(isobmff.boxes(data, entries_at, iinf[1]), _MAX_ENTRIES):
        version = data[begin] if begin < stop else 0
        if kind != b"infe" or version < 2:
            continue
        id_width = 2 if version == 2 else 4
        type_at = begin + 4 + id_width + 2
        if type_at + 4 <= stop:
            types.append((int.from_bytes(data[begin + 4 : begin + 4 + id_width], "big"), data[type_at : type_at + 4]))
    return types


def _associated_properties(data: bytes, start: int, end: int) -> dict[int, tuple[tuple[bytes, bytes], ...]]:
    iprp = _box(data, start, end, b"iprp")
    ipco = iprp and _box(data, iprp[0], iprp[1], b"ipco")
    ipma = iprp and _box(data, iprp[0], iprp[1], b"ipma")
    if not ipco or not ipma:
        return {}
    listed = [(kind, data[begin:stop]) for kind, begin, stop in islice(isobmff.boxes(data, *ipco), _MAX_ENTRIES)]
    associated = {}
    for item_id, slots in _associations(data, *ipma):
        indexes = (_index(data, at, width) for at, width in slots)
        associated[item_id] = tuple(listed[index - 1] for index in indexes if 0 < index <= len(listed))
    return associated


def _associations(data: bytes, start: int, end: int) -> list[tuple[int, list[tuple[int, int]]]]:
    """Each item of an `ipma` box's content with the (offset, width) of each of its property indexes."""
    version, flags = data[start], data[start + 3]
    id_width, index_width = (2 if version == 0 else 4), (2 if flags & 1 else 1)
    at, items, slots = start + 8, [], 0
    for _ in range(min(int.from_bytes(data[start + 4 : start + 8], "big"), _MAX_ENTRIES)):
        if at + id_width + 1 > end or slots > _MAX_ENTRIES:
            break
        item_id, count = int.from_bytes(data[at : at + id_width], "big"), data[at + id_width]
        at += id_width + 1
        if at + count * index_width > end:
            break
        items.append((item_id, [(at + n * index_width, index_width) for n in range(count)]))
        slots += count
        at += count * index_width
    return items


def _index(data: bytes, at: int, width: int) -> int:
    """A property index without its essential flag (the top bit)."""
    return int.from_bytes(data[at : at + width], "big") & (0x7FFF if width == 2 else 0x7F)


def _references(
    data: bytes, start: int, end: int
) -> tuple[tuple[tuple[bytes, int, tuple[int, ...]], ...], tuple[int, ...]]:
    iref = _box(data, start, end, b"iref")
    if iref is None:
        return (), ()
    width = 2 if data[iref[0]] == 0 else 4
    references, thmb_at, targeted = [], [], 0
    for kind, begin, stop in islice(isobmff.boxes(data, iref[0] + 4, iref[1]), _MAX_ENTRIES):
        if targeted > _MAX_ENTRIES:
            break
        if begin + 2 * width + 2 > stop:
            continue
        source = int.from_bytes(data[begin : begin + width], "big")
        count = int.from_bytes(data[begin + width : begin + width + 2], "big")
        first = begin + width + 2
        targets = tuple(
            int.from_bytes(data[at : at + width], "big")
            for at in range(first, min(first + count * width, stop - width + 1), width)
        )
        references.append((kind, source, targets))
        targeted += len(targets)
        if kind == b"thmb" and data[begin - 4 : begin] == b"thmb":  # a plain 8-byte box header
            thmb_at.append(begin - 4)
    return tuple(references), tuple(thmb_at)


def crop_box(data: bytes, *, rotated: bool) -> tuple[int, int, int, int] | None:
    """The primary image's `clap` crop as a box (left, top, right, bottom) of the image decoded without it.

    The crop applies where the file lists it among the rotations and mirrorings (MIAF: first, in the stored
    orientation). `rotated`: the box is in the decoder's output with every rotation and mirroring applied
    (libheif), else in the stored orientation (libavif, which leaves them to EXIF Orientation). None when
    the primary image has no crop, or one that selects nothing.
    """
    item = primary(data)
    if item is None or item.size is None or item.get(b"clap") is None:
        return None
    width, height = item.size
    box = (0, 0, width, height)
    turns: list[tuple[bytes, int]] = []
    for kind, content in item.transforms:
        if kind == b"clap":
            box = _cropped(box, content)
            if box is None:
                return None
        elif content:
            box, width, height = _turned(box, width, height, kind, content[0] & 3)
            turns.append((kind, content[0] & 3))
    if not rotated:
        for kind, value in reversed(turns):
            box, width, height = _turned(box, width, height, kind, (4 - value) % 4 if kind == b"irot" else value)
    return box


def without_crop(data: bytes) -> bytes:
    """A copy of the file whose `clap` properties no reader applies: each is renamed `free` and its
    associations made non-essential. Same length, same offsets."""
    meta = _box(data, 0, len(data), b"meta")
    iprp = meta and _box(data, meta[0] + 4, meta[1], b"iprp")
    ipco = iprp and _box(data, iprp[0], iprp[1], b"ipco")
    ipma = iprp and _box(data, iprp[0], iprp[1], b"ipma")
    if not ipco or not ipma:
        return data
    patches, crops = [], set()
    for index, (kind, begin, _) in enumerate(islice(isobmff.boxes(data, *ipco), _MAX_ENTRIES), start=1):
        if kind == b"clap" and data[begin - 4 : begin] == b"clap":
            patches.append((begin - 4, b"free"))
            crops.add(index)
    for _, slots in _associations(data, *ipma):
        for at, width in slots:
            if _index(data, at, width) in crops:
                patches.append((at, bytes([data[at] & 0x7F])))  # clears the essential flag, the top bit
    return _patched(data, patches)


def _patched(data: bytes, patches: list[tuple[int, bytes]]) -> bytes:
    """`data` with each (offset, bytes) written over it, in one copy of the file: a 48 MP photo is 45 MB."""
    if not patches:
        return data
    start, end = min(at for at, _ in patches), max(at + len(new) for at, new in patches)
    region = bytearray(data[start:end])
    for at, new in patches:
        region[at - start : at - start + len(new)] = new
    whole = memoryview(data)
    return b"".join((whole[:start], region, whole[end:]))


def _cropped(box: tuple[int, int, int, int], clap: bytes) -> tuple[int, int, int, int] | None:
    """`box` narrowed by a clap box: a width and height centred at an offset from the image's centre."""
    if len(clap) < 32:
        return None
    numbers = [int.from_bytes(clap[at : at + 4], "big", signed=at in (16, 24)) for at in range(0, 32, 4)]
    if 0 in numbers[1::2]:
        return None
    crop_width, crop_height, across, down = (Fraction(numbers[at], numbers[at + 1]) for at in range(0, 8, 2))
    left, top, right, bottom = box
    width, height = right - left, bottom - top
    crop_left = math.floor(across + Fraction(width - 1, 2) - (crop_width - 1) / 2 + Fraction(1, 2))
    crop_top = math.floor(down + Fraction(height - 1, 2) - (crop_height - 1) / 2 + Fraction(1, 2))
    new_left, new_top = max(crop_left, 0), max(crop_top, 0)
    new_right = min(crop_left + round(crop_width), width)
    new_bottom = min(crop_top + round(crop_height), height)
    if new_right <= new_left or new_bottom <= new_top:
        return None
    return left + new_left, top + new_top, left + new_right, top + new_bottom


def _turned(
    box: tuple[int, int, int, int], width: int, height: int, kind: bytes, value: int
) -> tuple[tuple[int, int, int, int], int, int]:
    """`box` in a width x height image after an `irot` (value quarter turns anticlockwise) or an `imir`
    (value 0: about a vertical axis, left and right swap; 1: about a horizontal one), and the new size."""
    left, top, right, bottom = box
    if kind == b"imir":
        if value & 1:
            return (left, height - bottom, right, height - top), width, height
        return (width - right, top, width - left, bottom), width, height
    for _ in range(value):
        left, top, right, bottom = top, width - right, bottom, width - left
        width, height = height, width
    return (left, top, right, bottom), width, height
