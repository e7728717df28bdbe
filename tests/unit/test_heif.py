"""HEIF/HEIC photos through the image functions: real files made by pillow-heif in the tests."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from image_processor.imaging import ImageRejectedError, make_thumbnail
from tests import images

MAX_PIXELS = 100_000_000


def thumbnail_of(data: bytes, **kwargs):
    info, thumbnail = make_thumbnail(data, size=256, max_pixels=kwargs.pop("max_pixels", MAX_PIXELS), **kwargs)
    return info, Image.open(io.BytesIO(thumbnail.data)).convert("RGBA")


def rejection(data: bytes, max_pixels: int = MAX_PIXELS) -> ImageRejectedError:
    with pytest.raises(ImageRejectedError) as caught:
        make_thumbnail(data, size=256, max_pixels=max_pixels)
    return caught.value


def assert_upright(thumbnail: Image.Image) -> None:
    """The 300x200 marked picture, upright: landscape, red marker top-left, white elsewhere."""
    assert thumbnail.size == (256, 171)
    red, green, blue, _ = thumbnail.getpixel((10, 10))
    assert red > 200 and green < 80 and blue < 80, "the marker is not top-left"
    for corner in ((245, 10), (10, 160), (245, 160)):
        assert min(thumbnail.getpixel(corner)[:3]) > 200, f"{corner} is not white"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_an_iphone_style_heic_is_turned_upright_exactly_once(orientation):
    # GIVEN a HEIC as an iPhone writes one: the container rotates/mirrors it and EXIF says the same
    data = images.heic(images.stored_for_orientation(orientation), transform=orientation)

    info, thumbnail = thumbnail_of(data)

    # THEN libheif's transform alone makes it upright: EXIF is not applied a second time
    assert_upright(thumbnail)
    assert (info.format, info.mime_type) == ("HEIF", "image/heic")
    assert (info.width, info.height, info.display_width, info.display_height) == (300, 200, 300, 200)


def test_a_heic_stored_as_a_grid_of_tiles_is_decoded_whole_and_upright():
    # GIVEN the layout an iPhone writes (a grid of tiles, 512 on a phone; 64 here to keep the file small)
    data = images.heic(images.stored_for_orientation(6), transform=6, tile_size=64)
    assert b"grid" in data

    info, thumbnail = thumbnail_of(data)

    assert (info.width, info.height, info.frame_count) == (300, 200, 1)
    assert_upright(thumbnail)


def test_a_heic_with_only_a_container_rotation_is_upright():
    data = images.heic(images.stored_for_orientation(6), transform=6, exif_orientation=1)

    info, thumbnail = thumbnail_of(data)

    assert_upright(thumbnail)
    assert "orientation" not in info.exif


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_a_heic_with_only_an_exif_orientation_is_turned_by_it(orientation):
    # GIVEN a HEIC whose pixels are stored unrotated, with only the EXIF tag saying how to show them
    data = images.heic(images.stored_for_orientation(orientation), transform=1, exif_orientation=orientation)

    info, thumbnail = thumbnail_of(data)

    # THEN the thumbnail is turned by the EXIF tag, as a JPEG's is, and the record says so
    assert_upright(thumbnail)
    assert info.exif["orientation"] == orientation
    assert (info.display_width, info.display_height) == (300, 200)


def test_a_heic_keeps_the_exif_allow_list_and_gps_only_when_opted_in():
    exif = Image.Exif()
    exif.update({0x010F: "Apple", 0x0110: "iPhone 15 Pro"})
    exif.get_ifd(0x8769)[0x9003] = "2026:06:01 10:30:00"
    exif.get_ifd(0x8825).update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    data = images.heic(images.photo(640, 480), exif=exif)

    without_gps, _ = thumbnail_of(data)
    with_gps, _ = thumbnail_of(data, include_gps=True)

    assert without_gps.exif == {"make": "Apple", "model": "iPhone 15 Pro", "datetime_original": "2026:06:01 10:30:00"}
    assert with_gps.exif["gps_latitude"] == pytest.approx(48.858056, abs=1e-5)
    assert with_gps.exif["gps_longitude"] == pytest.approx(2.294444, abs=1e-5)


def test_a_heic_of_several_images_counts_them_and_thumbnails_the_primary():
    # GIVEN a burst-like file of three images, the second (green, 600x400) marked primary
    frames = [
        Image.new("RGB", (300, 200), "red"),
        Image.new("RGB", (600, 400), "green"),
        Image.new("RGB", (300, 200), "blue"),
    ]
    data = images.heic(frames, primary=1)

    info, thumbnail = thumbnail_of(data)

    assert info.frame_count == 3
    assert (info.width, info.height) == (600, 400)
    red, green, blue, _ = thumbnail.getpixel((128, 85))
    assert green > 100 and red < 40 and blue < 40


@pytest.mark.parametrize("bits", [10, 12])
def test_deep_colour_heic_gives_an_8_bit_thumbnail_of_the_same_colours(bits):
    source = Image.new("RGB", (320, 240), (200, 120, 40))
    source.paste((20, 60, 220), (0, 0, 160, 240))

    info, thumbnail = thumbnail_of(images.heic(source, bits=bits))

    assert info.mode == "RGB" and thumbnail.mode == "RGBA"
    for point, expected in (((40, 96), (20, 60, 220)), ((216, 96), (200, 120, 40))):
        assert all(abs(a - b) <= 12 for a, b in zip(thumbnail.getpixel(point)[:3], expected, strict=True)), point


def test_a_heic_with_alpha_keeps_its_transparency():
    source = Image.new("RGBA", (320, 240), (255, 0, 0, 0))
    source.paste((0, 0, 255, 255), (0, 0, 160, 240))

    info, thumbnail = thumbnail_of(images.heic(source))

    assert info.mode == "RGBA"
    assert thumbnail.getpixel((40, 96))[3] == 255
    assert thumbnail.getpixel((216, 96))[3] == 0


def test_a_grey_heic_gives_a_grey_thumbnail():
    info, thumbnail = thumbnail_of(images.heic(Image.linear_gradient("L").resize((320, 240))))

    assert info.mode == "L"
    red, green, blue, _ = thumbnail.getpixel((128, 150))
    assert abs(red - green) <= 3 and abs(green - blue) <= 3 and 100 < red < 230


def photo_heic() -> bytes:
    return images.heic(images.photo(640, 480))


def with_declared_size(data: bytes, width: int, height: int) -> bytes:
    """The same file, its `ispe` property claiming another size (the decoder would only find out later)."""
    at = data.index(b"ispe") + 8  # after the type and the full box's version and flags
    return data[:at] + struct.pack(">II", width, height) + data[at + 8 :]


@pytest.mark.parametrize(
    ("broken", "reason", "detail"),
    [
        (lambda data: data[: len(data) // 2], "truncated_image", "end of file"),
        (lambda data: data[:300], "corrupt_image", "No 'meta' box"),
        (lambda data: data.replace(data[data.index(b"hvcC") + 4 :][:40], bytes(40), 1), "corrupt_image", "unreadable"),
    ],
    ids=["cut-in-half", "header-only", "zeroed-decoder-configuration"],
)
def test_a_broken_heic_is_rejected_with_its_reason(broken, reason, detail):
    error = rejection(broken(photo_heic()))

    assert error.reason == reason
    assert detail in error.detail


def test_a_heic_declaring_too_many_pixels_is_rejected_before_it_is_decoded():
    # The files hold a 640x480 photo: decoding them would fail on the size, with another reason.
    over_the_limit = rejection(with_declared_size(photo_heic(), 12_000, 12_000))
    # HEIF decodes into a frame of libheif's own that Pillow copies: half the limit, as for WebP and AVIF
    over_half = rejection(with_declared_size(photo_heic(), 8_000, 7_000))
    bomb = rejection(with_declared_size(photo_heic(), 20_000, 20_000))

    assert over_the_limit.reason == "too_many_pixels" and "12000x12000" in over_the_limit.detail
    assert over_half.reason == "too_many_pixels" and "half of MAX_IMAGE_PIXELS" in over_half.detail
    assert bomb.reason == "decompression_bomb"


@pytest.mark.slow
@pytest.mark.parametrize(("transform", "exif_orientation"), [(1, 6), (6, 1), (6, 6)], ids=["exif", "irot", "both"])
def test_a_12_megapixel_heic_is_upright_whichever_rotation_it_carries(transform, exif_orientation):
    # GIVEN a 12 MP photo (4242x2828 upright, the marked picture's 3:2), stored sideways in 512-pixel tiles
    stored = images.stored_for_orientation(6).resize((2828, 4242), Image.Resampling.NEAREST)
    data = images.heic(stored, transform=transform, exif_orientation=exif_orientation, tile_size=512)

    info, thumbnail = thumbnail_of(data)

    assert (info.display_width, info.display_height) == (4242, 2828)
    assert_upright(thumbnail)
