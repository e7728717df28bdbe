"""Thumbnails in sRGB, whatever colour profile the source embeds.

Browsers show an image without a profile as sRGB (so do WebP's container spec and CSS Color 4), so a
thumbnail converted to sRGB needs none: it carries no profile at all, and the source's profile, which
can be megabytes of anything, never reaches it. The conversion runs on the small, already downscaled
image, with Little CMS (Pillow's ImageCms, bundled in Pillow's wheels): a Display P3 phone photo keeps
its colours, and a CMYK print file its tones. A profile that Little CMS cannot read or convert from, or
that does not fit the image's colours (a CMYK profile on an RGB image), is ignored and the record says why.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache, lru_cache

from PIL import Image, ImageCms

from image_processor.storable import safe_text

# The ICC colour space signature for each family of Pillow modes a profile can be applied to, and the
# mode Little CMS converts from. Deeper modes (16-bit and float grey) are thumbnailed without a profile.
_PROFILE_SPACES = {"RGB ": "RGB", "GRAY": "L", "CMYK": "CMYK"}
_MODE_SPACES = {
    **dict.fromkeys(("RGB", "RGBA", "RGBX", "RGBa", "P", "PA", "YCbCr"), "RGB "),
    **dict.fromkeys(("L", "LA", "La", "1"), "GRAY"),
    "CMYK": "CMYK",
}
# Relative colorimetric, as browsers convert: colours inside sRGB stay exactly themselves, the rest clip.
_INTENT = ImageCms.Intent.RELATIVE_COLORIMETRIC
# Transforms kept for profiles seen again: phones embed the same few, and building a transform takes
# ~2 ms from an RGB profile, ~75 ms from a CMYK press profile (a table of 0.2-2 MB). Larger ones (anything
# a hostile file calls a profile, up to 16 MB in a JPEG) are never kept: a warm function holds at most 8 x 4 MB.
_CACHED_TRANSFORMS = 8
_CACHED_PROFILE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Conversion:
    """How the source's colours become sRGB: through `transform`, or as they are when it is None."""

    transform: ImageCms.ImageCmsTransform | None = None
    source_mode: str = "RGB"  # the mode the transform reads
    description: str | None = None  # the embedded profile's own name, when it is used
    ignored: str | None = None  # why an embedded profile is not used


def conversion_for(image: Image.Image) -> Conversion:
    """How to bring `image`'s colours to sRGB, from its embedded ICC profile (if any)."""
    icc = image.info.get("icc_profile")
    if not icc:
        return Conversion()
    space = _MODE_SPACES.get(image.mode)
    if space is None:
        return Conversion(ignored=f"profiles are not applied to {image.mode} images")
    try:
        icc = bytes(icc)
        build = _cached_transform if len(icc) <= _CACHED_PROFILE_BYTES else _transform
        profile, transform = build(icc, space)
    except (OSError, ValueError, TypeError, ImageCms.PyCMSError) as error:
        return Conversion(ignored=safe_text(f"not a usable ICC profile ({len(icc):,} bytes): {error}"))
    if transform is None:
        found = profile.profile.xcolor_space.strip()
        return Conversion(ignored=f"a {found} profile does not fit a {image.mode} image")
    return Conversion(transform=transform, source_mode=_PROFILE_SPACES[space], description=_description(profile))


def to_srgb(image: Image.Image, conversion: Conversion) -> Image.Image:
    """A new RGB or RGBA image: `image` (small, in any mode) converted to sRGB through `conversion.transform`,
    which must be set (without one, the colours are taken as sRGB already)."""
    colours = image if image.mode == conversion.source_mode else image.convert(conversion.source_mode)
    converted = ImageCms.applyTransform(colours, conversion.transform)
    if "A" in image.mode or image.has_transparency_data:
        converted.putalpha(image.convert("RGBA").getchannel("A"))
    return converted


def _description(profile: ImageCms.ImageCmsProfile) -> str:
    try:
        return safe_text(profile.profile.profile_description or "") or "unnamed"
    except ValueError:  # a description of code points outside Unicode: the profile itself still converts
        return "unnamed"


def _transform(icc: bytes, space: str) -> tuple[ImageCms.ImageCmsProfile, ImageCms.ImageCmsTransform | None]:
    """The profile read from `icc`, and its transform to sRGB (None when its colour space is not `space`)."""
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    if profile.profile.xcolor_space != space:
        return profile, None
    mode = _PROFILE_SPACES[space]
    return profile, ImageCms.buildTransform(profile, _srgb(), mode, "RGB", renderingIntent=_INTENT)


_cached_transform = lru_cache(maxsize=_CACHED_TRANSFORMS)(_transform)


@cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
