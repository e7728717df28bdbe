"""HEIF item descriptions whose texts are not UTF-8 are refused before pi-heif opens them (it crashes on them)."""

from __future__ import annotations

import pytest

from image_processor.imaging import ImageRejectedError, make_thumbnail
from sample_images import images

XMP = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>"


def with_byte(data: bytes, text: bytes, byte: bytes) -> bytes:
    at = data.index(text, data.index(b"iinf"))
    return data[:at] + byte + data[at + 1 :]


@pytest.mark.parametrize(
    ("make", "text"),
    [
        (lambda: images.heic(images.photo(64, 48)), b"Exif"),  # the Exif item's type
        (lambda: images.heic_with_xmp(images.photo(64, 48), XMP), b"application/rdf+xml"),  # XMP's content type
    ],
    ids=["exif-item-type", "xmp-content-type"],
)
def test_an_item_text_that_is_not_utf8_is_rejected_before_opening(make, text):
    data = with_byte(make(), text, b"\xfc")

    with pytest.raises(ImageRejectedError) as caught:
        make_thumbnail(data, size=64, max_pixels=10**8)

    assert caught.value.reason == "corrupt_image"
    assert "not UTF-8: b'\\xfc" in caught.value.detail


def test_a_heic_with_exif_and_xmp_items_is_processed():
    data = images.heic_with_xmp(images.photo(64, 48), XMP)

    info, _ = make_thumbnail(data, size=64, max_pixels=10**8)

    assert (info.format, info.width) == ("HEIF", 64)
