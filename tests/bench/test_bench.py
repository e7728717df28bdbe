"""`python -m bench --quick`: the benchmark keeps working. Nothing here judges speed; bench/RESULTS.md does."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bench import cost, fingerprints
from bench.coldstart import runtime_python
from bench.cost import dynamodb_item_bytes, item_bytes_with_key_length, key_attributes, key_length_for_bytes_over
from bench.handlers import DbWriterFigures, HandlerFigures, ImageProcessorFigures
from tests.terraform.offline import require
from tests.terraform.stack import load_stack

ROOT = Path(__file__).resolve().parents[2]
QUICK_RUN_TIMEOUT_S = 600  # a first run also creates .venv-bench
SECTIONS = (
    "## Thumbnail core",
    "## Targets",
    "## Placeholder, dominant colour and perceptual hash",
    "## HEIC against JPEG",
    "## HEIC against libvips",
    "## Memory sizing",
    "## Cold start",
    "## Handlers, one invocation at a time",
    "## Pipeline on the local stack",
    "## Cost per million images",
)


@pytest.fixture(scope="module")
def quick_report() -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=QUICK_RUN_TIMEOUT_S,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


@pytest.mark.slow
def test_quick_run_reports_every_section(quick_report: str) -> None:
    positions = [quick_report.find(section) for section in SECTIONS]
    assert -1 not in positions, [s for s, p in zip(SECTIONS, positions, strict=True) if p == -1]
    assert positions == sorted(positions)
    assert "QUICK smoke run" in quick_report


@pytest.mark.slow
def test_quick_run_times_a_heic_against_the_same_photo_as_jpeg(quick_report: str) -> None:
    section = quick_report.split("## HEIC against JPEG", 1)[1].split("\n## ", 1)[0]
    [row] = [line for line in section.splitlines() if line.startswith("| HEIC 1 MP |")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert len(cells) == 6 and all(" / " in cell for cell in (cells[1], cells[2], cells[3], cells[5])), row
    assert cells[4].endswith("×")


@pytest.mark.slow
def test_quick_run_reports_the_cpu_the_fingerprints_add(quick_report: str) -> None:
    section = quick_report.split("## Placeholder, dominant colour and perceptual hash", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"take\s+\d+\.\d\d ms of CPU per image, \d+\.\d% of \(a\)'s \d+ ms on JPEG 1 MP", section), section
    assert re.search(r"are \d+ bytes of the item: without them it would pass\s+1 KB from a key of \d+", quick_report)


def test_quick_run_compares_heic_with_and_without_a_thumbnail_against_libvips(quick_report: str) -> None:
    section = quick_report.split("## HEIC against libvips", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip(): line for line in section.splitlines() if line.startswith("| HEIC 1 MP")}
    assert set(rows) == {"HEIC 1 MP, embedded thumbnail", "HEIC 1 MP, no thumbnail"}, section
    assert rows["HEIC 1 MP, embedded thumbnail"].rstrip(" |").endswith("embedded")
    assert rows["HEIC 1 MP, no thumbnail"].rstrip(" |").endswith("primary")
    heic_cost = quick_report.split("### The same for an iPhone's HEIC", 1)[1]
    assert re.search(r"\d+\.\d\d× the JPEG's \$\d+\.\d\d \(target: at most 1\.2×\): (met|\*\*missed\*\*)", heic_cost)


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
    services = ("| Lambda |", "| S3 |", "| SQS |", "| DynamoDB |", "| CloudWatch Logs |", "| **Total** |")
    for service in services:
        assert service in cost
    total = float(re.search(r"\| \*\*Total\*\* \| \| \*\*\$([\d.]+)\*\* \|", cost).group(1))
    floor = float(re.search(r"\| Floor \|[^|]*\| \$([\d.]+) \|", cost).group(1))
    assert total > floor > 0


@pytest.mark.slow
def test_quick_run_prices_the_defaults_without_x_ray_and_shows_what_tracing_adds(quick_report: str) -> None:
    # GIVEN xray_tracing off by default, THEN the default breakdown has no X-Ray line, and the table for
    # xray_tracing = true adds the traces, and only them, to the default total.
    cost = quick_report.split("## Cost per million images", 1)[1]
    defaults = cost.split("| Service | What, per image |", 1)[1].split("| **Total** |", 1)[0]
    assert "| X-Ray |" not in defaults
    total = float(re.search(r"\| \*\*Total\*\* \| \| \*\*\$([\d.]+)\*\* \|", cost).group(1))
    traced = cost.split("| With `xray_tracing = true` |", 1)[1].split("\n\n", 1)[0]
    (xray,) = re.findall(r"\| X-Ray \| [^|]+ \| \$([\d.]+) \|", traced)
    with_tracing = float(re.search(r"Total with `xray_tracing = true`\*\* \| \| \*\*\$([\d.]+)\*\*", traced).group(1))
    assert with_tracing == pytest.approx(total + float(xray), abs=0.01)
    assert float(xray) > 0


@pytest.mark.slow
def test_quick_run_prices_every_s3_request_the_handler_made(quick_report: str) -> None:
    # GIVEN the S3 calls counted for one image in the handlers table, THEN the cost table has a
    # line for each, with the same count: a HEAD added to the handler shows up in the cost.
    handlers = quick_report.split("## Handlers, one invocation at a time", 1)[1].split("\n## ", 1)[0]
    first_row = next(line for line in handlers.splitlines() if line.startswith("| JPEG 1 MP |"))
    counted = dict(re.findall(r"s3:(\w+) (\d+)", first_row))
    assert {"GetObject", "PutObject"} <= set(counted)
    cost_table = quick_report.split("## Cost per million images", 1)[1]
    priced = dict((name, count) for count, name in re.findall(r"\| S3 \| (\d+) (\w+) ", cost_table))
    what = {"GetObject": "GET", "HeadObject": "HEAD", "PutObject": "PUT", "DeleteObject": "DELETE"}
    assert {what[name]: count for name, count in counted.items()} == priced


@pytest.mark.slow
def test_quick_run_reports_cold_start_against_both_baselines(quick_report: str) -> None:
    cold = quick_report.split("## Cold start", 1)[1].split("\n## ", 1)[0]
    for handler in ("image_processor", "db_writer"):
        # The import-times table comes first; the comparison table's row is the handler's last.
        row = [line for line in cold.splitlines() if line.startswith(f"| `{handler}.handler` | ")][-1]
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert re.match(r"[+-]\d+ % \([+-]\d+ ms over `boto3", cells[1]), row  # the bare baseline
        assert re.fullmatch(r"[+-]\d+ %", cells[3]), row  # the same imports and clients: the target
        assert cells[4] in ("met", "**missed**"), row


def test_x_ray_traces_every_invocation_below_one_a_second_and_a_twentieth_above() -> None:
    # Lambda's fixed rule: the first request each second, then 5 % of the rest.
    assert cost.xray_sampled_fraction(0.4) == 1.0
    assert cost.xray_sampled_fraction(21.0) == pytest.approx((1 + 0.05 * 20) / 21)
    # A million images a month is well under one a second: every invocation is a trace.
    assert cost.xray_traces_per_image() == pytest.approx(1 + 1 / cost.SQS_BATCH_SIZE)


def test_x_ray_default_is_terraforms() -> None:
    # The cost of "the default settings" must be the cost of what `terraform apply` deploys.
    assert cost.XRAY_TRACING_DEFAULT is load_stack().variables["xray_tracing"]["default"]


def test_default_settings_price_no_x_ray_and_tracing_adds_its_traces() -> None:
    # GIVEN one image's measured figures and a batch of 10 for db_writer
    image = ImageProcessorFigures(
        "JPEG 12 MP",
        3_000_000,
        cpu_ms=[100.0],
        aws_calls=Counter({"s3:GetObject": 1, "s3:PutObject": 1, "sqs:SendMessage": 1}),
        log_bytes=500,
        message="{}",
    )
    writer = DbWriterFigures(
        batch_size=10, messages_per_second=10, calls_per_message=1.0, cpu_ms_per_message=5.0, log_bytes_per_message=100
    )
    figures = HandlerFigures([image], [writer], item={"image_key": {"S": "a.jpg"}}, item_key="a.jpg")
    # WHEN priced at the default settings and with xray_tracing = true
    default = cost.per_million(figures, image, 1024)
    traced = cost.per_million(figures, image, 1024, xray_tracing=True)
    # THEN only the traced one has X-Ray, at 1.1 traces per image and $5 per million traces
    assert "X-Ray" not in {line.service for line in default}
    added = sum(line.dollars_per_million for line in traced) - sum(line.dollars_per_million for line in default)
    assert added == pytest.approx(1.1 * 5.00)


def test_s3_requests_are_priced_by_request_class() -> None:
    lines = {line.what: line.dollars_per_million for line in cost.s3_lines({"s3:HeadObject": 2, "s3:DeleteObject": 1})}
    assert lines == {"2 HEAD (the source: changed meanwhile?)": pytest.approx(0.80), "1 DELETE (the thumbnail)": 0.0}
    with pytest.raises(ValueError, match="CopyObject"):
        cost.s3_lines({"s3:CopyObject": 1})


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


def test_item_grows_with_every_copy_of_the_key_and_passes_1_kb_where_reported() -> None:
    # GIVEN an item holding its 7-character key three times (the key and, in a list, two thumbnails' keys)
    thumbnail = {"M": {"key": {"S": "thumbnails/a/b.jpg.webp"}, "width": {"N": "256"}}}
    item = {
        "image_key": {"S": "a/b.jpg"},
        "thumbnails": {"L": [thumbnail, {"M": {"key": {"S": "thumbnails/_sizes/512/a/b.jpg.webp"}}}]},
        "status": {"S": "PROCESSED"},
    }
    # THEN each character more adds three bytes, and the reported length is the first over 1 KB.
    assert key_attributes(item, "a/b.jpg") == ["image_key", "thumbnails"]
    assert item_bytes_with_key_length(item, "a/b.jpg", 8) - dynamodb_item_bytes(item) == 3
    crossing = key_length_for_bytes_over(item, "a/b.jpg", 1024)
    assert item_bytes_with_key_length(item, "a/b.jpg", crossing) > 1024
    assert item_bytes_with_key_length(item, "a/b.jpg", crossing - 1) <= 1024


def test_fingerprints_bytes_count_the_three_attributes_and_their_names() -> None:
    item = {
        "image_key": {"S": "a.jpg"},
        "placeholder": {"S": "XrcJJZDIR2d3iHh/hoiHiAiIdXBY"},  # 11 + 28
        "dominant_color": {"S": "#9d9d9d"},  # 14 + 7
        "phash": {"S": "8e8e8e8e8e8e8e8e"},  # 5 + 16
    }
    assert fingerprints.item_bytes(item) == 39 + 21 + 21
    assert fingerprints.without(item) == {"image_key": {"S": "a.jpg"}}


def test_fingerprint_cost_meets_its_target_at_two_percent_of_the_thumbnail() -> None:
    assert fingerprints.FingerprintCost("JPEG 12 MP", cpu_ms=1.0, thumbnails_cpu_ms=50.0).verdict == "met"
    assert fingerprints.FingerprintCost("JPEG 12 MP", cpu_ms=1.2, thumbnails_cpu_ms=50.0).verdict == "**missed**"


@pytest.mark.slow
def test_cold_start_against_a_revision_times_both_trees_deployed_zips() -> None:
    require(runtime_python() is not None, "a Python 3.13 (python3.13 on PATH or pyenv's versions/3.13.*)")
    command = [sys.executable, "-m", "bench.cold_start_against", "HEAD", "--repeats", "1"]

    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)

    # One row per import, each timed from HEAD's zips and from this tree's, and the change between them
    assert result.returncode == 0, result.stderr
    rows = re.findall(r"^\| `([^`]+)` \| (\d+) \| (\d+) \| ([+-]\d+) % \|$", result.stdout, re.M)
    assert [row[0] for row in rows] == [
        "boto3 + PIL.Image + s3, sqs clients",
        "image_processor.handler",
        "boto3 + dynamodb client",
        "db_writer.handler",
    ]
    assert all(int(before) > 0 and int(after) > 0 for _, before, after, _ in rows)
    # The revision's worktree is gone again
    worktrees = subprocess.run(["git", "-C", str(ROOT), "worktree", "list"], capture_output=True, text=True).stdout
    assert "cold-start-against-" not in worktrees
