"""The cheap structural checks alone (image_processor/prechecks.py): hostile shapes are rejected with their
reason, and files shaped like real ones pass. Caps are lowered where a file over the real one would be big."""

from __future__ import annotations

import pytest
from PIL import PngImagePlugin

from image_processor import prechecks
from image_processor.imaging import ImageRejectedError, make_thumbnail
from sample_images import images

MAX_PIXELS = 100_000_000
LIMIT_SIDE = 10_000  # 10,000 x 10,000 = MAX_PIXELS
YCBCR_420, YCBCR_444, CMYK = ((2, 2), (1, 1), (1, 1)), ((1, 1),) * 3, ((1, 1),) * 4


def rejection(data: bytes, max_pixels: int = MAX_PIXELS) -> ImageRejectedError:
    with pytest.raises(ImageRejectedError) as caught:
        prechecks.check(data, max_pixels=max_pixels)
    return caught.value


def png_with_text(chunks: int) -> bytes:
    info = PngImagePlugin.PngInfo()
    for index in range(chunks):
        info.add_text(f"key{index}", "value")
    return images.encode(images.photo(64, 48), "PNG", pnginfo=info)


def real_world_files() -> list[object]:
    photo = images.photo(1600, 1200)
    return [
        pytest.param(images.jpeg(1600, 1200, progressive=True), id="progressive-jpeg"),
        pytest.param(images.jpeg(640, 480, restart_marker_blocks=1), id="jpeg-restart-every-block"),
        pytest.param(images.jpeg_with_exif(640, 480, {0x010F: "Camera"}), id="jpeg-with-exif"),
        pytest.param(images.encode(photo.convert("CMYK"), "JPEG", quality=90), id="cmyk-jpeg"),
        pytest.param(images.encode(photo, "TIFF", compression="tiff_deflate"), id="multi-strip-tiff"),
        pytest.param(images.tiff_strips(300, 200, 200), id="tiff-one-row-strips"),
        pytest.param(images.tiff_strips(100, 60, 8, tile=32), id="tiled-tiff"),
        pytest.param(images.animated("GIF", 50), id="animated-gif"),
        pytest.param(png_with_text(5), id="png-with-text"),
        pytest.param(images.animated("PNG", 50), id="animated-png"),
        pytest.param(images.bmp_rle8(2000, 1500, 255), id="bmp-rle"),
        pytest.param(images.bmp_rle8(1000, 500, 1), id="bmp-rle-short-runs"),
        pytest.param(images.encode(photo, "BMP"), id="bmp"),
    ]


@pytest.mark.parametrize("data", real_world_files())
def test_check_passes_files_shaped_like_real_ones(data: bytes):
    prechecks.check(data, max_pixels=MAX_PIXELS)

    make_thumbnail(data, size=64, max_pixels=MAX_PIXELS)  # and the whole path accepts them


# --- JPEG ---------------------------------------------------------------------------------------------------


def test_check_passes_a_progressive_jpeg_with_half_resolution_colour_at_the_pixel_limit():
    # 4:2:0, as cameras write it: 300 MB of coefficients, inside the 400 MB a 100 MP RGB decode may take
    prechecks.check(images.progressive_jpeg(LIMIT_SIDE, LIMIT_SIDE, YCBCR_420), max_pixels=MAX_PIXELS)


def test_check_rejects_a_jpeg_of_empty_segments_before_its_image():
    error = rejection(images.jpeg_with_empty_segments(prechecks.MAX_JPEG_SEGMENTS + 1))

    assert error.reason == "too_many_segments"
    assert "more than 1,000 marker segments" in error.detail and "before its first scan" in error.detail


def test_check_counts_the_segments_between_and_after_the_scans_of_a_progressive_jpeg():
    progressive = images.jpeg(640, 480, progressive=True)
    data = progressive[:-2] + b"\xff\xfe\x00\x02" * prechecks.MAX_JPEG_SEGMENTS + progressive[-2:]

    error = rejection(data)

    assert error.reason == "too_many_segments" and "scans" in error.detail


def test_check_stops_at_the_end_of_the_first_image():
    # GIVEN a JPEG followed by bytes that look like endless segments (an MPO's second image, or junk)
    data = images.jpeg(640, 480) + b"\xff\xfe\x00\x02" * (prechecks.MAX_JPEG_SEGMENTS * 2)

    prechecks.check(data, max_pixels=MAX_PIXELS)


def test_check_rejects_a_jpeg_of_more_scans_than_the_cap():
    data = images.progressive_jpeg(64, 64, ((1, 1),), ac_scans=prechecks.MAX_JPEG_SCANS)

    error = rejection(data)

    assert error.reason == "too_many_scans" and "more than 100 scans" in error.detail


def test_check_counts_the_scans_of_a_real_progressive_jpeg(monkeypatch):
    # libjpeg's default progressive script has 10 scans for YCbCr
    data = images.jpeg(640, 480, progressive=True)
    monkeypatch.setattr(prechecks, "MAX_JPEG_SCANS", 9)

    assert rejection(data).reason == "too_many_scans"
    monkeypatch.setattr(prechecks, "MAX_JPEG_SCANS", 10)
    prechecks.check(data, max_pixels=MAX_PIXELS)


@pytest.mark.parametrize(
    ("sampling", "limit", "per_pixel"),
    [(CMYK, "50,000,000", "8.0 a pixel"), (YCBCR_444, "66,666,666", "6.0 a pixel")],
    ids=["cmyk", "ycbcr-444"],
)
def test_check_counts_a_progressive_jpeg_s_coefficients_in_the_pixel_limit(sampling, limit, per_pixel):
    # GIVEN a progressive JPEG at exactly MAX_PIXELS, cut off after its first scan's header (under 1 KB)
    data = images.progressive_jpeg(LIMIT_SIDE, LIMIT_SIDE, sampling, data=False)

    error = rejection(data)

    assert error.reason == "too_many_pixels"
    assert f"over {limit}, the limit for a progressive JPEG with {len(sampling)} components" in error.detail
    assert per_pixel in error.detail and "MAX_IMAGE_PIXELS=100,000,000" in error.detail


def test_check_scales_the_progressive_jpeg_limit_with_max_pixels():
    data = images.progressive_jpeg(4000, 3000, CMYK, data=False)  # 12 MP, 96 MB of coefficients

    prechecks.check(data, max_pixels=24_000_000)
    assert rejection(data, max_pixels=23_999_999).reason == "too_many_pixels"


def test_check_leaves_a_jpeg_over_the_pixel_limit_to_the_pixel_check():
    data = images.progressive_jpeg(20_000, 20_000, CMYK, data=False)

    prechecks.check(data, max_pixels=MAX_PIXELS)
    with pytest.raises(ImageRejectedError) as caught:
        make_thumbnail(data, size=64, max_pixels=MAX_PIXELS)
    assert caught.value.reason == "decompression_bomb"


# --- TIFF ---------------------------------------------------------------------------------------------------


def test_check_rejects_a_tiff_listing_more_strips_than_its_size_needs():
    error = rejection(images.tiff_strips(1, 2, 3))

    assert error.reason == "too_many_strips"
    assert error.detail == "the TIFF lists 3 strips but 1x2 in 1-row strips needs 2"


def test_check_rejects_a_tiff_listing_more_tiles_than_its_size_needs():
    error = rejection(images.tiff_strips(100, 60, 9, tile=32))

    assert error.reason == "too_many_strips"
    assert error.detail == "the TIFF lists 9 tiles but 100x60 in 32x32 tiles needs 8"


def test_check_rejects_a_tiff_of_more_strips_than_the_cap_even_when_its_size_needs_them():
    strips = prechecks.MAX_TIFF_STRIPS + 1

    error = rejection(images.tiff_strips(1, strips, strips))

    assert error.reason == "too_many_strips" and "over 100,000" in error.detail


def test_check_rejects_a_tiff_page_of_too_many_fields(monkeypatch):
    monkeypatch.setattr(prechecks, "MAX_TIFF_FIELDS", 8)  # tiff_strips writes 9

    assert rejection(images.tiff_strips(300, 200, 200)).reason == "too_many_segments"


# --- GIF ----------------------------------------------------------------------------------------------------


def test_gif_frame_count_counts_every_frame_of_an_animation():
    assert prechecks.gif_frame_count(images.animated("GIF", 50)) == 50
    assert prechecks.gif_frame_count(images.encode(images.photo(64, 48), "GIF")) == 1


def test_gif_frame_count_stops_past_the_cap(monkeypatch):
    monkeypatch.setattr(prechecks, "MAX_GIF_FRAMES", 49)

    with pytest.raises(ImageRejectedError) as caught:
        prechecks.gif_frame_count(images.animated("GIF", 50))

    assert caught.value.reason == "too_many_frames"
    assert caught.value.detail.startswith("the GIF has more than 49 frames (counting stopped there)")


def test_gif_frame_count_stops_past_the_block_cap(monkeypatch):
    monkeypatch.setattr(prechecks, "MAX_GIF_BLOCKS", 10)

    with pytest.raises(ImageRejectedError) as caught:
        prechecks.gif_frame_count(images.animated("GIF", 50))

    assert caught.value.reason == "too_many_segments"


def test_make_thumbnail_rejects_a_gif_of_too_many_frames_before_decoding(monkeypatch):
    monkeypatch.setattr(prechecks, "MAX_GIF_FRAMES", 49)

    with pytest.raises(ImageRejectedError) as caught:
        make_thumbnail(images.animated("GIF", 50), size=64, max_pixels=MAX_PIXELS)

    assert caught.value.reason == "too_many_frames"


# --- PNG ----------------------------------------------------------------------------------------------------


def test_check_rejects_a_png_of_too_many_text_chunks():
    error = rejection(png_with_text(prechecks.MAX_PNG_METADATA_CHUNKS + 1))

    assert error.reason == "too_many_segments"
    assert "more than 1,000 chunks besides its image data" in error.detail and "'tEXt'" in error.detail


def test_check_counts_image_data_chunks_against_their_own_cap(monkeypatch):
    # GIVEN an animated PNG: two chunks of image data per frame, none of them metadata
    data = images.animated("PNG", 50)
    monkeypatch.setattr(prechecks, "MAX_PNG_METADATA_CHUNKS", 5)
    prechecks.check(data, max_pixels=MAX_PIXELS)

    monkeypatch.setattr(prechecks, "MAX_PNG_CHUNKS", 50)

    assert rejection(data).reason == "too_many_segments"


# --- BMP ----------------------------------------------------------------------------------------------------


def test_check_rejects_bmp_rle_of_runs_of_one_pixel():
    error = rejection(images.bmp_rle8(2000, 1500, 1))

    assert error.reason == "too_many_runs"
    assert "8-bit RLE data (2000x1500) would take Pillow's pure-Python decoder over 1 s" in error.detail


def test_check_rejects_bmp_rle_of_empty_line_ends():
    assert rejection(images.bmp_rle8(10, 10, 1, empty_lines=3_000_000)).reason == "too_many_runs"


def test_check_counts_the_pixels_a_line_end_pads_one_by_one():
    # GIVEN 2,000 lines of one pixel, each ended early: Pillow pads 4,999 pixels a line, one at a time
    data = images.bmp_rle(5000, 2000, b"\x01\x01\x00\x00" * 2000 + b"\x00\x01")

    assert rejection(data).reason == "too_many_runs"


def test_check_counts_every_pixel_of_4_bit_rle():
    # Pillow draws 4-bit RLE one pixel at a time, even in runs of 255
    def rle4(side: int) -> bytes:
        row = b"\xff\x12" * (side // 255) + bytes((side % 255, 0x12)) + b"\x00\x00"
        return images.bmp_rle(side, side, row * side + b"\x00\x01", bits=4)

    prechecks.check(rle4(2000), max_pixels=MAX_PIXELS)
    assert rejection(rle4(3000)).reason == "too_many_runs"
