"""EXIF fields a record keeps: whatever a file holds, each one can be stored by db_writer."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeSerializer

from image_processor.imaging import make_thumbnail
from sample_images import images

GPS_AMSTERDAM = {1: (images.ASCII, b"N\x00"), 2: (images.RATIONAL, (52, 1, 22, 1, 30, 1))}
GPS_AMSTERDAM |= {3: (images.ASCII, b"E\x00"), 4: (images.RATIONAL, (4, 1, 53, 1, 0, 1))}


def exif_of(exif: dict, gps: dict | None = None, base: dict | None = None) -> dict:
    base = {0x010F: (images.ASCII, b"Canon\x00")} if base is None else base
    data = images.jpeg_with_raw_exif(images.raw_exif(base, exif, gps or {}))
    info, _ = make_thumbnail(data, size=64, max_pixels=10**8, include_gps=True)
    return info.exif


def stored(fields: dict) -> dict:
    """The fields as db_writer writes them: the message's JSON read back with Decimals, then DynamoDB's types."""
    message = json.loads(json.dumps(fields), parse_float=Decimal)
    return TypeSerializer().serialize(message)


@pytest.mark.parametrize("value", [1e300, -1e300, 1e-300, float("inf"), float("nan"), 1e126])
def test_read_exif_drops_a_number_dynamodb_cannot_store(value):
    exif = exif_of({0x829D: (images.DOUBLE, (value,)), 0x8827: (images.SHORT, (400,))})

    assert exif == {"make": "Canon", "iso": 400, "dropped": "f_number"}
    stored(exif)


def test_read_exif_drops_a_rational_with_a_zero_denominator():
    exif = exif_of({0x829A: (images.RATIONAL, (1, 0)), 0x829D: (images.RATIONAL, (28, 10))})

    assert exif == {"make": "Canon", "f_number": 2.8, "dropped": "exposure_time"}


def test_read_exif_keeps_numbers_at_the_edges_of_dynamodb_range():
    exif = exif_of({0x829D: (images.DOUBLE, (9.99e125,)), 0x920A: (images.DOUBLE, (-0.0,))})

    assert exif == {"make": "Canon", "f_number": 9.99e125, "focal_length": 0.0}
    stored(exif)


def test_read_exif_strips_noncharacters_surrogates_and_control_characters_from_text():
    lens = "Lens\ufffe \ufdd0Pro\U0010ffff\u0007X\n".encode("utf-8") + b"\xed\xa0\x80!"  # \xed\xa0\x80: a surrogate

    exif = exif_of({0xA434: (images.UNDEFINED, lens)}, base={0x010F: (images.ASCII, b"Can\x00on\x00")})

    assert exif == {"make": "Canon", "lens_model": "Lens Pro X \ufffd\ufffd\ufffd!"}
    stored(exif)


def test_read_exif_drops_both_coordinates_for_one_bad_gps_tag_and_keeps_the_rest():
    gps = GPS_AMSTERDAM | {4: (images.ASCII, b"garbage\x00")}

    exif = exif_of({0x8827: (images.SHORT, (100,))}, gps)

    assert exif == {"make": "Canon", "iso": 100, "dropped": "gps_latitude, gps_longitude"}


@pytest.mark.parametrize(
    "latitude",
    [(91, 1, 0, 1, 0, 1), (52, 1, 22, 1, 30, 0), (52, 1, 22, 1)],
    ids=["past-the-pole", "zero-denominator", "two-parts"],
)
def test_read_exif_drops_coordinates_that_are_no_place(latitude):
    exif = exif_of({}, GPS_AMSTERDAM | {2: (images.RATIONAL, latitude)})

    assert exif == {"make": "Canon", "dropped": "gps_latitude, gps_longitude"}


def test_read_exif_keeps_good_coordinates():
    exif = exif_of({}, GPS_AMSTERDAM)

    assert exif == {"make": "Canon", "gps_latitude": 52.375, "gps_longitude": 4.883333}


def test_read_exif_names_a_field_of_several_values_as_dropped():
    exif = exif_of({0x8827: (images.SHORT, (100, 200))})

    assert exif == {"make": "Canon", "dropped": "iso"}
