"""Thumbnails come out in sRGB, carrying no colour profile, whatever profile the source embeds."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from image_processor.imaging import make_thumbnail
from sample_images import images

P3_ORANGE = (200, 100, 50)  # inside sRGB's gamut, where Display P3 and sRGB give the numbers other colours


def thumbnail_of(data: bytes):
    info, thumbnail = make_thumbnail(data, size=256, max_pixels=10**8)
    return info, thumbnail, Image.open(io.BytesIO(thumbnail.data))


def in_srgb(colour: tuple[int, ...], profile: bytes, mode: str = "RGB") -> tuple[int, ...]:
    """What Little CMS makes of one pixel in `profile`, converted to sRGB."""
    source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    pixel = Image.new(mode, (1, 1), colour)
    srgb = ImageCms.createProfile("sRGB")
    return ImageCms.profileToProfile(pixel, source, srgb, renderingIntent=1, outputMode="RGB").getpixel((0, 0))


def assert_close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 4) -> None:
    assert all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True)), (actual, expected)


def p3_photo(fmt: str, profile: bytes) -> bytes:
    picture = Image.new("RGB", (800, 600), P3_ORANGE)
    if fmt == "HEIC":
        picture.info["icc_profile"] = profile  # pillow-heif stores it as the colr property's profile
        return images.heic(picture)
    return images.encode(picture, fmt, quality=95, icc_profile=profile)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "AVIF", "HEIC"])
def test_make_thumbnail_converts_a_display_p3_photo_to_srgb_and_drops_the_profile(fmt):
    # GIVEN a photo of one P3 colour, tagged Display P3 as phones tag theirs
    profile = images.display_p3_profile()
    data = p3_photo(fmt, profile)

    info, thumbnail, decoded = thumbnail_of(data)

    # THEN the thumbnail shows the colour sRGB needs for it, visibly not the P3 numbers, and has no profile
    expected = in_srgb(P3_ORANGE, profile)
    assert abs(expected[0] - P3_ORANGE[0]) > 10 and abs(expected[2] - P3_ORANGE[2]) > 10
    assert_close(decoded.getpixel((100, 100)), expected)
    assert "icc_profile" not in decoded.info and b"ICCP" not in thumbnail.data
    assert (info.icc_profile, info.icc_profile_ignored) == ("Display P3", None)


def test_make_thumbnail_converts_through_a_profile_whose_name_is_not_ascii():
    # Latin-1 in an ASCII description, as older European tools write it: Little CMS reads it as no character
    profile = images.display_p3_profile().replace(b"Display P3", b"Display \xe9P")
    data = images.encode(Image.new("RGB", (400, 300), P3_ORANGE), "JPEG", quality=95, icc_profile=profile)

    info, _, decoded = thumbnail_of(data)

    assert info.icc_profile == "unnamed"
    assert_close(decoded.getpixel((50, 50)), in_srgb(P3_ORANGE, profile))


def test_make_thumbnail_keeps_transparency_while_converting_to_srgb():
    profile = images.display_p3_profile()
    data = images.encode(Image.new("RGBA", (400, 300), (*P3_ORANGE, 100)), "PNG", icc_profile=profile)

    _, _, decoded = thumbnail_of(data)

    assert decoded.mode == "RGBA" and decoded.getpixel((50, 50))[3] == 100
    assert_close(decoded.getpixel((50, 50))[:3], in_srgb(P3_ORANGE, profile), tolerance=6)


def test_make_thumbnail_converts_grey_through_its_grey_profile():
    profile = images.linear_grey_profile()
    data = images.encode(Image.new("L", (400, 300), 128), "PNG", icc_profile=profile)

    info, _, decoded = thumbnail_of(data)

    assert_close(decoded.getpixel((50, 50)), in_srgb(128, profile, mode="L"))
    assert decoded.getpixel((50, 50))[0] > 180  # linear mid-grey is light in sRGB
    assert info.icc_profile == "Linear Grey"


@pytest.mark.parametrize("size", [1_000, 1_000_000])
def test_make_thumbnail_ignores_a_profile_of_arbitrary_bytes_and_says_so(size):
    garbage = (b"Lorem ipsum dolor sit amet " * (size // 27 + 1))[:size]
    data = images.encode(Image.new("RGB", (400, 300), P3_ORANGE), "JPEG", quality=95, icc_profile=garbage)

    info, thumbnail, decoded = thumbnail_of(data)

    assert info.icc_profile is None
    assert info.icc_profile_ignored.startswith(f"not a usable ICC profile ({size:,} bytes)")
    assert len(thumbnail.data) < 2_000 and b"Lorem" not in thumbnail.data
    assert_close(decoded.getpixel((50, 50)), P3_ORANGE)  # taken as sRGB, as a browser would


def test_make_thumbnail_ignores_a_profile_of_another_colour_space():
    data = images.encode(
        Image.new("RGB", (400, 300), P3_ORANGE), "JPEG", quality=95, icc_profile=images.linear_grey_profile()
    )

    info, _, decoded = thumbnail_of(data)

    assert info.icc_profile_ignored == "a GRAY profile does not fit a RGB image"
    assert_close(decoded.getpixel((50, 50)), P3_ORANGE)


def test_make_thumbnail_without_a_profile_takes_the_colours_as_srgb():
    data = images.encode(Image.new("RGB", (400, 300), P3_ORANGE), "PNG")

    info, _, decoded = thumbnail_of(data)

    assert (info.icc_profile, info.icc_profile_ignored) == (None, None)
    assert_close(decoded.getpixel((50, 50)), P3_ORANGE)


# Ghostscript's SWOP profile, where Debian's ghostscript is installed: a CMYK profile is a table of
# thousands of measured colours, too much to write here by hand as the RGB and grey ones are.
SWOP = Path("/usr/share/color/icc/ghostscript/default_cmyk.icc")


@pytest.mark.skipif(not SWOP.exists(), reason="needs ghostscript's CMYK profile")
def test_make_thumbnail_converts_cmyk_through_its_cmyk_profile():
    profile = SWOP.read_bytes()
    ink = (0, 100, 200, 0)
    data = images.encode(Image.new("CMYK", (400, 300), ink), "JPEG", quality=95, icc_profile=profile)

    info, _, decoded = thumbnail_of(data)

    assert info.icc_profile == "Artifex CMYK SWOP Profile"
    assert_close(decoded.getpixel((50, 50)), in_srgb(ink, profile, mode="CMYK"))
