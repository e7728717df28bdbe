"""The libFuzzer target: image_processor's image path (what its worker runs), under atheris.

Run by `python -m fuzz` with libFuzzer's own flags after `--`. Pillow's Python parsers (JPEG
segments, PNG chunks, TIFF IFDs, GIF blocks, BMP headers) and imaging.py are instrumented, so
coverage guides the mutations; the codecs underneath are native and run uninstrumented.

An input fails the run when make_thumbnails raises anything but ImageRejectedError (a bug: in
production it would be retried, then land in processor-failures) or when its rejection has no
reason or detail, and libFuzzer itself records crashes, timeouts and out-of-memory runs.
"""

from __future__ import annotations

import sys
import warnings

import atheris

with atheris.instrument_imports(include=["PIL", "image_processor", "pi_heif"]):
    from image_processor.imaging import ImageRejectedError, make_thumbnails

# Smaller than production's 100 MP so that a mutated size field costs a fuzz run milliseconds, not
# seconds; the checks before decoding are the same code whatever the limit.
FUZZ_MAX_PIXELS = 4_000_000


def test_one_input(data: bytes) -> None:
    try:
        make_thumbnails(data, sizes=(256, 64), max_pixels=FUZZ_MAX_PIXELS, include_gps=True)
    except ImageRejectedError as rejection:
        if not rejection.reason or not rejection.detail:
            raise AssertionError(f"a rejection without a reason or detail: {rejection!r}") from rejection


def main() -> None:
    warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning on every oversized mutation
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
