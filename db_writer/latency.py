"""End-to-end latency: from S3's event time of an upload to the moment its record was written."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

# EMF records at most 100 values per metric in one document.
MAX_VALUES = 100


def end_to_end_latencies_ms(records: Iterable[dict[str, Any]], failed_ids: set[str], now: datetime) -> list[float]:
    """One figure per message of the batch that did not fail and carries an event time; a message
    whose body cannot be read has already been reported as a failure, so it is skipped here too."""
    latencies = []
    for record in records:
        if record.get("messageId") in failed_ids:
            continue
        try:
            event_time = datetime.fromisoformat(json.loads(record["body"])["event_time"])
        except (KeyError, TypeError, ValueError):
            continue
        latencies.append(max(0.0, (now - event_time).total_seconds() * 1000))
    return latencies[:MAX_VALUES]
