"""AVIF and HEIF items code the size their `ispe` declares, read from the codec's own headers before decoding."""

from __future__ import annotations

import io
import random

import pi_heif
import pytest
from PIL import Image

from image_processor import coded_size
from image_processor.coded_size import item_sizes
from image_processor.imaging import ImageRejectedError, make_thumbnail
from sample_images import images

MAX_PIXELS = 100_000_000


def rejection(data: bytes) -> ImageRejectedError:
    with pytest.raises(ImageRejectedError) as caught:
        make_thumbnail(data, size=256, max_pixels=MAX_PIXELS)
    return caught.value


def coded(data: bytes) -> list[tuple[int, str, tuple[int, int] | None, tuple[int, int] | None]]:
    return [(size.image, size.codec, size.declared, size.coded) for size in item_sizes(data)]


def test_item_sizes_reads_the_av1_sequence_header_of_an_avif_and_its_alpha():
    data = images.encode(Image.new("RGBA", (321, 241), (10, 20, 30, 128)), "AVIF", quality=60)

    assert coded(data) == [("item 1", "AV1", (321, 241), (321, 241)), ("item 2", "AV1", (321, 241), (321, 241))]


def test_item_sizes_reads_the_hevc_sps_less_its_conformance_window():
    # x265 codes 322 x 244 (4:2:0 needs even sizes) as 336 x 256 and a window cutting the rest
    [size] = item_sizes(images.heic(images.photo(321, 243)))

    assert (size.codec, size.declared, size.coded, size.decoded_pixels) == ("HEVC", (322, 244), (322, 244), 336 * 256)
    assert size.source == "the SPS in hvcC"


def test_item_sizes_reads_a_grid_and_each_of_its_tiles():
    data = images.heic(images.photo(1100, 700), tile_size=512)

    sizes = coded(data)

    assert sizes[0] == ("item 1", "grid", (1100, 700), (1100, 700))
    assert sizes[1:] == [(f"item {item}", "HEVC", (512, 512), (512, 512)) for item in range(2, 8)]


def test_a_grid_whose_ispe_is_not_its_output_size_is_rejected():
    data = images.with_ispe(images.heic(images.photo(1100, 700), tile_size=512), 2000, 2000)

    error = rejection(data)

    assert error.reason == "corrupt_image"
    assert "declares 2000x2000" in error.detail and "codes 1100x700" in error.detail


@pytest.mark.parametrize(("side", "reason"), [(16_384, "decompression_bomb"), (12_288, "too_many_pixels")])
def test_an_avif_coding_more_pixels_than_it_declares_is_rejected_by_its_coded_size(side, reason):
    data = images.avif_coding(side, side)

    error = rejection(data)

    assert error.reason == reason
    assert f"item 1 (AV1): the sequence header in the image data codes {side}x{side}" in error.detail


def test_an_avif_whose_ispe_is_smaller_than_its_frame_is_rejected_naming_both_sizes():
    data = images.with_ispe(images.encode(Image.new("RGB", (1024, 1024), "teal"), "AVIF", quality=0, speed=10), 64, 64)

    error = rejection(data)

    assert (error.reason, error.detail) == (
        "corrupt_image",
        "item 1 (AV1): its ispe property declares 64x64 but the sequence header in the image data codes 1024x1024",
    )


def test_an_avif_whose_ispe_is_larger_than_its_frame_is_rejected():
    data = images.with_ispe(images.encode(images.photo(64, 64), "AVIF", quality=60), 640, 480)

    assert rejection(data).reason == "corrupt_image"


def animation(side: int) -> bytes:
    frames = [Image.new("RGB", (side, side), colour) for colour in ("red", "blue")]
    return images.encode(frames[0], "AVIF", save_all=True, append_images=frames[1:], duration=100, speed=10, quality=0)


def test_item_sizes_reads_an_animated_avif_track_and_its_first_frame():
    sizes = coded(animation(96))

    assert ("track 1", "AV1", (96, 96), (96, 96)) in sizes


def test_an_animated_avif_whose_track_declares_less_than_its_frames_is_rejected():
    # Pillow reports an animation's size from its track header: this one would be "64 x 64"
    data = images.with_track_size(animation(1024), 64, 64)

    error = rejection(data)

    assert error.reason == "corrupt_image"
    assert error.detail == (
        "track 1 (AV1): its track header declares 64x64 but the sequence header in the first frame codes 1024x1024"
    )


def test_a_heic_whose_ispe_is_smaller_than_its_picture_is_rejected():
    data = images.with_ispe(images.heic(images.photo(320, 240)), 64, 48)

    error = rejection(data)

    assert error.reason == "corrupt_image"
    assert error.detail == "item 1 (HEVC): its ispe property declares 64x48 but the SPS in hvcC codes 320x240"


@pytest.mark.parametrize("declared", [(64, 48), (640, 480)])
def test_libheif_itself_refuses_a_decoded_size_other_than_declared(declared):
    # The second line behind the check above, which it must keep: libheif compares what it decoded with ispe.
    data = images.with_ispe(images.heic(images.photo(320, 240)), *declared)

    with pytest.raises((ValueError, RuntimeError), match="size"):
        pi_heif.open_heif(io.BytesIO(data)).to_pillow()


def test_a_sequence_header_rewritten_to_its_own_size_still_decodes():
    # The generator behind the over-limit cases changes nothing else: at 64 x 64 the file is a good AVIF.
    info, thumbnail = make_thumbnail(images.avif_coding(64, 64), size=256, max_pixels=MAX_PIXELS)

    assert (info.width, info.height, thumbnail.width) == (64, 64, 64)


@pytest.mark.parametrize("fmt", ["AVIF", "HEIC"])
def test_item_sizes_never_raises_on_damaged_files(fmt):
    good = images.encode(images.photo(64, 48), "AVIF") if fmt == "AVIF" else images.heic(images.photo(64, 48))
    rng = random.Random(22)
    for _ in range(300):
        damaged = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        cut = damaged[: rng.randint(0, len(damaged))] if rng.random() < 0.3 else damaged

        assert isinstance(item_sizes(bytes(cut)), list)


def test_item_sizes_reads_no_more_than_its_item_limit(monkeypatch):
    monkeypatch.setattr(coded_size, "MAX_ITEMS", 5)
    data = images.heic(images.photo(1100, 700), tile_size=512)  # a grid and its six tiles

    [size] = item_sizes(data)

    assert (size.coded, size.source) == (None, "7 image items, over 5")


def test_item_sizes_reads_no_more_units_than_its_file_limit(monkeypatch):
    monkeypatch.setattr(coded_size, "MAX_UNITS_IN_FILE", 3)
    data = images.heic(images.photo(1100, 700), tile_size=512)  # six tiles, a NAL unit or more each

    sizes = item_sizes(data)

    assert sizes[-1].coded is None
    assert sizes[-1].source == "more than 3 OBUs or NAL units in the file's image data"
