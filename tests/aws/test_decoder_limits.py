"""Whatever a decoder does, the upload ends as a record: image_processor's worker limits, through the handler.

Each test first gives the key a good image and its thumbnail, then overwrites it with a file whose
decode crashes, hangs or outgrows the function's memory. The handler must return normally (no
Lambda retry, nothing for processor-failures), send one REJECTED `decoder_limit` message that says
what ran out, and leave no thumbnail of the old image behind.
"""

from __future__ import annotations

import dataclasses
import io

import pytest
from PIL import Image

from image_processor.worker import Decoder
from sample_images import images
from tests import faulty_decoders
from tests.conftest import s3_event

KEY = "photos/suspicious.png"


def upload_and_process(stack, handler, context, data: bytes) -> None:
    stack.s3.put_object(Bucket=stack.upload_bucket, Key=KEY, Body=data)
    handler.lambda_handler(s3_event("s3_put", bucket=stack.upload_bucket, key=KEY, size=len(data)), context)


@pytest.fixture
def processed_before(stack, image_processor, context):
    """The key held a good image, with its thumbnail and PROCESSED message."""
    upload_and_process(stack, image_processor, context, images.jpeg(640, 480))
    [message] = stack.queued_messages()
    assert message["status"] == "PROCESSED"
    stack.sqs.purge_queue(QueueUrl=stack.queue_url)
    assert stack.thumbnail_keys() == [f"thumbnails/{KEY}.webp"]


def faulty(handler, monkeypatch, entry: str) -> None:
    """The handler's decoder, running a deliberately faulty decode instead of make_thumbnails."""
    monkeypatch.setattr(handler, "decoder", Decoder(getattr(faulty_decoders, entry)))
    monkeypatch.setattr(handler, "SETTINGS", dataclasses.replace(handler.SETTINGS, max_decode_seconds=1.0))


def rejection(stack) -> tuple[str, str, str]:
    [message] = stack.queued_messages()
    return message["status"], message["reason"], message["reason_detail"]


def test_crashing_decoder_ends_as_rejected_decoder_limit(
    stack, image_processor, context, processed_before, monkeypatch
):
    faulty(image_processor, monkeypatch, "crash")

    upload_and_process(stack, image_processor, context, images.jpeg(320, 240))

    status, reason, detail = rejection(stack)
    assert (status, reason) == ("REJECTED", "decoder_limit")
    assert detail.startswith("the decoder crashed (signal SIGSEGV)")
    assert stack.thumbnail_keys() == []


def test_hanging_decoder_ends_as_rejected_decoder_limit(stack, image_processor, context, processed_before, monkeypatch):
    faulty(image_processor, monkeypatch, "hang")

    upload_and_process(stack, image_processor, context, images.jpeg(320, 240))

    assert rejection(stack) == ("REJECTED", "decoder_limit", "decoding took longer than its 1.0 s budget")
    assert stack.thumbnail_keys() == []


def test_decode_bigger_than_the_functions_memory_ends_as_rejected_decoder_limit(
    stack, image_processor, context, processed_before
):
    # GIVEN a function of 400 MB, and a 96 MP RGB PNG: accepted by the pixel limit, but its 288 MB of
    # pixels do not fit beside the handler's share
    buffer = io.BytesIO()
    Image.new("RGB", (12_000, 8_000), (30, 120, 200)).save(buffer, "PNG", compress_level=1)
    small = dataclasses.replace(context, memory_limit_in_mb=400)

    upload_and_process(stack, image_processor, small, buffer.getvalue())

    status, reason, detail = rejection(stack)
    assert (status, reason) == ("REJECTED", "decoder_limit")
    assert "memory budget" in detail
    assert stack.thumbnail_keys() == []


def test_the_same_file_is_processed_where_the_memory_holds_it(stack, image_processor, context):
    buffer = io.BytesIO()
    Image.new("RGB", (12_000, 8_000), (30, 120, 200)).save(buffer, "PNG", compress_level=1)

    upload_and_process(stack, image_processor, context, buffer.getvalue())

    [message] = stack.queued_messages()
    assert (message["status"], message["width"], message["height"]) == ("PROCESSED", 12_000, 8_000)
