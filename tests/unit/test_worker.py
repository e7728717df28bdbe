"""image_processor.worker: the decode in a child process, within memory and time limits."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from image_processor.imaging import ImageRejectedError, make_thumbnails
from image_processor.worker import (
    HANDLER_RESERVED_BYTES,
    MEMORY_MARGIN_BYTES,
    MIB,
    TIME_RESERVE_SECONDS,
    WORKER_RESERVED_BYTES,
    DecoderLimitError,
    DecoderPool,
    Limits,
)
from tests import images

OPTIONS = {"sizes": (256, 64), "max_pixels": 100_000_000, "include_gps": False}
ROOMY = Limits(memory_bytes=800 * MIB, seconds=60)


@pytest.fixture
def pool():
    decoders = DecoderPool()
    yield decoders
    decoders.close()


def faulty_pool(entry: str) -> DecoderPool:
    return DecoderPool(f"tests.faulty_decoders:{entry}")


def test_worker_makes_the_same_thumbnails_as_the_decoder_in_process(pool):
    # A rotated photo with camera fields: every part of the result crosses the pipe
    data = images.jpeg_with_exif(1200, 800, {0x0112: 6, 0x010F: "Camera Maker"})

    info, thumbnails = pool.thumbnails(data, ROOMY, **OPTIONS)

    expected_info, expected_thumbnails = make_thumbnails(data, **OPTIONS)
    assert info == expected_info
    assert [(t.width, t.height, t.data) for t in thumbnails] == [
        (t.width, t.height, t.data) for t in expected_thumbnails
    ]


def test_worker_passes_a_rejection_through_with_its_reason(pool):
    with pytest.raises(ImageRejectedError) as rejected:
        pool.thumbnails(b"hello, this is text\n", ROOMY, **OPTIONS)

    assert rejected.value.reason == "not_an_image"
    assert "text" in rejected.value.detail


def test_worker_rejects_an_empty_upload_and_serves_the_next(pool):
    with pytest.raises(ImageRejectedError) as rejected:
        pool.thumbnails(b"", ROOMY, **OPTIONS)
    info, _ = pool.thumbnails(images.jpeg(64, 48), ROOMY, **OPTIONS)

    assert rejected.value.reason == "empty_object"
    assert (info.width, info.height) == (64, 48)


def test_worker_is_reused_across_images(pool):
    pool.thumbnails(images.jpeg(64, 48), ROOMY, **OPTIONS)
    [first] = pool._idle
    pool.thumbnails(images.jpeg(64, 48), ROOMY, **OPTIONS)

    assert pool._idle == [first]


def test_crashing_decoder_is_a_decoder_limit_rejection():
    pool = faulty_pool("crash")
    try:
        with pytest.raises(DecoderLimitError) as rejected:
            pool.thumbnails(images.jpeg(64, 48), ROOMY, **OPTIONS)
    finally:
        pool.close()

    assert rejected.value.reason == "decoder_limit"
    assert "the decoder crashed (signal SIGSEGV)" in rejected.value.detail


def test_hanging_decoder_is_killed_at_its_time_budget():
    pool = faulty_pool("hang")
    try:
        with pytest.raises(DecoderLimitError) as rejected:
            pool.thumbnails(images.jpeg(64, 48), Limits(memory_bytes=800 * MIB, seconds=0.5), **OPTIONS)
        assert pool._idle == []  # the hung process was killed, not kept
    finally:
        pool.close()

    assert rejected.value.detail == "decoding took longer than its 0.5 s budget"


def test_unbounded_allocation_stops_at_the_memory_budget():
    pool = faulty_pool("allocate_without_bound")
    try:
        with pytest.raises(DecoderLimitError) as rejected:
            pool.thumbnails(b"x", Limits(memory_bytes=256 * MIB, seconds=60), **OPTIONS)
    finally:
        pool.close()

    assert rejected.value.detail.startswith("decoding needed more than its 256 MB memory budget")


def test_real_decode_over_the_memory_budget_is_rejected_and_the_next_image_still_works(pool):
    # GIVEN a 40 MP RGB PNG: Pillow needs 160 MB for its pixels alone
    buffer = io.BytesIO()
    Image.new("RGB", (8000, 5000), (200, 30, 30)).save(buffer, "PNG", compress_level=1)

    # WHEN the decoder may add only 100 MB
    with pytest.raises(DecoderLimitError) as rejected:
        pool.thumbnails(buffer.getvalue(), Limits(memory_bytes=100 * MIB, seconds=60), **OPTIONS)
    info, _ = pool.thumbnails(images.jpeg(64, 48), ROOMY, **OPTIONS)

    # THEN that file is rejected for it, and the worker that replaced the capped one serves the next
    assert "memory budget" in rejected.value.detail
    assert info.format == "JPEG"


def test_a_worker_ends_when_its_parent_closes_the_pipe(pool):
    pool.thumbnails(images.jpeg(64, 48), ROOMY, **OPTIONS)
    [worker] = pool._idle

    worker.process.stdin.close()

    assert worker.process.wait(timeout=30) == 0


def test_limits_leave_the_handler_its_memory_and_time():
    limits = Limits.for_invocation(memory_mb=1024, remaining_seconds=60, max_decode_seconds=30, upload_bytes=MIB)

    reserved = HANDLER_RESERVED_BYTES + WORKER_RESERVED_BYTES + MEMORY_MARGIN_BYTES + 2 * MIB
    assert limits == Limits(memory_bytes=1024 * MIB - reserved, seconds=30)


def test_limits_end_before_the_invocation_does():
    limits = Limits.for_invocation(memory_mb=1024, remaining_seconds=12, max_decode_seconds=30, upload_bytes=0)

    assert limits.seconds == 12 - TIME_RESERVE_SECONDS


def test_limits_with_no_room_for_the_upload_reject_it():
    with pytest.raises(DecoderLimitError) as rejected:
        Limits.for_invocation(memory_mb=512, remaining_seconds=60, max_decode_seconds=30, upload_bytes=200 * MIB)

    assert "two copies of this 209,715,200-byte upload" in rejected.value.detail


def test_no_time_left_is_a_rejection_without_starting_the_decode(pool):
    with pytest.raises(DecoderLimitError) as rejected:
        pool.thumbnails(images.jpeg(64, 48), Limits(memory_bytes=800 * MIB, seconds=0), **OPTIONS)

    assert rejected.value.detail == "the invocation had no time left to decode the image"


def test_unexpected_exception_in_the_decoder_is_a_rejection_that_names_it():
    pool = faulty_pool("raise_unexpectedly")
    try:
        with pytest.raises(DecoderLimitError) as rejected:
            pool.thumbnails(images.jpeg(64, 48), ROOMY, **OPTIONS)
        assert len(pool._idle) == 1  # a Python exception leaves the worker usable
    finally:
        pool.close()

    assert rejected.value.detail == 'the decoder failed unexpectedly: KeyError: "no such field in this file\'s header"'
