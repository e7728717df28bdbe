"""The catalogue's heaviest images through the worker, as the handler runs them at the default memory.

tests/hostile measures each file's decode in a process of its own; this checks the production path on
top of that: the decoder's memory cap (the function's 1,024 MB less the handler's share and the
upload) and time limit must still let every image at the pixel limit through, and reject the
rest for the catalogue's reason, never as `decoder_limit`.
"""

from __future__ import annotations

import warnings

import pytest

from image_processor.config import Settings
from image_processor.images import ImageRejectedError
from image_processor.imaging import make_thumbnails
from image_processor.worker import Decoder, Limits
from sample_images.catalogue import CASES, Case

DEFAULT_MEMORY_MB = 1024  # terraform/variables.tf's image_processor_memory_size
DEFAULT_TIMEOUT_SECONDS = 60  # terraform/variables.tf's image_processor_timeout

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def decoder() -> Decoder:
    return Decoder(make_thumbnails)


@pytest.mark.parametrize("case", [case for case in CASES if case.heavy], ids=lambda case: case.name)
def test_heavy_image_has_its_catalogue_outcome_within_the_worker_limits(decoder: Decoder, case: Case):
    data = case.data()
    limits = Limits.for_invocation(
        memory_mb=DEFAULT_MEMORY_MB,
        remaining_seconds=DEFAULT_TIMEOUT_SECONDS,
        max_decode_seconds=Settings.max_decode_seconds,
        upload_bytes=len(data),
    )
    options = {"sizes": (Settings.thumbnail_size,), "max_pixels": Settings.max_image_pixels}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: the outcome says it all
        try:
            decoder.thumbnails(data, limits, **options)
            outcome = ("PROCESSED", None, None)
        except ImageRejectedError as rejection:
            outcome = ("REJECTED", rejection.reason, rejection.detail)

    assert outcome[:2] == (case.status, case.reason), outcome[2]
