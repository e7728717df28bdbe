"""`--demo`: uploads a generated set of images, waits for every record and prints a summary."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from PIL import Image
from wcwidth import wcswidth

from local_pipeline.console import Console
from pipeline_common.metadata_message import thumbnails_of
from sample_images import images

# Generous for a slow laptop: the pipeline normally accounts for the set in well under 15 s.
DEMO_TIMEOUT_S = 120
POLL_INTERVAL_S = 0.5
CAMERA = {0x010F: "local_pipeline", 0x0110: "demo camera"}  # EXIF Make and Model


@dataclass(frozen=True)
class DemoUpload:
    key: str
    body: bytes
    content_type: str
    expected_status: str


def demo_uploads() -> list[DemoUpload]:
    """Common formats, an EXIF-rotated photo, an iPhone-style HEIC, awkward key characters, and a non-image."""
    return [
        DemoUpload("demo/landscape.jpg", images.jpeg_with_exif(1600, 1000, CAMERA), "image/jpeg", "PROCESSED"),
        DemoUpload(
            "demo/portrait (rotated).jpg",
            images.jpeg_with_exif(1200, 800, CAMERA | {images.ORIENTATION_TAG: 6}),
            "image/jpeg",
            "PROCESSED",
        ),
        DemoUpload(
            "demo/logo with alpha.png",
            images.encode(_with_alpha(images.photo(600, 600)), "PNG"),
            "image/png",
            "PROCESSED",
        ),
        DemoUpload(
            "demo/IMG_0001.HEIC",
            images.heic(images.photo(1512, 2016).transpose(Image.Transpose.ROTATE_90), transform=6, exif=_camera()),
            "image/heic",
            "PROCESSED",
        ),
        DemoUpload("demo/animated.gif", images.animated("GIF", 3, (320, 240)), "image/gif", "PROCESSED"),
        DemoUpload("demo/café ☕.webp", images.encode(images.photo(640, 480), "WEBP"), "image/webp", "PROCESSED"),
        DemoUpload("demo/not-an-image.jpg", b"This is a text file with a .jpg name.\n", "image/jpeg", "REJECTED"),
    ]


def run_demo(s3: Any, dynamodb: Any, bucket: str, table: str, console: Console) -> bool:
    """Returns whether every upload got a record with the expected status."""
    uploads = demo_uploads()
    started = time.monotonic()
    for upload in uploads:
        s3.put_object(Bucket=bucket, Key=upload.key, Body=upload.body, ContentType=upload.content_type)
    console.say(f"demo: uploaded {len(uploads)} files to s3://{bucket}/demo/, waiting for their records")
    records = wait_for_records(dynamodb, table, [u.key for u in uploads], DEMO_TIMEOUT_S)
    elapsed = time.monotonic() - started
    console.raw(summary_table(uploads, records))
    missing = [u.key for u in uploads if records.get(u.key) is None]
    unexpected = [u.key for u in uploads if u.key not in missing and records[u.key]["status"] != u.expected_status]
    if missing:
        console.say(f"demo: FAILED, no record after {DEMO_TIMEOUT_S} s for: {', '.join(missing)}")
    if unexpected:
        console.say(f"demo: FAILED, unexpected status for: {', '.join(unexpected)}")
    if not missing and not unexpected:
        console.say(f"demo: all {len(uploads)} uploads accounted for in {elapsed:.1f} s")
    return not missing and not unexpected


def wait_for_records(dynamodb: Any, table: str, keys: list[str], timeout_s: float) -> dict[str, dict[str, Any]]:
    deserializer = TypeDeserializer()
    records: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout_s
    while len(records) < len(keys) and time.monotonic() < deadline:
        for key in keys:
            if key in records:
                continue
            item = dynamodb.get_item(TableName=table, Key={"image_key": {"S": key}}, ConsistentRead=True).get("Item")
            if item:
                records[key] = {name: deserializer.deserialize(value) for name, value in item.items()}
        if len(records) < len(keys):
            time.sleep(POLL_INTERVAL_S)
    return records


def summary_table(uploads: list[DemoUpload], records: dict[str, dict[str, Any]]) -> str:
    rows = [("key", "status", "dimensions", "colour", "phash", "thumbnail key", "ms")]
    for upload in uploads:
        record = records.get(upload.key)
        if record is None:
            rows.append((upload.key, "MISSING", "", "", "", "", ""))
            continue
        status = record["status"] + (f" ({record['reason']})" if record.get("reason") else "")
        if record["status"] != upload.expected_status:
            status += f" expected {upload.expected_status}"
        dimensions = f"{record['width']}x{record['height']}" if record.get("width") is not None else ""
        thumbnails = thumbnails_of(record)
        fingerprints = (record.get("dominant_color") or "", record.get("phash") or "")
        rows.append(
            (upload.key, status, dimensions, *fingerprints, thumbnails[0]["key"] if thumbnails else "", _ms(record))
        )
    widths = [max(_columns(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(_padded(cell, width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _columns(text: str) -> int:
    """Terminal columns, not characters: a wide character such as ☕ takes two."""
    return max(wcswidth(text), 0)


def _padded(text: str, width: int) -> str:
    return text + " " * (width - _columns(text))


def _ms(record: dict[str, Any]) -> str:
    value = record.get("processing_ms")
    return "" if value is None else f"{float(value):.0f}"


def _with_alpha(picture: Image.Image) -> Image.Image:
    """Opaque in the corners, clear in the middle: a thumbnail that loses the alpha shows it."""
    picture.putalpha(Image.radial_gradient("L").resize(picture.size))
    return picture


def _camera() -> Image.Exif:
    exif = Image.Exif()
    exif.update(CAMERA)
    return exif
