"""The ISO BMFF readers: item types, properties and data found where the standard puts them."""

from __future__ import annotations

import struct

from image_processor import isobmff
from sample_images import images


def box(kind: bytes, content: bytes, *, full: bool = False) -> bytes:
    content = (bytes(4) if full else b"") + content
    return struct.pack(">I", 8 + len(content)) + kind + content


def iloc_v1(items: list[tuple[int, int, list[tuple[int, int]]]]) -> bytes:
    """iloc version 1, 4-byte offsets and lengths, no base offset: (item ID, construction method, extents)."""
    content = b"\x01\x00\x00\x00" + struct.pack(">BBH", 0x44, 0x00, len(items))
    for item_id, method, extents in items:
        content += struct.pack(">HHHH", item_id, method, 0, len(extents))
        content += b"".join(struct.pack(">II", offset, length) for offset, length in extents)
    return box(b"iloc", content)


def test_item_data_joins_the_extents_of_an_item_in_the_file():
    meta_size = len(box(b"meta", iloc_v1([(7, 0, [(0, 0), (0, 0)])]), full=True))
    at = meta_size + 8  # the content of the mdat box that follows meta
    meta = box(b"meta", iloc_v1([(7, 0, [(at, 5), (at + 9, 5)])]), full=True)
    data = meta + box(b"mdat", b"HELLO....WORLD")

    assert bytes(isobmff.item_data(data)[7]) == b"HELLOWORLD"


def test_item_data_reads_an_item_stored_in_idat():
    meta = box(b"meta", iloc_v1([(3, 1, [(2, 4)])]) + box(b"idat", b"xxGRIDxx"), full=True)

    assert bytes(isobmff.item_data(meta)[3]) == b"GRID"


def test_item_data_refuses_an_extent_past_the_file_and_an_item_built_from_another():
    data = box(b"meta", iloc_v1([(1, 0, [(0, 10_000)]), (2, 2, [(0, 4)])]), full=True)

    assert isobmff.item_data(data) == {}


def test_item_types_and_properties_come_from_iinf_and_ipma():
    infe = box(b"infe", struct.pack(">BBBBHH4s", 2, 0, 0, 0, 5, 0, b"av01"))
    iinf = box(b"iinf", struct.pack(">H", 1) + infe, full=True)
    ipco = box(
        b"ipco", box(b"ispe", struct.pack(">II", 64, 48), full=True) + box(b"pixi", b"\x03\x08\x08\x08", full=True)
    )
    ipma = box(b"ipma", struct.pack(">IHBBB", 1, 5, 2, 0x81, 0x02), full=True)  # property 1 essential, then 2
    data = box(b"meta", iinf + box(b"iprp", ipco + ipma), full=True)

    assert isobmff.item_types(data) == {5: b"av01"}
    assert [kind for kind, _, _ in isobmff.item_property_boxes(data)[5]] == [b"ispe", b"pixi"]


def test_readers_return_nothing_for_a_file_without_meta():
    readers = (isobmff.item_types, isobmff.item_property_boxes, isobmff.item_data, isobmff.tracks)
    assert [read(b"junk") for read in readers] == [{}, {}, {}, []]


def test_item_data_copies_no_more_than_the_file_for_items_whose_extents_overlap():
    # GIVEN 50 items of two extents each covering the whole file (length 0: to the end), 100 files in all
    meta = box(b"meta", iloc_v1([(item, 0, [(0, 0), (0, 0)]) for item in range(50)]), full=True)
    data = meta + box(b"mdat", bytes(10_000))

    joined = isobmff.item_data(data)

    assert sum(len(part) for part in joined.values()) <= len(data)


def test_item_texts_are_the_types_names_and_content_types():
    data = images.heic_with_xmp(images.photo(64, 48), b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")

    texts = isobmff.item_texts(data)

    assert b"hvc1" in texts and b"mime" in texts and b"application/rdf+xml" in texts
