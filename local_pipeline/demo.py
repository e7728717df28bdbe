"""`--demo`: uploads a generated set of images, waits for every record and prints a summary."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from PIL import Image

from local_pipeline.console import Console

# Generous for a slow laptop: the pipeline normally accounts for the set in well under 15 s.
DEMO_TIMEOUT_S = 120
POLL_INTERVAL_S = 0.5
EXIF_ORIENTATION = 0x0112
EXIF_MAKE = 0x010F
EXIF_MODEL = 0x0110


@dataclass(frozen=True)
class DemoUpload:
    key: str
    body: bytes
    content_type: str
    expected_status: str


def demo_uploads() -> list[DemoUpload]:
    """Common formats, an EXIF-rotated photo, awkward key characters, and one non-image to reject."""
    return [
        DemoUpload("demo/landscape.jpg", _jpeg((1600, 1000), orientation=1), "image/jpeg", "PROCESSED"),
        DemoUpload("demo/portrait (rotated).jpg", _jpeg((1200, 800), orientation=6), "image/jpeg", "PROCESSED"),
        DemoUpload("demo/logo with alpha.png", _encode(_picture((600, 600), "RGBA"), "PNG"), "image/png", "PROCESSED"),
        DemoUpload("demo/animated.gif", _gif((320, 240), frames=3), "image/gif", "PROCESSED"),
        DemoUpload("demo/café ☕.webp", _encode(_picture((640, 480), "RGB"), "WEBP"), "image/webp", "PROCESSED"),
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
    rows = [("key", "status", "dimensions", "thumbnail key", "ms")]
    for upload in uploads:
        record = records.get(upload.key)
        if record is None:
            rows.append((upload.key, "MISSING", "", "", ""))
            continue
        status = record["status"] + (f" ({record['reason']})" if record.get("reason") else "")
        if record["status"] != upload.expected_status:
            status += f" expected {upload.expected_status}"
        dimensions = f"{record['width']}x{record['height']}" if record.get("width") is not None else ""
        rows.append((upload.key, status, dimensions, record.get("thumbnail_key") or "", _ms(record)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _ms(record: dict[str, Any]) -> str:
    value = record.get("processing_ms")
    return "" if value is None else f"{float(value):.0f}"


def _picture(size: tuple[int, int], mode: str) -> Image.Image:
    """A colourful gradient (flat images compress to nothing and hide resizing bugs)."""
    horizontal = Image.linear_gradient("L").resize(size)
    vertical = Image.linear_gradient("L").rotate(90).resize(size)
    blue = Image.new("L", size, 160)
    picture = Image.merge("RGB", (horizontal, vertical, blue))
    if mode == "RGBA":
        alpha = Image.radial_gradient("L").resize(size).point(lambda v: 255 - v)
        picture.putalpha(alpha)
    return picture


def _jpeg(size: tuple[int, int], orientation: int) -> bytes:
    exif = Image.Exif()
    exif[EXIF_MAKE] = "local_pipeline"
    exif[EXIF_MODEL] = "demo camera"
    exif[EXIF_ORIENTATION] = orientation
    return _encode(_picture(size, "RGB"), "JPEG", exif=exif.tobytes(), quality=85)


def _gif(size: tuple[int, int], frames: int) -> bytes:
    images = [_picture(size, "RGB").rotate(120 * i).convert("P") for i in range(frames)]
    return _encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=200, loop=0)


def _encode(image: Image.Image, image_format: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()
