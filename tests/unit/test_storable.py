"""Text and numbers as they may leave the function: what DynamoDB can store."""

from __future__ import annotations

import pytest

from image_processor.storable import fits_dynamodb, safe_text


def test_safe_text_bounds_and_cleans():
    assert safe_text("\x00 a\tb\u0085c\ud83d \U0001fffe" + "x" * 200, limit=10) == "a b c xxxx"


@pytest.mark.parametrize(
    ("number", "fits"),
    [(0, True), (2**64, True), (10**38 - 1, True), (10**38 + 1, False), (1e-130, True), (1e-131, False)],
)
def test_fits_dynamodb_follows_dynamodb_number_limits(number, fits):
    assert fits_dynamodb(number) is fits
