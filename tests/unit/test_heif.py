"""HEIF/HEIC photos through the image functions: real files made by pillow-heif in the tests."""

from __future__ import annotations

import io
import struct

import pillow_heif
import pytest
from PIL import Image

from image_processor import heif
from image_processor.imaging import ImageRejectedError, make_thumbnail, make_thumbnails
from sample_images import images

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


# The embedded thumbnail: an iPhone stores a 320-pixel copy of the photo beside it, which is decoded instead of
# the full image when it is a faithful copy at least as large as the thumbnail made (as libvips does).


def thumbnails_of(data: bytes, sizes=(256,), **kwargs):
    info, made = make_thumbnails(data, sizes=sizes, max_pixels=MAX_PIXELS, **kwargs)
    return info, [Image.open(io.BytesIO(thumbnail.data)).convert("RGBA") for thumbnail in made]


def marked_heic(orientation: int, *, scale: int = 2, **kwargs) -> bytes:
    """The marked 300x200 picture at `scale` times its size, stored for `orientation`, rotated by the container."""
    stored = images.stored_for_orientation(orientation)
    stored = stored.resize((stored.width * scale, stored.height * scale), Image.Resampling.NEAREST)
    return images.heic(stored, transform=orientation, **kwargs)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_heic_with_an_embedded_thumbnail_large_enough_is_thumbnailed_from_it_upright(orientation):
    # GIVEN a 600x400 photo stored for `orientation`, with a 320-pixel copy embedded and rotated as it is
    data = marked_heic(orientation, thumbnails=(320,))

    info, (thumbnail,) = thumbnails_of(data)

    assert info.thumbnail_source == "embedded"
    assert (info.width, info.height) == (600, 400)
    assert_upright(thumbnail)


def test_a_heic_grid_with_an_embedded_thumbnail_whose_sides_were_rounded_even_uses_it():
    # GIVEN the iPhone layout: a grid of tiles, and a thumbnail whose 4:2:0 sides the encoder rounded (212x320)
    data = marked_heic(6, scale=8, thumbnails=(320,), tile_size=512)

    info, (thumbnail,) = thumbnails_of(data)

    assert info.thumbnail_source == "embedded"
    assert (info.width, info.height) == (2400, 1600)
    assert_upright(thumbnail)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_an_embedded_thumbnail_is_turned_by_the_exif_orientation_as_the_primary_is(orientation):
    data = images.heic(
        images.stored_for_orientation(orientation).resize((600, 400) if orientation == 3 else (400, 600)),
        transform=1,
        exif_orientation=orientation,
        thumbnails=(320,),
    )

    info, (thumbnail,) = thumbnails_of(data)

    assert info.thumbnail_source == "embedded"
    assert_upright(thumbnail)


def test_an_embedded_thumbnail_smaller_than_the_thumbnail_made_is_not_used():
    info, (thumbnail,) = thumbnails_of(marked_heic(6, thumbnails=(128,)))

    assert info.thumbnail_source == "primary"
    assert_upright(thumbnail)


def test_the_smallest_embedded_thumbnail_large_enough_is_the_one_used():
    data = marked_heic(1, scale=4, thumbnails=(128, 320, 640))
    decoded = []
    opened = Image.open

    def recording_open(fp, *args, **kwargs):
        image = opened(fp, *args, **kwargs)
        decoded.append(image.size)
        return image

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Image, "open", recording_open)
        info, _ = make_thumbnails(data, sizes=(256,), max_pixels=MAX_PIXELS)

    assert info.thumbnail_source == "embedded"
    # the 1200x800 primary is opened for its metadata, then the 320-pixel thumbnail (sides made even) decoded
    assert decoded == [(1200, 800), (320, 212)]


def test_an_embedded_thumbnail_is_not_used_when_an_extra_size_is_larger_and_the_primary_is_decoded_once():
    info, (small, large) = thumbnails_of(marked_heic(6, scale=4, thumbnails=(320,)), sizes=(256, 512))

    assert info.thumbnail_source == "primary"
    assert large.size == (512, 341)
    assert_upright(small)


def test_an_embedded_thumbnail_is_not_used_when_the_setting_is_off():
    info, (thumbnail,) = thumbnails_of(marked_heic(6, thumbnails=(320,)), embedded_thumbnails=False)

    assert info.thumbnail_source == "primary"
    assert_upright(thumbnail)


def test_an_embedded_thumbnail_of_another_aspect_ratio_is_not_used():
    # GIVEN a file whose thumbnail declares itself 320x100: not a scaled copy of the 600x400 photo
    data = marked_heic(1, thumbnails=(320,))
    thumbnail_ispe = data.index(b"ispe", data.index(b"ispe") + 4) + 8
    data = data[:thumbnail_ispe] + struct.pack(">II", 320, 100) + data[thumbnail_ispe + 8 :]

    # THEN it is not chosen; and as its declared size is not the size its HEVC data codes, the file is refused
    assert heif.thumbnail_item(data, fit=256) is None
    with pytest.raises(ImageRejectedError) as rejected:
        thumbnails_of(data)
    assert rejected.value.reason == "corrupt_image"
    assert "declares 320x100 but the SPS in hvcC codes 320x212" in rejected.value.detail


@pytest.mark.parametrize(
    ("kind", "content"),
    [(b"irot", b"\x02"), (b"imir", b"\x00"), (b"clap", struct.pack(">IIIIiIiI", 100, 1, 100, 1, 0, 1, 0, 1))],
    ids=["rotated", "mirrored", "cropped"],
)
def test_an_embedded_thumbnail_transformed_otherwise_than_the_primary_is_not_used(kind, content):
    # GIVEN the thumbnail (item 3: after the photo and its EXIF) rotated, mirrored or cropped, the photo not
    data = images.heif_with_property(marked_heic(1, thumbnails=(320,)), kind, content, item=3)

    info, (thumbnail,) = thumbnails_of(data)

    assert info.thumbnail_source == "primary"
    assert_upright(thumbnail)


def test_an_embedded_thumbnail_keeps_the_primarys_transparency():
    source = Image.new("RGBA", (640, 480), (255, 0, 0, 0))
    source.paste((0, 0, 255, 255), (0, 0, 320, 480))

    info, (thumbnail,) = thumbnails_of(images.heic(source, thumbnails=(320,)))

    assert (info.mode, info.thumbnail_source) == ("RGBA", "embedded")
    assert thumbnail.getpixel((40, 96))[3] == 255 and thumbnail.getpixel((216, 96))[3] == 0


# The wrong answers real files showed: brands libheif reads, crops, codecs we do not decode, over-limit AVIF.


@pytest.mark.parametrize("brand", [b"mif2", b"mif3", b"miaf", b"heix"])
def test_a_heic_whose_major_brand_libheif_reads_is_thumbnailed(brand):
    data = images.heif_with_major_brand(marked_heic(6), brand)

    info, thumbnail = thumbnail_of(data)

    assert info.format == "HEIF"
    assert_upright(thumbnail)


def test_a_heic_naming_heic_only_among_its_compatible_brands_is_thumbnailed():
    # GIVEN a file whose major brand is the generic `isom`, `mif1` and `heic` only compatible (some cameras)
    data = images.heif_with_major_brand(marked_heic(6), b"isom")

    info, thumbnail = thumbnail_of(data)

    assert info.format == "HEIF"
    assert_upright(thumbnail)


@pytest.mark.parametrize(
    ("item_type", "brand", "codec"),
    [(b"avc1", b"avci", "AVC (H.264)"), (b"jpeg", b"jpeg", "JPEG"), (b"vvc1", b"vvic", "VVC (H.266)")],
)
@pytest.mark.parametrize("tile_size", [0, 64], ids=["one-image", "grid"])
def test_a_heif_of_another_codec_is_unsupported_naming_it(item_type, brand, codec, tile_size):
    data = images.heif_with_major_brand(
        images.heif_with_item_type(marked_heic(1, tile_size=tile_size), b"hvc1", item_type), brand
    )

    error = rejection(data)

    assert error.reason == "unsupported_format"
    assert f"a HEIF file of {codec} images" in error.detail


def quadrants(width: int = 600, height: int = 400) -> Image.Image:
    """Red top-left, green top-right, blue bottom-left, white bottom-right."""
    picture = Image.new("RGB", (width, height), "white")
    picture.paste((255, 0, 0), (0, 0, width // 2, height // 2))
    picture.paste((0, 255, 0), (width // 2, 0, width, height // 2))
    picture.paste((0, 0, 255), (0, height // 2, width // 2, height))
    return picture


def crop(width: int, height: int, across: int, down: int) -> bytes:
    """A `clap` box's content: the kept width and height, and their centre's offset from the image's centre."""
    return struct.pack(">IIIIiIiI", width, 1, height, 1, across, 1, down, 1)


def colour_at(thumbnail: Image.Image, x: float, y: float) -> tuple[int, int, int]:
    red, green, blue, _ = thumbnail.getpixel((int(thumbnail.width * x), int(thumbnail.height * y)))
    return round(red / 255) * 255, round(green / 255) * 255, round(blue / 255) * 255


@pytest.mark.parametrize("encode", ["heic", "avif"])
def test_a_crop_is_applied_and_the_record_gives_the_cropped_size(encode):
    # GIVEN the quadrants picture, cropped (clap) to its top-left 300x200: the red quadrant
    data = images.heic(quadrants()) if encode == "heic" else images.encode(quadrants(), "AVIF", quality=90)
    data = images.heif_with_property(data, b"clap", crop(300, 200, -150, -100))

    info, thumbnail = thumbnail_of(data)

    assert (info.width, info.height) == (300, 200)
    assert thumbnail.size == (256, 171)
    assert {colour_at(thumbnail, x, y) for x in (0.1, 0.9) for y in (0.1, 0.9)} == {(255, 0, 0)}


@pytest.mark.parametrize(
    ("first", "kept"), [(True, (255, 0, 0)), (False, (0, 255, 0))], ids=["crop-first", "turn-first"]
)
def test_a_crop_and_a_rotation_apply_in_the_order_the_file_lists_them(first, kept):
    # GIVEN the quadrants picture turned a quarter anticlockwise by the container (irot), and a crop of a
    # 300x200 area, centred up and left of the middle: listed before the rotation (MIAF) it takes the stored
    # top-left quadrant (red); after the rotation, the top-left of the turned picture (the green quadrant)
    data = images.heic(quadrants(), transform=8, exif_orientation=1)
    box = crop(300, 200, -150, -100) if first else crop(200, 300, -100, -150)
    data = images.heif_with_property(data, b"clap", box, first=first)

    info, thumbnail = thumbnail_of(data)

    reference = pillow_heif.open_heif(io.BytesIO(data)).to_pillow()  # libheif's newer release applies clap
    assert (info.width, info.height) == reference.size
    assert {colour_at(thumbnail, x, y) for x in (0.1, 0.9) for y in (0.1, 0.9)} == {kept}


@pytest.mark.parametrize(
    ("first", "kept"), [(True, (255, 0, 0)), (False, (0, 0, 255))], ids=["crop-first", "turn-first"]
)
def test_an_avif_crop_and_rotation_apply_in_the_order_the_file_lists_them(first, kept):
    # GIVEN the quadrants picture as an AVIF turned a quarter clockwise (irot, which libavif leaves to EXIF),
    # and a 300x200 crop up and left of the middle: before the rotation it keeps the stored top-left quadrant
    # (red); after it, the top-left of the turned picture, which is the stored bottom-left quadrant (blue)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = images.encode(quadrants(), "AVIF", quality=90, exif=exif.tobytes())
    box = crop(300, 200, -150, -100) if first else crop(200, 300, -100, -150)
    data = images.heif_with_property(data, b"clap", box, first=first)

    info, thumbnail = thumbnail_of(data)

    assert (info.display_width, info.display_height, thumbnail.size) == (200, 300, (171, 256))
    assert {colour_at(thumbnail, x, y) for x in (0.1, 0.9) for y in (0.1, 0.9)} == {kept}


def test_an_embedded_thumbnail_cropped_as_the_primary_is_used_and_cropped():
    # GIVEN a 1200x800 photo and its 640x426 thumbnail, both cropped to their top-left quarter: 600x400, 320x213
    data = images.heic(quadrants(1200, 800), thumbnails=(640,))
    data = images.heif_with_property(data, b"clap", crop(600, 400, -300, -200))
    data = images.heif_with_property(data, b"clap", crop(320, 213, -160, -106), item=3)

    info, thumbnail = thumbnail_of(data)

    assert (info.width, info.height, info.thumbnail_source) == (600, 400, "embedded")
    assert {colour_at(thumbnail, x, y) for x in (0.1, 0.9) for y in (0.1, 0.9)} == {(255, 0, 0)}


def test_an_avif_over_the_limit_is_too_many_pixels_not_corrupt():
    # GIVEN an AVIF declaring 17,000 x 17,000 = 289 MP: past libavif's own limit, which refuses to open it
    data = with_declared_size(images.encode(images.photo(64, 64), "AVIF"), 17_000, 17_000)

    over = rejection(data, max_pixels=150_000_000)
    bomb = rejection(data)

    assert over.reason == "too_many_pixels" and "17000x17000 = 289,000,000 pixels" in over.detail
    # past twice the limit the rule of every format holds: a decompression bomb
    assert bomb.reason == "decompression_bomb"


def test_every_cut_of_a_heic_with_a_thumbnail_is_processed_or_rejected_with_a_reason():
    data = images.heif_with_property(marked_heic(6, thumbnails=(320,)), b"clap", crop(500, 300, 0, 0))
    meta_end = data.index(b"mdat")

    for cut in range(0, meta_end, 7):
        try:
            thumbnail_of(data[:cut] + bytes(8) + data[cut + 8 :])
        except ImageRejectedError as error:
            assert error.reason in ("not_an_image", "unsupported_format", "truncated_image", "corrupt_image")
