"""image_processor.worker: each decode in a forked worker process, within memory and time limits."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator

import pytest
from PIL import Image

from image_processor.images import ImageRejectedError
from image_processor.imaging import make_thumbnails
from image_processor.worker import (
    FORK_WITH_UPLOAD_BYTES,
    HANDLER_RESERVED_BYTES,
    MEMORY_MARGIN_BYTES,
    MIB,
    TIME_RESERVE_SECONDS,
    Decoder,
    DecoderLimitError,
    Limits,
)
from sample_images import images
from tests import faulty_decoders

OPTIONS = {"sizes": (256, 64), "max_pixels": 100_000_000, "include_gps": False}
ROOMY = Limits(memory_bytes=800 * MIB, seconds=60)
# Two ways an upload reaches a worker: down the pipe to a long-lived one, or shared with one forked for it.
SMALL = images.jpeg(64, 48)
LARGE = SMALL + bytes(FORK_WITH_UPLOAD_BYTES)  # a JPEG ignores what follows its end
UPLOADS = pytest.mark.parametrize("upload", [SMALL, LARGE], ids=["piped", "shared"])


@pytest.fixture
def decoder() -> Iterator[Decoder]:
    decoder = Decoder(make_thumbnails)
    yield decoder
    decoder.close()


def test_decoder_makes_the_same_thumbnails_as_a_decode_in_process(decoder):
    # A rotated photo with camera fields: every part of the result crosses the pipe
    data = images.jpeg_with_exif(1200, 800, {0x0112: 6, 0x010F: "Camera Maker"})

    info, thumbnails = decoder.thumbnails(data, ROOMY, **OPTIONS)

    expected_info, expected_thumbnails = make_thumbnails(data, **OPTIONS)
    assert info == expected_info
    assert [(t.width, t.height, t.data) for t in thumbnails] == [
        (t.width, t.height, t.data) for t in expected_thumbnails
    ]


@UPLOADS
def test_a_large_and_a_small_upload_give_the_same_result(decoder, upload):
    info, (large, small) = decoder.thumbnails(upload, ROOMY, **OPTIONS)

    assert (info.format, info.width, info.height) == ("JPEG", 64, 48)
    assert (large.width, small.width) == (64, 64)


def test_decoder_passes_a_rejection_through_with_its_reason(decoder):
    with pytest.raises(ImageRejectedError) as rejected:
        decoder.thumbnails(b"hello, this is text\n", ROOMY, **OPTIONS)

    assert rejected.value.reason == "not_an_image"
    assert "text" in rejected.value.detail


def test_decoder_rejects_an_empty_upload(decoder):
    with pytest.raises(ImageRejectedError) as rejected:
        decoder.thumbnails(b"", ROOMY, **OPTIONS)

    assert rejected.value.reason == "empty_object"


def test_decoder_reuses_its_worker_and_counts_its_cpu(decoder):
    decoder.start()
    [worker] = decoder._idle

    decoder.thumbnails(images.jpeg(1200, 800), ROOMY, **OPTIONS)
    decoder.thumbnails(images.jpeg(600, 400), ROOMY, **OPTIONS)

    assert decoder._idle == [worker]
    assert decoder.cpu_seconds > 0 and decoder.peak_rss_kb > 0


def test_a_worker_ends_when_its_decoder_closes(decoder):
    decoder.start()
    [worker] = decoder._idle

    decoder.close()

    with pytest.raises(ChildProcessError):
        os.waitpid(worker.pid, os.WNOHANG)  # killed and reaped


def test_crashing_decoder_is_a_decoder_limit_rejection_and_its_worker_is_replaced():
    decoder = Decoder(faulty_decoders.crash)
    decoder.start()
    [crashed] = decoder._idle

    with pytest.raises(DecoderLimitError) as rejected:
        decoder.thumbnails(SMALL, ROOMY, **OPTIONS)

    assert rejected.value.reason == "decoder_limit"
    assert rejected.value.detail == "the decoder crashed (signal SIGSEGV)"
    assert decoder._idle == []  # reaped; the next image forks a new worker
    with pytest.raises(ChildProcessError):
        os.waitpid(crashed.pid, os.WNOHANG)


def test_a_large_upload_is_decoded_by_a_worker_forked_for_it_that_crashes_alone():
    decoder = Decoder(faulty_decoders.crash)

    with pytest.raises(DecoderLimitError) as rejected:
        decoder.thumbnails(LARGE, ROOMY, **OPTIONS)

    assert rejected.value.detail == "the decoder crashed (signal SIGSEGV)"
    assert decoder._idle == []


@UPLOADS
def test_hanging_decoder_is_killed_at_its_time_budget(upload):
    with pytest.raises(DecoderLimitError) as rejected:
        Decoder(faulty_decoders.hang).thumbnails(upload, Limits(800 * MIB, seconds=0.5), **OPTIONS)

    assert rejected.value.detail == "decoding took longer than its 0.5 s budget"


@UPLOADS
def test_unbounded_allocation_stops_at_the_memory_budget(upload):
    with pytest.raises(DecoderLimitError) as rejected:
        Decoder(faulty_decoders.allocate_without_bound).thumbnails(upload, Limits(256 * MIB, seconds=60), **OPTIONS)

    assert rejected.value.detail.startswith("decoding needed more than its 256 MB memory budget")


@UPLOADS
def test_unexpected_exception_in_the_decoder_is_a_rejection_that_names_it(upload):
    with pytest.raises(DecoderLimitError) as rejected:
        Decoder(faulty_decoders.raise_unexpectedly).thumbnails(upload, ROOMY, **OPTIONS)

    assert rejected.value.detail == 'the decoder failed unexpectedly: KeyError: "no such field in this file\'s header"'


def test_real_decode_over_the_memory_budget_is_rejected_and_the_next_image_still_works(decoder):
    # GIVEN a 40 MP RGB PNG: Pillow needs 160 MB for its pixels alone
    buffer = io.BytesIO()
    Image.new("RGB", (8000, 5000), (200, 30, 30)).save(buffer, "PNG", compress_level=1)

    # WHEN the decoder may add only 100 MB
    with pytest.raises(DecoderLimitError) as rejected:
        decoder.thumbnails(buffer.getvalue(), Limits(memory_bytes=100 * MIB, seconds=60), **OPTIONS)
    info, _ = decoder.thumbnails(images.jpeg(64, 48), ROOMY, **OPTIONS)

    # THEN that file is rejected for it, and the next image, in a worker forked anew, is not
    assert "memory budget" in rejected.value.detail
    assert info.format == "JPEG"


def test_images_decoded_from_several_threads_at_once_each_get_their_own_result(decoder):
    # The local stack runs several invocations as threads of one process: each takes or forks a worker
    sizes = [(640, 480), (480, 640), (300, 200), (200, 300)]
    results: dict[tuple[int, int], tuple[int, int]] = {}

    def decode(size: tuple[int, int]) -> None:
        info, _ = decoder.thumbnails(images.jpeg(*size), ROOMY, **OPTIONS)
        results[size] = (info.width, info.height)

    threads = [threading.Thread(target=decode, args=(size,)) for size in sizes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert results == {size: size for size in sizes}


def test_limits_leave_the_handler_its_memory_and_time():
    limits = Limits.for_invocation(memory_mb=1024, remaining_seconds=60, max_decode_seconds=30, upload_bytes=MIB)

    reserved = HANDLER_RESERVED_BYTES + MEMORY_MARGIN_BYTES + MIB
    assert limits == Limits(memory_bytes=1024 * MIB - reserved, seconds=30)


def test_limits_end_before_the_invocation_does():
    limits = Limits.for_invocation(memory_mb=1024, remaining_seconds=12, max_decode_seconds=30, upload_bytes=0)

    assert limits.seconds == 12 - TIME_RESERVE_SECONDS


def test_limits_with_no_room_for_the_upload_reject_it():
    with pytest.raises(DecoderLimitError) as rejected:
        Limits.for_invocation(memory_mb=512, remaining_seconds=60, max_decode_seconds=30, upload_bytes=300 * MIB)

    assert "this 314,572,800-byte upload" in rejected.value.detail


def test_no_time_left_is_a_rejection_without_starting_the_decode(decoder):
    with pytest.raises(DecoderLimitError) as rejected:
        decoder.thumbnails(images.jpeg(64, 48), Limits(memory_bytes=800 * MIB, seconds=0), **OPTIONS)

    assert rejected.value.detail == "the invocation had no time left to decode the image"
    assert decoder.cpu_seconds == 0 and decoder._idle == []  # no worker was even forked
