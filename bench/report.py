"""Renders bench/RESULTS.md: this run's figures, tables and verdicts into bench/results_template.md.

The template holds every word that does not change with the figures; this module computes the
fields it names, each table's rows among them.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import PIL

from bench import cost, fingerprints, inputs, methods, sizing
from bench.cold_start_against import REFERENCE, Against
from bench.coldstart import BARE, DEPLOYED_VARIANTS, FROM_SOURCE, WITH_CLIENTS, ColdStart, DeployedColdStart
from bench.fingerprints import FingerprintCost
from bench.handlers import HandlerFigures, ImageProcessorFigures
from bench.pipeline import PipelineFigures
from bench.sizing import SizingResult
from bench.thumbnails import HeicLibvipsResult, ImageResult
from image_processor import imaging

TEMPLATE = Path(__file__).with_name("results_template.md")
CONTRACT_MEMORY_MB = 1024
COLD_START_BUDGET = 0.15


@dataclass(frozen=True)
class Target:
    label: str
    format: str
    min_megapixels: float
    top: str  # the ratio is top / bottom
    bottom: str
    limit: float  # what a "faster than" target needs at least, the others at most
    memory: bool = False  # peak extra memory instead of CPU time


HEIC_LIBVIPS_LIMIT = 1.15  # (a)'s CPU time over libvips', with the embedded thumbnail and without
TARGETS = [
    Target("JPEG: (a) ≥ 5× faster than (b)", "JPEG", 12, "b", "a", 5.0),
    Target("JPEG: (a) ≤ 1.15× (d)'s time", "JPEG", 12, "a", "d", 1.15),
    Target("JPEG: (a) peak extra memory ≤ 1.5× (d)'s", "JPEG", 12, "a", "d", 1.5, memory=True),
    Target("PNG: (a) ≤ 1.3× (d)'s time", "PNG", 0, "a", "d", 1.3),
]


@dataclass
class Results:
    """What each stage measured, filled in as the run goes."""

    quick: bool
    runs: int
    cold_start_repeats: int
    typical: str  # the image the cost model prices
    largest: str  # the largest one the memory default must carry well within the timeout
    heic_typical: str  # the iPhone photo the cost model prices next to the JPEG
    thumbnails: list[ImageResult] = field(init=False)
    heic: list[tuple[ImageResult, ImageResult]] = field(init=False)  # (HEIC, the same photo as JPEG)
    fingerprints: FingerprintCost = field(init=False)  # on the typical image
    heic_libvips: list[HeicLibvipsResult] | str = field(init=False)  # or why libvips could not decode HEIC
    sizing: list[SizingResult] = field(init=False)
    cold_start: ColdStart = field(init=False)
    deployed_cold_start: DeployedColdStart | str = field(init=False)  # or why it was not measured
    cold_start_against: Against | str = field(init=False)  # against the reference tree, or why not measured
    zips: tuple[dict[str, int], str] = field(init=False)  # each zip's size, and where the sizes come from
    handlers: HandlerFigures = field(init=False)
    pipeline: PipelineFigures = field(init=False)
    seconds: float = field(init=False)  # the whole run's


def render(results: Results) -> str:
    figures = results.handlers
    typical, largest = figures.processor(results.typical), figures.processor(results.largest)
    worst = sizing.worst(results.sizing)
    options = cost.memory_options(figures, typical, largest, worst.needed_mb)
    chosen = cost.recommend(options)
    if chosen is None:
        raise RuntimeError(f"no memory in cost.CANDIDATE_MEMORY_MB holds {worst.spec.name} well within the timeout")
    fields = {
        "results": results,
        "cost": cost,
        "imaging": imaging,
        "methods": methods,
        "inputs": inputs,
        "contract_mb": CONTRACT_MEMORY_MB,
        "typical": typical,
        "largest": largest,
        "worst": worst,
        **_header(results),
        **_thumbnails(results.thumbnails),
        "fingerprints": results.fingerprints,
        "fingerprint_target": fingerprints.CPU_SHARE_TARGET,
        "heic_rows": _rows(
            [
                heic.spec.name,
                f"{heic.file_bytes / 1e6:.1f} MB / {jpeg.file_bytes / 1e6:.1f} MB",
                f"{heic.methods['a'].median_cpu_ms:.0f} ms / {jpeg.methods['a'].median_cpu_ms:.0f} ms",
                f"{heic.methods['a'].median_ms:.0f} ms / {jpeg.methods['a'].median_ms:.0f} ms",
                f"{heic.methods['a'].median_ms / jpeg.methods['a'].median_ms:.1f}×",
                f"{heic.methods['a'].peak_extra_mb:.0f} MB / {jpeg.methods['a'].peak_extra_mb:.0f} MB",
            ]
            for heic, jpeg in results.heic
        ),
        "chosen": chosen,
        "versus": "the same as" if chosen.memory_mb == CONTRACT_MEMORY_MB else "not",
        "largest_seconds": cost.image_processor_seconds(largest, chosen.memory_mb),
        "sizing_rows": _rows(
            [
                r.spec.name,
                f"{r.file_mb:.1f} MiB",
                f"{r.baseline_mb:.0f} MB",
                f"{r.peak_mb:.0f} MB",
                f"{r.needed_mb:.0f} MB",
            ]
            for r in results.sizing
        ),
        "fits": "holds" if worst.needed_mb <= CONTRACT_MEMORY_MB else "does **not** hold",
        **_cold_start(results.cold_start),
        **_deployed_cold_start(results.deployed_cold_start),
        "cold_start_reference": REFERENCE,
        "cold_start_against": (
            f"Not measured in this run: {results.cold_start_against}."
            if isinstance(results.cold_start_against, str)
            else results.cold_start_against.table()
        ),
        "zips": ", ".join(f"{name}.zip {size / 1e6:.2f} MB" for name, size in results.zips[0].items()) or "none",
        **_handlers(figures),
        "pipeline": results.pipeline,
        "statuses": ", ".join(f"{count} {status}" for status, count in sorted(results.pipeline.statuses.items())),
        **_cost(figures, typical, options),
        **_heic_libvips(results.heic_libvips),
        **_heic_cost(figures, typical, figures.processor(results.heic_typical)),
    }
    return TEMPLATE.read_text().format(**fields)


def _header(results: Results) -> dict[str, Any]:
    with open("/proc/cpuinfo") as cpuinfo:
        models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    vips = methods.pyvips
    return {
        "kind": "QUICK smoke run: tiny inputs, few repeats, numbers mean nothing" if results.quick else "full run",
        "date": f"{datetime.now(UTC):%Y-%m-%d}",
        "machine": f"{models[0] if models else 'unknown CPU'} ({len(models)} cores), {platform.machine()}",
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "vips": f"libvips unavailable: {methods.LIBVIPS_UNAVAILABLE}"
        if vips is None
        else f"libvips {vips.version(0)}.{vips.version(1)}.{vips.version(2)} (pyvips {vips.__version__})",
    }


def _thumbnails(thumbnails: list[ImageResult]) -> dict[str, Any]:
    core = [
        [
            r.spec.name,
            f"{r.file_bytes / 1e6:.1f} MB",
            *(_ms(r, key) for key in "abcd"),
            _faster(r.ratio("b", "a")),
            _times(r.ratio("a", "d")),
            " / ".join(_mb(r, key) for key in "abcd"),
            " / ".join(_fmt(r.methods[k].psnr_db if k in r.methods else None, ".1f") for k in "acd"),
        ]
        for r in thumbnails
    ]
    targets = []
    for r in thumbnails:
        for target in [t for t in TARGETS if r.spec.format == t.format and r.spec.megapixels >= t.min_megapixels]:
            show = _faster if target.top == "b" else _times
            ratio = r.memory_ratio(target.top, target.bottom) if target.memory else r.ratio(target.top, target.bottom)
            if ratio is None:
                continue  # no libvips in this run
            wall = "" if target.memory else show(r.ratio(target.top, target.bottom, wall=True))
            met = ratio >= target.limit if target.top == "b" else ratio <= target.limit
            targets.append([target.label, r.spec.name, show(ratio), wall, "met" if met else "**missed**"])
    webp = next(r for r in thumbnails if r.spec.format == "WEBP")
    return {
        "core_rows": _rows(core),
        "target_rows": _rows(targets),
        "webp": {"time": _times(webp.ratio("a", "d")), "ours_mb": _mb(webp, "a"), "vips_mb": _mb(webp, "d")},
    }


def _heic_libvips(results: list[HeicLibvipsResult] | str) -> dict[str, Any]:
    label = f"(a) ≤ {HEIC_LIBVIPS_LIMIT}× libvips' time"
    if isinstance(results, str):
        skipped = f"skipped: {results}"
        return {
            "heic_libvips_rows": _rows([[skipped, *[""] * 6]]),
            "heic_target_rows": _rows([[f"HEIC: {label}", "all", "n/a", "", skipped]]),
        }
    rows, targets = [], []
    for r in results:
        rows.append(
            [
                r.spec.name,
                f"{r.file_bytes / 1e6:.1f} MB",
                f"{r.ours.median_cpu_ms:.0f} ms",
                f"{r.libvips.median_cpu_ms:.0f} ms",
                _times(r.ratio),
                f"{_fmt(r.ours.peak_extra_mb, '.0f')} / {_fmt(r.libvips.peak_extra_mb, '.0f')}",
                r.source,
            ]
        )
        kind = "with an embedded thumbnail" if r.spec.thumbnail else "without a thumbnail"
        met = "met" if r.ratio <= HEIC_LIBVIPS_LIMIT else "**missed**"
        targets.append([f"HEIC {kind}: {label}", r.spec.name, _times(r.ratio), "", met])
    return {"heic_libvips_rows": _rows(rows), "heic_target_rows": _rows(targets)}


def _heic_cost(figures: HandlerFigures, jpeg: ImageProcessorFigures, heic: ImageProcessorFigures) -> dict[str, Any]:
    jpeg_total = cost.total(cost.per_million(figures, jpeg, CONTRACT_MEMORY_MB))
    lines = cost.per_million(figures, heic, CONTRACT_MEMORY_MB)
    times_jpeg = cost.total(lines) / jpeg_total
    return {
        "heic_cost_rows": _cost_rows(lines),
        "heic_total": cost.total(lines),
        "heic_cpu_ms": heic.median_cpu_ms,
        "heic_times_jpeg": times_jpeg,
        "heic_cost_verdict": "met" if times_jpeg <= cost.HEIC_COST_TARGET_TIMES_JPEG else "**missed**",
    }


def _cold_start(cold: ColdStart) -> dict[str, Any]:
    imports = [[f"`{name}`", f"{cold.median(name):.0f}", f"{cold.median(name, wall=True):.0f}"] for name in cold.cpu_ms]
    rows = []
    for handler in ("image_processor", "db_writer"):
        bare, with_clients = cold.median(BARE[handler]), cold.median(WITH_CLIENTS[handler])
        for variant in (f"{handler}.handler", f"{handler}.handler{FROM_SOURCE}"):
            own_ms = cold.median(variant)
            judged = not variant.endswith(FROM_SOURCE)
            rows.append(
                [
                    f"`{handler}.handler`" + ("" if judged else FROM_SOURCE),
                    f"{(own_ms / bare - 1) * 100:+.0f} % ({own_ms - bare:+.0f} ms over `{BARE[handler]}`)",
                    f"{with_clients - bare:.0f} ms ({(with_clients / bare - 1) * 100:+.0f} %)",
                    f"{(own_ms / with_clients - 1) * 100:+.0f} %",
                    ("met" if own_ms / with_clients - 1 <= COLD_START_BUDGET else "**missed**") if judged else "",
                ]
            )
    return {"import_rows": _rows(imports), "handler_import_rows": _rows(rows)}


def _deployed_cold_start(deployed: DeployedColdStart | str) -> dict[str, Any]:
    if isinstance(deployed, str):
        return {"deployed_cold_start": f"Not measured in this run: {deployed}."}
    rows = []
    for variants in DEPLOYED_VARIANTS.values():
        baseline, handler = variants
        for name in (baseline, handler):
            compiled, source = deployed.with_bytecode.median(name), deployed.from_source.median(name)
            row = [f"`{name}`", f"{compiled:.0f}", f"{source:.0f}", f"{(1 - compiled / source) * 100:.0f} %"]
            if name == handler:
                compiled_base, source_base = (
                    deployed.with_bytecode.median(baseline),
                    deployed.from_source.median(baseline),
                )
                row += [f"{(compiled / compiled_base - 1) * 100:+.0f} %", f"{(source / source_base - 1) * 100:+.0f} %"]
            else:
                row += ["", ""]
            rows.append(row)
    header = (
        "| Import, from the zip | with bytecode (CPU ms) | from source (CPU ms) | bytecode saves |"
        " handler vs the same imports + clients, with bytecode | the same, from source |\n"
        "|---|---:|---:|---:|---:|---:|\n"
    )
    return {"deployed_cold_start": header + _rows(rows) + f"\n\nInterpreter: {deployed.python}."}


def _handlers(figures: HandlerFigures) -> dict[str, Any]:
    processor = [
        [
            i.image,
            f"{i.source_bytes / 1e6:.1f} MB",
            f"{i.median_cpu_ms:.0f}",
            _calls(i.aws_calls),
            i.log_bytes,
            i.message_bytes,
        ]
        for i in figures.image_processor
    ]
    writer = [
        [b.batch_size, f"{b.messages_per_second:.0f}", f"{b.calls_per_message:.2f}", f"{b.cpu_ms_per_message:.1f}"]
        for b in figures.db_writer
    ]
    item, key = figures.item, figures.item_key
    attributes = cost.key_attributes(item, key)
    crossing = cost.key_length_for_bytes_over(item, key, 1024)
    return {
        "processor_rows": _rows(processor),
        "delete_calls": _calls(figures.image_processor[-1].delete_calls),
        "writer_rows": _rows(writer),
        "item_bytes": cost.dynamodb_item_bytes(item),
        "item_units": cost.write_units_per_item(cost.dynamodb_item_bytes(item)),
        "key_length": len(key),
        "key_attributes": ", ".join(f"`{name}`" for name in attributes),
        "key_copies": len(attributes),
        "crossing": crossing,
        "crossing_bytes": cost.item_bytes_with_key_length(item, key, crossing),
        "fingerprint_bytes": fingerprints.item_bytes(item),
        "crossing_without_fingerprints": cost.key_length_for_bytes_over(fingerprints.without(item), key, 1024),
    }


def _cost(figures: HandlerFigures, typical: ImageProcessorFigures, options: list[cost.MemoryOption]) -> dict[str, Any]:
    at_defaults = cost.per_million(figures, typical, CONTRACT_MEMORY_MB)
    traced = cost.per_million(figures, typical, CONTRACT_MEMORY_MB, xray_tracing=True)
    total, total_traced, floor = cost.total(at_defaults), cost.total(traced), cost.floor_per_million()
    part = cost.above_floor(figures, typical, CONTRACT_MEMORY_MB)
    return {
        "cross_checks": "; ".join(cost.PRICE_CROSS_CHECKS),
        "price_rows": _rows([name, p.quoted, p.source, p.read_on] for name, p in cost.PRICES.items()),
        "waits": ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in cost.CALL_WAIT_S.items()),
        "cost_rows": _cost_rows(at_defaults),
        "total": total,
        "floor": floor,
        "above": total - floor,
        "times_floor": total / floor,
        "part": part,
        "parts_sum": sum(part.values()),
        "vcpu": cost.cpu_share(CONTRACT_MEMORY_MB),
        "read_mb_s": cost.S3_READ_BYTES_PER_S / 1e6,
        "target": cost.COST_TARGET_TIMES_FLOOR * floor,
        "over_target": total - cost.COST_TARGET_TIMES_FLOOR * floor,
        "per_10_ms": cost.priced("Lambda duration", CONTRACT_MEMORY_MB / 1024 * 0.010),
        "xray_rows": _cost_rows(line for line in traced if line not in at_defaults),
        "xray_percent": cost.XRAY_FIXED_RATE * 100,
        "rate": cost.IMAGES_PER_SECOND,
        "total_traced": total_traced,
        "xray_added": total_traced - total,
        "xray_share": (total_traced - total) / total_traced * 100,
        "traced_times_floor": total_traced / floor,
        "well_under_s": cost.TIMEOUT_S * cost.WELL_UNDER_FRACTION,
        "memory_rows": _rows(
            [
                o.memory_mb,
                f"{o.seconds_typical:.2f} s",
                f"{o.seconds_largest:.2f} s",
                f"${o.dollars_per_million:.2f}",
                "yes" if o.fits_worst_case else "no",
            ]
            for o in options
        ),
    }


def _rows(rows: Iterable[Iterable[object]]) -> str:
    """Markdown table rows; the header and alignment lines are in the template."""
    return "\n".join("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)


def _cost_rows(lines: Iterable[cost.CostLine]) -> str:
    return _rows([line.service, line.what, f"${line.dollars_per_million:.3f}"] for line in lines)


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{unit}"


def _faster(ratio: float | None) -> str:
    return _fmt(ratio, ".1f", "× faster")


def _times(ratio: float | None) -> str:
    return _fmt(ratio, ".2f", "×")


def _ms(result: ImageResult, key: str) -> str:
    return _fmt(result.methods[key].median_cpu_ms if key in result.methods else None, ".0f", " ms")


def _mb(result: ImageResult, key: str) -> str:
    return _fmt(result.methods[key].peak_extra_mb if key in result.methods else None, ".1f")


def _calls(calls: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(calls.items())) or "none"
