"""The message contract itself: both schema versions' thumbnails, and the docs saying what the code says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline_common.metadata_message import MESSAGE_FIELDS, ContractError, read_message, thumbnails_of

DESIGN = Path(__file__).resolve().parents[2] / "docs" / "design.md"
FIRST = {"size": 256, "key": "thumbnails/a.jpg.webp", "bytes": 900, "width": 256, "height": 171}
EXTRA = {"size": 512, "key": "thumbnails/_sizes/512/a.jpg.webp", "bytes": 3000, "width": 512, "height": 341}
FLAT = {"thumbnail_key": FIRST["key"], "thumbnail_bytes": 900, "thumbnail_width": 256, "thumbnail_height": 171}


@pytest.mark.parametrize(
    ("record", "thumbnails"),
    [
        ({"thumbnails": [FIRST]}, [FIRST]),
        ({"thumbnails": [FIRST, EXTRA]}, [FIRST, EXTRA]),
        # Schema version 1: flat fields for the one size (its `size` in `rendered_with`), the list with several
        (FLAT | {"thumbnails": None, "rendered_with": "256;thumbnails/;52428800;100000000;0"}, [FIRST]),
        (FLAT | {"thumbnails": [FIRST, EXTRA], "rendered_with": "256,512;thumbnails/;1;1;0"}, [FIRST, EXTRA]),
        # A record from before `rendered_with` existed: everything but the size
        (FLAT, [{name: value for name, value in FIRST.items() if name != "size"}]),
        ({"status": "REJECTED", "reason": "not_an_image"}, []),
    ],
    ids=["one-size", "extra-sizes", "schema-1", "schema-1-extra-sizes", "schema-1-before-rendered-with", "none"],
)
def test_thumbnails_of_reads_either_schema_versions_record(record, thumbnails):
    assert thumbnails_of(record) == thumbnails


def test_read_message_names_what_a_schema_1_message_lacks_to_become_version_2():
    old = {
        "schema_version": 1,
        "status": "PROCESSED",
        **dict.fromkeys(("reason", "reason_detail", "version_id", "size", "etag", "event_name")),
        **{"bucket": "b", "key": "a.jpg", "sequencer": "0A", "event_time": "2026-11-22T10:00:00.000Z"},
        **{"processing_ms": 1.5, "processed_at": "2026-11-22T10:00:00.100Z", "format": "JPEG"},
        **{"mime_type": "image/jpeg", "width": 1, "height": 1, "display_width": 1, "display_height": 1},
        **{"mode": "RGB", "frame_count": 1, "exif": {}, "thumbnail_bucket": "t", "rendered_with": "?"},
        **FLAT,
    }

    with pytest.raises(ContractError, match=r"^field 'thumbnails\[0\].size' is missing$"):
        read_message(old)
    assert read_message(old | {"rendered_with": "256;thumbnails/;1;1;0"})["thumbnails"] == [FIRST]


def test_the_design_docs_message_table_lists_exactly_the_contracts_fields():
    section = DESIGN.read_text().split("## Metadata message", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    documented = [name for row in rows for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])]

    assert sorted(documented) == sorted(MESSAGE_FIELDS)
