"""The size an AVIF or HEIF image item's coded data has, beside the size its `ispe` property declares.

A decoder allocates the frame its bitstream describes, whatever the container says: an AVIF whose
`ispe` says 64x64 over an AV1 stream of 16384x16384 passes every check made from the header, then
takes a gigabyte to decode. So each coded item is read as its decoder will read it, from the same
places, before anything is decoded:

- AV1 (`av01` items): every sequence header OBU, in the `av1C` property's configOBUs and in the item's
  data; the frame is max_frame_width_minus_1 + 1 by max_frame_height_minus_1 + 1 (a still image's
  frame always has that size; AVIF requires it to equal `ispe`).
- HEVC (`hvc1` items): every sequence parameter set, in the `hvcC` property and in the item's data;
  pic_width/height_in_luma_samples, less the conformance window, must equal `ispe` (ISO/IEC 23008-12).
- A grid (`grid` items): the output size its own data declares must equal its `ispe`; its tiles are
  coded items of their own and are read as above.

Pure functions over the file's bytes, built on isobmff's box walker; a hostile file can only make an item
report no readable size, never make them raise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from image_processor import isobmff

# Units (OBUs or NAL units) read from one stream at most, and from all the file's image data: a still
# image has a handful per item, a grid of 1,000 tiles a few thousand.
MAX_UNITS = 10_000
MAX_UNITS_IN_FILE = 100_000
# Image items read at most (~25 us each): an iPhone's 48 MP photo has 192 tiles.
MAX_ITEMS = 10_000
# Bytes of a sequence header or SPS that hold every field read here, with room for HEVC's emulation prevention.
_HEADER_PREFIX = 512
_AV1_CONFIG_HEADER = 4  # av1C's marker, version, profile, level and flags, before its configOBUs
_VISUAL_SAMPLE_ENTRY = 78  # a sample entry's fixed fields (sizes, resolution, compressor name) before its boxes
_HEVC_CONFIG_HEADER = 22  # hvcC's fixed fields, before its count of NAL unit arrays
_HEVC_LENGTH_SIZE_AT = 21
_PROFILE_BITS, _LEVEL_BITS = 88, 8
_SIZE_PROPERTIES = (b"ispe", b"av1C", b"hvcC")
_CODED_ITEM_TYPES = (b"av01", b"hvc1", b"grid")

Size = tuple[int, int]
Stream = bytes | memoryview
Properties = dict[bytes, bytes]  # the content of an item's ispe, av1C and hvcC properties, by type
Units = Iterator[tuple[int, Stream]]  # (unit type, payload)
Source = tuple[str, Stream, Callable[[Stream], Units]]  # (where, its bytes, the reader of its units)


@dataclass(frozen=True)
class ItemSize:
    """One image item's (or track's) declared size and one size its data codes."""

    image: str  # "item 1", "track 1"
    codec: str  # "AV1", "HEVC" or "grid"
    source: str  # where the coded size was read, for the rejection's detail
    declared: Size | None  # the `ispe` property (a track's tkhd); None when the item has none
    coded: Size | None  # None when no size could be read
    decoded_pixels: int = 0  # what the decoder allocates: for HEVC, before the conformance window


@dataclass(frozen=True)
class _Codec:
    name: str
    unit: str  # the header that holds the size
    unit_type: int
    size: Callable[[bytes], tuple[Size, int]]  # the header's payload -> (size, pixels decoded)


class _MalformedError(Exception):
    """A field runs past the end of its data."""


class _TooManyUnitsError(_MalformedError):
    """The file's image data holds more units than MAX_UNITS_IN_FILE."""


class _Budget:
    """Units left to read from the file's image data, over all its items and tracks."""

    def __init__(self, units: int) -> None:
        self.left = units

    def spend(self, units: Units) -> Units:
        for unit in units:
            self.left -= 1
            if self.left < 0:
                raise _TooManyUnitsError
            yield unit


def item_sizes(data: bytes) -> list[ItemSize]:
    """Every AV1, HEVC and grid item's and every AV1 track's declared and coded sizes: one entry per size
    found, or one with `coded` None for an item whose data codes no readable size."""
    coded_items = [(item, kind) for item, kind in isobmff.item_types(data).items() if kind in _CODED_ITEM_TYPES]
    if len(coded_items) > MAX_ITEMS:
        too_many = f"{len(coded_items):,} image items, over {MAX_ITEMS:,}"
        return [ItemSize("the file", "AV1 or HEVC", too_many, None, None)]
    properties, stored, budget = isobmff.item_property_boxes(data), isobmff.item_data(data), _Budget(MAX_UNITS_IN_FILE)
    readers = {b"av01": _av1_sizes, b"hvc1": _hevc_sizes}
    sizes = []
    for item_id, kind in coded_items:
        # The first of each property type counts, as decoders take it; others are not copied.
        listed = reversed(properties.get(item_id, []))
        boxes = {found: data[start:end] for found, start, end in listed if found in _SIZE_PROPERTIES}
        image, stream, declared = f"item {item_id}", stored.get(item_id), _ispe(boxes.get(b"ispe"))
        if kind == b"grid":
            sizes += _grid_sizes(image, stream, declared)
        else:
            sizes += readers[kind](image, boxes, stream, declared, budget)
    return sizes + _track_sizes(data, budget)


def _ispe(content: bytes | None) -> Size | None:
    if content is None or len(content) < 12:
        return None
    return int.from_bytes(content[4:8], "big"), int.from_bytes(content[8:12], "big")


def _sizes_from(image: str, codec: _Codec, declared: Size | None, sources: Iterable[Source]) -> list[ItemSize]:
    """One ItemSize per size header found in each source, or one saying none is readable."""
    sizes = []
    for where, stream, read in sources:
        try:
            # A configuration box (bytes) is usually shared by every tile of a grid: it is read once.
            found = (_cached_headers if isinstance(stream, bytes) else _headers)(codec, read, stream)
        except _TooManyUnitsError:
            too_many = f"more than {MAX_UNITS_IN_FILE:,} OBUs or NAL units in the file's image data"
            return [ItemSize(image, codec.name, too_many, declared, None)]
        except _MalformedError:
            return [ItemSize(image, codec.name, f"an unreadable {codec.unit} or stream in {where}", declared, None)]
        source = f"the {codec.unit} in {where}"
        sizes += [ItemSize(image, codec.name, source, declared, coded, pixels) for coded, pixels in found]
    return sizes or [ItemSize(image, codec.name, f"no {codec.unit} in its configuration or data", declared, None)]


def _headers(codec: _Codec, read: Callable[[Stream], Units], stream: Stream) -> tuple[tuple[Size, int], ...]:
    """(size, pixels decoded) from each size header among the units `read` finds in `stream`."""
    units = read(stream)
    return tuple(codec.size(bytes(payload[:_HEADER_PREFIX])) for kind, payload in units if kind == codec.unit_type)


_cached_headers = lru_cache(maxsize=16)(_headers)


def _in_data(stream: memoryview | None, read: Callable[[Stream], Units], budget: _Budget) -> list[Source]:
    return [] if stream is None else [("the image data", stream, lambda units: budget.spend(read(units)))]


# --- AV1 ---------------------------------------------------------------------------------------------


def _av1_sizes(
    image: str, boxes: Properties, stream: memoryview | None, declared: Size | None, budget: _Budget
) -> list[ItemSize]:
    config = ("av1C's configOBUs", boxes.get(b"av1C", b"")[_AV1_CONFIG_HEADER:], _obus)
    return _sizes_from(image, _AV1, declared, [config, *_in_data(stream, _obus, budget)])


def _obus(stream: Stream) -> Units:
    """(type, payload) of each OBU (AV1 spec 5.3): a one-byte header, an optional extension byte, an
    optional LEB128 size (without one, the OBU runs to the end)."""
    at = 0
    for _ in range(MAX_UNITS):
        if at >= len(stream):
            return
        header = stream[at]
        obu_type, has_extension, has_size = header >> 3 & 15, header >> 2 & 1, header >> 1 & 1
        at += 1 + has_extension
        size, at = _leb128(stream, at) if has_size else (len(stream) - at, at)
        if at + size > len(stream):
            raise _MalformedError
        yield obu_type, stream[at : at + size]
        at += size
    raise _MalformedError


def _leb128(stream: Stream, at: int) -> tuple[int, int]:
    value = 0
    for index in range(8):
        if at + index >= len(stream):
            raise _MalformedError
        byte = stream[at + index]
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value, at + index + 1
    raise _MalformedError


def _av1_frame_size(payload: bytes) -> tuple[Size, int]:
    """max_frame_width_minus_1 + 1 by max_frame_height_minus_1 + 1 of a sequence header (AV1 spec 5.5.1)."""
    bits = _Bits(payload)
    bits.read(3)  # seq_profile
    bits.read(1)  # still_picture
    if bits.read(1):  # reduced_still_picture_header
        bits.read(5)  # seq_level_idx[0]
    else:
        _skip_av1_operating_points(bits)
    width_bits, height_bits = bits.read(4) + 1, bits.read(4) + 1
    width, height = bits.read(width_bits) + 1, bits.read(height_bits) + 1
    return (width, height), width * height


def _skip_av1_operating_points(bits: _Bits) -> None:
    """timing_info, decoder_model_info and the operating points of a full sequence header."""
    decoder_model_info, buffer_delay_bits = False, 0
    if bits.read(1):  # timing_info_present_flag
        bits.read(64)  # num_units_in_display_tick, time_scale
        if bits.read(1):  # equal_picture_interval
            bits.golomb()  # num_ticks_per_picture_minus_1, uvlc()
        decoder_model_info = bool(bits.read(1))
        if decoder_model_info:
            buffer_delay_bits = bits.read(5) + 1
            bits.read(42)  # num_units_in_decoding_tick, the two time lengths
    initial_display_delay = bits.read(1)
    for _ in range(bits.read(5) + 1):  # operating_points_cnt_minus_1 + 1
        bits.read(12)  # operating_point_idc
        if bits.read(5) > 7:  # seq_level_idx
            bits.read(1)  # seq_tier
        if decoder_model_info and bits.read(1):  # decoder_model_present_for_this_op
            bits.read(2 * buffer_delay_bits + 1)  # decoder and encoder buffer delays, low_delay_mode_flag
        if initial_display_delay and bits.read(1):
            bits.read(4)  # initial_display_delay_minus_1


_AV1 = _Codec("AV1", "sequence header", 1, _av1_frame_size)


def _track_sizes(data: bytes, budget: _Budget) -> list[ItemSize]:
    """An animated AVIF is shown from its track: each AV1 track's size (tkhd) against its av1C and first frame."""
    sizes = []
    for track in isobmff.tracks(data):
        for kind, start, end in track.sample_entries:
            if kind != b"av01":
                continue
            av1c = isobmff.box(data, start + _VISUAL_SAMPLE_ENTRY, end, b"av1C")
            config = data[av1c[0] + _AV1_CONFIG_HEADER : av1c[1]] if av1c else b""
            sources: list[Source] = [("av1C's configOBUs", config, _obus)]
            if track.first_sample is not None:
                sources.append(("the first frame", track.first_sample, lambda units: budget.spend(_obus(units))))
            sizes += _sizes_from(f"track {track.track_id}", _AV1, track.size, sources)
    return sizes


# --- HEVC --------------------------------------------------------------------------------------------


def _hevc_sizes(
    image: str, boxes: Properties, stream: memoryview | None, declared: Size | None, budget: _Budget
) -> list[ItemSize]:
    config = boxes.get(b"hvcC", b"")
    length_size = (config[_HEVC_LENGTH_SIZE_AT] & 3) + 1 if len(config) > _HEVC_LENGTH_SIZE_AT else 4
    in_config = ("hvcC", config, _hvcc_units)
    in_data = _in_data(stream, lambda units: _nal_types(_length_prefixed(units, length_size)), budget)
    return _sizes_from(image, _HEVC, declared, [in_config, *in_data])


def _hvcc_units(config: Stream) -> Units:
    return _nal_types(_hvcc_nal_units(config))


def _nal_types(units: Iterator[Stream]) -> Units:
    for unit in units:
        if len(unit) >= 2:  # shorter ones (zero padding) hold nothing a decoder reads
            yield unit[0] >> 1 & 0x3F, unit[2:]  # a two-byte NAL unit header, its type in bits 1-6


def _hvcc_nal_units(config: bytes) -> Iterator[Stream]:
    """The NAL units in an hvcC box's arrays (ISO/IEC 14496-15 8.3.3.1)."""
    if len(config) <= _HEVC_CONFIG_HEADER:
        return
    at = _HEVC_CONFIG_HEADER + 1
    for _ in range(config[_HEVC_CONFIG_HEADER]):
        if at + 3 > len(config):
            raise _MalformedError
        count, at = int.from_bytes(config[at + 1 : at + 3], "big"), at + 3  # after the NAL unit type
        for _ in range(count):
            unit = _prefixed(config, at, 2)
            yield unit
            at += 2 + len(unit)


def _length_prefixed(stream: Stream, length_size: int) -> Iterator[Stream]:
    at = 0
    for _ in range(MAX_UNITS):
        if at >= len(stream):
            return
        unit = _prefixed(stream, at, length_size)
        yield unit
        at += length_size + len(unit)
    raise _MalformedError


def _prefixed(stream: Stream, at: int, length_size: int) -> Stream:
    length = int.from_bytes(stream[at : at + length_size], "big")
    if at + length_size + length > len(stream):
        raise _MalformedError
    return stream[at + length_size : at + length_size + length]


def _hevc_picture_size(payload: bytes) -> tuple[Size, int]:
    """(size after the conformance window, pixels decoded before it) of an SPS (H.265 7.3.2.2)."""
    bits = _Bits(payload.replace(b"\x00\x00\x03", b"\x00\x00"))  # emulation prevention bytes out
    bits.read(4)  # sps_video_parameter_set_id
    sub_layers = bits.read(3)  # sps_max_sub_layers_minus1
    bits.read(1)  # sps_temporal_id_nesting_flag
    _skip_profile_tier_level(bits, sub_layers)
    bits.golomb()  # sps_seq_parameter_set_id
    chroma_format = bits.golomb()
    separate_planes = chroma_format == 3 and bits.read(1)
    width, height = bits.golomb(), bits.golomb()  # pic_width_in_luma_samples, pic_height_in_luma_samples
    left, right, top, bottom = [bits.golomb() for _ in range(4)] if bits.read(1) else [0, 0, 0, 0]
    # The window's offsets count chroma samples: SubWidthC and SubHeightC (H.265 table 6-1).
    sub_width, sub_height = {1: (2, 2), 2: (2, 1)}.get(0 if separate_planes else chroma_format, (1, 1))
    cropped = (width - sub_width * (left + right), height - sub_height * (top + bottom))
    return cropped, width * height


def _skip_profile_tier_level(bits: _Bits, sub_layers: int) -> None:
    bits.read(_PROFILE_BITS + _LEVEL_BITS)  # the general profile, tier and level
    present = [(bits.read(1), bits.read(1)) for _ in range(sub_layers)]
    if sub_layers:
        bits.read(2 * (8 - sub_layers))  # reserved_zero_2bits up to eight sub-layers
    for profile, level in present:
        bits.read(_PROFILE_BITS * profile + _LEVEL_BITS * level)


_HEVC = _Codec("HEVC", "SPS", 33, _hevc_picture_size)


# --- grid --------------------------------------------------------------------------------------------


def _grid_sizes(image: str, grid: memoryview | None, declared: Size | None) -> list[ItemSize]:
    """The output size an image grid's data declares (ISO/IEC 23008-12 6.6.2.3): its tiles are items of their own."""
    field = 4 if grid is not None and len(grid) > 1 and grid[1] & 1 else 2  # flags bit 0: 32-bit sizes
    if grid is None or len(grid) < 4 + 2 * field:
        return [ItemSize(image, "grid", "no readable grid description", declared, None)]
    width, height = (int.from_bytes(grid[at : at + field], "big") for at in (4, 4 + field))
    return [ItemSize(image, "grid", "its grid description", declared, (width, height), width * height)]


class _Bits:
    """Bits read most significant first, as AV1 and HEVC headers are written."""

    def __init__(self, payload: bytes) -> None:
        self.value, self.left = int.from_bytes(payload, "big"), 8 * len(payload)

    def read(self, count: int) -> int:
        if count > self.left:
            raise _MalformedError
        self.left -= count
        return self.value >> self.left & ((1 << count) - 1)

    def golomb(self) -> int:
        """An unsigned exponential-Golomb code: HEVC's ue(v), AV1's uvlc()."""
        for zeros in range(32):
            if self.read(1):
                return (1 << zeros) - 1 + self.read(zeros)
        raise _MalformedError
