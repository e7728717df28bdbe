"""Thumbnails carry no EXIF, GPS, XMP or text metadata from their source, end to end through image_processor
in moto, even with INCLUDE_GPS=true; and GPS reaches the record only when INCLUDE_GPS says so."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image, PngImagePlugin

from sample_images import images
from tests.conftest import fresh_import, s3_event

GPS_IFD = 0x8825
MAKE, MODEL = 0x010F, 0x0110
# Amsterdam, as degrees, minutes, seconds.
GPS = {1: "N", 2: (52.0, 22.0, 30.0), 3: "E", 4: (4.0, 53.0, 0.0)}
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="52,22.5N"/>'
    b"</rdf:RDF></x:xmpmeta>"
)
SECRETS = (b"LeakyCam", b"LeakyModel", b"xmpmeta", b"GPSLatitude", b"LeakyComment", b"Exif")
# The only RIFF chunks a WebP thumbnail may hold: image data, alpha, the extended header and a colour profile.
ALLOWED_WEBP_CHUNKS = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ICCP"}
VP8X_EXIF_OR_XMP = 0x08 | 0x04


def exif_with_gps() -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE], exif[MODEL] = "LeakyCam", "LeakyModel"
    exif.get_ifd(GPS_IFD).update(GPS)
    return exif


def jpeg_with_everything() -> bytes:
    jpeg = images.encode(images.photo(800, 600), "JPEG", exif=exif_with_gps().tobytes(), comment=b"LeakyComment")
    xmp = b"http://ns.adobe.com/xap/1.0/\x00" + XMP
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(xmp) + 2) + xmp + jpeg[2:]


def png_with_everything() -> bytes:
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "LeakyComment")
    text.add_itxt("XML:com.adobe.xmp", XMP.decode())
    return images.encode(images.photo(800, 600), "PNG", exif=exif_with_gps(), pnginfo=text)


SOURCES = {
    "jpeg": jpeg_with_everything,
    "png": png_with_everything,
    "webp": lambda: images.encode(images.photo(800, 600), "WEBP", exif=exif_with_gps(), xmp=XMP),
    "tiff": lambda: images.encode(images.photo(800, 600), "TIFF", exif=exif_with_gps()),
    "avif": lambda: images.encode(images.photo(800, 600), "AVIF", exif=exif_with_gps(), xmp=XMP),
}


def webp_chunks(data: bytes) -> dict[bytes, bytes]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    chunks, position = {}, 12
    while position < len(data):
        kind, size = data[position : position + 4], struct.unpack("<I", data[position + 4 : position + 8])[0]
        chunks[kind] = data[position + 8 : position + 8 + size]
        position += 8 + size + size % 2
    return chunks


@pytest.fixture
def image_processor_with_gps(stack, monkeypatch):
    monkeypatch.setenv("THUMBNAIL_BUCKET", stack.thumbnail_bucket)
    monkeypatch.setenv("METADATA_QUEUE_URL", stack.queue_url)
    monkeypatch.setenv("INCLUDE_GPS", "true")
    return fresh_import("image_processor.handler")


def process(stack, handler, context, key: str, data: bytes) -> tuple[bytes, dict]:
    stack.s3.put_object(Bucket=stack.upload_bucket, Key=key, Body=data)
    handler.lambda_handler(s3_event("s3_put", bucket=stack.upload_bucket, key=key, size=len(data)), context)
    [message] = stack.queued_messages()
    assert message["status"] == "PROCESSED", message["reason_detail"]
    thumbnail = stack.s3.get_object(Bucket=stack.thumbnail_bucket, Key=message["thumbnails"][0]["key"])["Body"].read()
    return thumbnail, message


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_thumbnail_carries_no_metadata_even_with_gps_in_records(stack, image_processor_with_gps, context, source):
    # GIVEN a photo with camera EXIF, GPS coordinates, XMP and a text comment, and INCLUDE_GPS=true
    thumbnail, message = process(stack, image_processor_with_gps, context, f"secret.{source}", SOURCES[source]())

    # THEN the record may have the coordinates (the operator asked), but the thumbnail has nothing
    assert message["exif"].get("make") == "LeakyCam"
    if source != "tiff":  # Pillow's TIFF writer leaves the GPS directory out of the source
        assert message["exif"]["gps_latitude"] == pytest.approx(52.375)
    decoded = Image.open(io.BytesIO(thumbnail))
    assert decoded.format == "WEBP"
    assert len(decoded.getexif()) == 0 and "exif" not in decoded.info and "xmp" not in decoded.info
    chunks = webp_chunks(thumbnail)
    assert set(chunks) <= ALLOWED_WEBP_CHUNKS, f"metadata chunks: {set(chunks) - ALLOWED_WEBP_CHUNKS}"
    assert not chunks.get(b"VP8X", b"\x00")[0] & VP8X_EXIF_OR_XMP
    assert not [secret for secret in SECRETS if secret in thumbnail]


def test_gps_reaches_the_record_only_when_asked(stack, image_processor, context):
    _, message = process(stack, image_processor, context, "where.jpg", jpeg_with_everything())

    assert message["exif"]["make"] == "LeakyCam"
    assert not [name for name in message["exif"] if name.startswith("gps")]
    assert "52" not in str(message["exif"].values())
