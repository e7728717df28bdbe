"""Times in S3's own spelling (UTC, milliseconds, "Z"): the one every message, item and log line uses,
so that two of them compare as strings the way they compare as times."""

from __future__ import annotations

from datetime import UTC, datetime


def s3_time(moment: datetime | None = None) -> str:
    """`moment` (now by default), which must know its time zone, as S3 writes eventTime."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
