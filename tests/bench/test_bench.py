"""`python -m bench --quick`: the benchmark keeps working. Nothing here judges speed; bench/RESULTS.md does."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.handlers import dynamodb_item_bytes

ROOT = Path(__file__).resolve().parents[2]
QUICK_RUN_TIMEOUT_S = 600  # a first run also creates .venv-bench
SECTIONS = (
    "## Thumbnail core",
    "## Targets",
    "## Memory sizing",
    "## Cold start",
    "## Handlers, one invocation at a time",
    "## Pipeline on the local stack",
    "## Cost per million images",
)


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> str:
    output = tmp_path_factory.mktemp("bench") / "RESULTS.md"
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=QUICK_RUN_TIMEOUT_S,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return output.read_text()


@pytest.mark.slow
def test_quick_run_reports_every_section(quick_report: str) -> None:
    positions = [quick_report.find(section) for section in SECTIONS]
    assert -1 not in positions, [s for s, p in zip(SECTIONS, positions, strict=True) if p == -1]
    assert positions == sorted(positions)
    assert "QUICK smoke run" in quick_report


@pytest.mark.slow
def test_quick_run_times_each_method_on_each_image(quick_report: str) -> None:
    # GIVEN the quick images, WHEN the benchmark runs, THEN each row has a time for (a), (b), (c)
    # and either a time or an explicit n/a for libvips, never a missing cell.
    rows = [line for line in quick_report.splitlines() if re.match(r"\| (JPEG|PNG|WebP) 1 MP", line)]
    core_rows = rows[:4]
    assert [row.split("|")[1].strip() for row in core_rows] == [
        "JPEG 1 MP",
        "PNG 1 MP",
        "WebP 1 MP",
        "JPEG 1 MP, EXIF orientation 6",
    ]
    for row in core_rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert all(re.fullmatch(r"\d+ ms", cell) for cell in cells[2:5]), row
        assert re.fullmatch(r"\d+ ms|n/a", cells[5]), row
    libvips_ran = all(row.split("|")[6].strip() != "n/a" for row in core_rows)
    assert libvips_ran or "unavailable:" in quick_report


@pytest.mark.slow
def test_quick_run_puts_uploads_through_the_local_stack(quick_report: str) -> None:
    pipeline = quick_report.split("## Pipeline on the local stack", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"\| 4 \| [\d.]+ images/s \| [\d.]+ s \| [\d.]+ s \| 4 PROCESSED \|", pipeline), pipeline


@pytest.mark.slow
def test_quick_run_prices_every_service_and_the_floor(quick_report: str) -> None:
    cost = quick_report.split("## Cost per million images", 1)[1]
    for service in ("| Lambda |", "| S3 |", "| SQS |", "| DynamoDB |", "| CloudWatch Logs |", "| **Total** |"):
        assert service in cost
    total = float(re.search(r"\*\*\$([\d.]+)\*\*", cost).group(1))
    floor = float(re.search(r"\| Floor \|[^|]*\| \$([\d.]+) \|", cost).group(1))
    assert total > floor > 0


def test_dynamodb_item_bytes_follows_the_developer_guide_rules() -> None:
    # Names count their UTF-8 bytes; a number 1 byte per two significant digits plus 1; a map
    # 3 bytes plus 1 per element; booleans and nulls 1 byte.
    item = {
        "image_key": {"S": "café.jpg"},  # 9 + 9
        "width": {"N": "4000"},  # 5 + (1 significant digit -> 1 + 1)
        "exif": {"M": {"iso": {"N": "200"}, "ok": {"BOOL": True}}},  # 4 + 3 + (3 + 2 + 1) + (2 + 1 + 1)
        "gone": {"NULL": True},  # 4 + 1
    }
    assert dynamodb_item_bytes(item) == 18 + 7 + 17 + 5
