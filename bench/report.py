"""Renders bench/RESULTS.md: this run's figures, tables and verdicts into bench/results_template.md.

The template holds every word that does not change with the figures; each function here returns
the fields of one part of it.
"""

from __future__ import annotations

import math
import platform
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import PIL

from bench import cost, methods, sizing
from bench.coldstart import BARE, WITH_CLIENTS, ColdStart
from bench.handlers import HandlerFigures
from bench.pipeline import DISTINCT_PHOTOS, PipelineFigures
from bench.sizing import SizingResult
from bench.thumbnails import ImageResult
from image_processor import imaging

TEMPLATE = Path(__file__).with_name("results_template.md")
CONTRACT_MEMORY_MB = 1024
COLD_START_BUDGET = 0.15
MIN_WORTHWHILE_GAIN = 1.03  # a constant change below 3 % faster is not worth a review


@dataclass(frozen=True)
class Target:
    label: str
    format: str
    min_megapixels: float
    top: str  # the ratio is top / bottom: CPU time, or peak extra memory
    bottom: str
    limit: float  # at least this for "faster than" targets, at most this for the others
    why: str  # what the report says when it is missed
    memory: bool = False

    def ratio(self, result: ImageResult, *, wall: bool = False) -> float | None:
        if self.memory:
            return None if wall else result.memory_ratio(self.top, self.bottom)
        return result.ratio(self.top, self.bottom, wall=wall)

    def met(self, ratio: float) -> bool:
        return ratio >= self.limit if self.top == "b" else ratio <= self.limit

    def show(self, ratio: float | None) -> str:
        return _times_faster(ratio) if self.top == "b" else _fmt(ratio, ".2f", "×")


TARGETS = [
    Target(
        "JPEG: (a) ≥ 5× faster than (b)",
        "JPEG",
        12,
        "b",
        "a",
        5.0,
        "both entropy-decode the whole file, the floor of any JPEG decode, so (a) can only save the IDCT and the "
        "resampling; at 12 MP or more the draft is already at 1/8 scale, the smallest libjpeg offers.",
    ),
    Target(
        "JPEG: (a) ≤ 1.15× (d)'s time",
        "JPEG",
        12,
        "a",
        "d",
        1.15,
        "both decode a DCT-scaled draft at 1/8 scale, so what differs is the resample from the draft, the WebP "
        "encode of the result, and this machine's noise.",
    ),
    Target(
        "JPEG: (a) peak extra memory ≤ 1.5× (d)'s",
        "JPEG",
        12,
        "a",
        "d",
        1.5,
        "(a)'s draft is larger than libvips' streaming window.",
        memory=True,
    ),
    Target(
        "PNG: (a) ≤ 1.3× (d)'s time",
        "PNG",
        0,
        "a",
        "d",
        1.3,
        "PNG has no reduced-size decode, so both inflate every row; Pillow then holds the whole frame and "
        "resamples it, where libvips streams rows through its shrink. Closing it needs a streaming decoder.",
    ),
]


@dataclass
class Results:
    quick: bool
    runs: int
    cold_start_repeats: int
    seconds: float
    thumbnails: list[ImageResult]
    sizing: list[SizingResult]
    cold_start: ColdStart
    zip_sizes: dict[str, int]
    zip_note: str
    handlers: HandlerFigures
    typical: str  # the image the cost model prices
    largest: str  # the largest one the memory default must carry well within the timeout
    pipeline: PipelineFigures


def render(results: Results) -> str:
    fields = {"cost": cost, "imaging": imaging, "methods": methods, "contract_mb": CONTRACT_MEMORY_MB}
    for part in (_header, _thumbnails, _gap, _sizing, _cold_start, _handlers, _pipeline, _cost):
        fields |= part(results)
    return re.sub(r"\n{3,}", "\n\n", TEMPLATE.read_text().format(**fields))


def _header(results: Results) -> dict[str, Any]:
    vips = methods.pyvips
    return {
        "kind": "QUICK smoke run: tiny inputs, few repeats, numbers mean nothing" if results.quick else "full run",
        "seconds": results.seconds,
        "date": f"{datetime.now(UTC):%Y-%m-%d}",
        "machine": f"{_cpu_model()}, {platform.machine()}",
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "vips": f"libvips unavailable: {methods.LIBVIPS_UNAVAILABLE}"
        if vips is None
        else f"libvips {vips.version(0)}.{vips.version(1)}.{vips.version(2)} (pyvips {vips.__version__})",
        "runs": results.runs,
    }


def _thumbnails(results: Results) -> dict[str, Any]:
    core = [
        [
            r.spec.name,
            f"{r.file_bytes / 1e6:.1f} MB",
            *(_fmt(_cpu(r, key), ".0f", " ms") for key in "abcd"),
            _times_faster(r.ratio("b", "a")),
            _fmt(r.ratio("a", "d"), ".2f", "×"),
            " / ".join(_fmt(_extra(r, key), ".1f") for key in "abcd"),
        ]
        for r in results.thumbnails
    ]
    targets, misses = [], []
    for result in results.thumbnails:
        for target in TARGETS:
            ratio = target.ratio(result)
            if result.spec.format != target.format or result.spec.megapixels < target.min_megapixels or ratio is None:
                continue
            met = target.met(ratio)
            wall = target.show(target.ratio(result, wall=True)) if not target.memory else ""
            targets.append([target.label, result.spec.name, target.show(ratio), wall, "met" if met else "**missed**"])
            if not met:
                misses.append(f"- {result.spec.name}, {target.label} measured {target.show(ratio)}: {target.why}")
    webp = next(r for r in results.thumbnails if r.spec.format == "WEBP")
    return {
        "core_rows": _rows(core),
        "target_rows": _rows(targets),
        "misses": "\n".join(["Why the misses happen and what closes them:", "", *misses]) if misses else "",
        "webp_time": _fmt(webp.ratio("a", "d"), ".2f", "×"),
        "webp_mb": _fmt(_extra(webp, "a"), ".1f"),
        "webp_vips_mb": _fmt(_extra(webp, "d"), ".1f"),
        "memory_recommendation": _memory_recommendation(results),
    }


def _memory_recommendation(results: Results) -> str:
    figures, worst = results.handlers, sizing.worst(results.sizing)
    largest = figures.processor(results.largest)
    options = cost.memory_options(figures, figures.processor(results.typical), largest, worst.needed_mb)
    chosen = cost.recommend(options)
    if chosen is None:
        return "no candidate holds the worst accepted input; see the sizing table."
    same = chosen.memory_mb == CONTRACT_MEMORY_MB
    versus = "the same as today's default" if same else f"today's default is {CONTRACT_MEMORY_MB} MB"
    description = (
        "Memory of image_processor in MB. Thumbnailing is CPU-bound and Lambda's CPU share grows with memory "
        "up to 1,769 MB, so every size below that costs about the same GB-seconds per image; "
        f"{chosen.memory_mb} is the smallest that holds the largest image the pixel limits accept "
        f"({worst.spec.name} peaks at {worst.peak_mb:.0f} MB, {worst.needed_mb:,.0f} MB with a full 50 MiB "
        f"download and 15 % headroom) and it thumbnails a {largest.image} in about "
        f"{cost.image_processor_seconds(largest, chosen.memory_mb):.1f} s, far inside the {cost.TIMEOUT_S} s "
        "timeout (bench/RESULTS.md has the cost per million images at each size). Raise it together with "
        "max_image_pixels."
    )
    return (
        f"**{chosen.memory_mb} MB** ({versus}), the cheapest candidate that holds the worst "
        f"accepted input, {worst.spec.name}: it peaks at {worst.peak_mb:.0f} MB, {worst.needed_mb:.0f} MB with the "
        f'rest of a full 50 MiB download and 15 % headroom. For the variable\'s description: "{description}"'
    )


def _gap(results: Results) -> dict[str, Any]:
    previous = methods.PREVIOUS
    rows = [
        [
            r.spec.name,
            _fmt(_cpu(r, "a"), ".0f", " ms"),
            _fmt(_cpu(r, previous), ".0f", " ms"),
            _times_faster(r.ratio("b", "a")),
            _times_faster(r.ratio("b", previous)),
            _fmt(r.ratio("a", "d"), ".2f", "×"),
            _fmt(r.ratio(previous, "d"), ".2f", "×"),
            " / ".join(
                _fmt(r.methods[key].psnr_db if key in r.methods else None, ".1f") for key in ("a", previous, "c", "d")
            ),
            f"{_fmt(_extra(r, 'a'), '.1f')} / {_fmt(_extra(r, previous), '.1f')}",
        ]
        for r in results.thumbnails
    ]
    big = [r.ratio(previous, "a") for r in results.thumbnails if r.spec.format == "JPEG" and r.spec.megapixels >= 12]
    if not big:
        return {"gap_rows": _rows(rows), "gap_verdict": "This run has no JPEG of 12 MP or more to judge it on."}
    gain = math.prod(big) ** (1 / len(big))
    if gain >= MIN_WORTHWHILE_GAIN:
        verdict = f"{gain:.2f}× faster on average"
    elif gain * MIN_WORTHWHILE_GAIN > 1:
        verdict = "within noise of the previous value"
    else:
        verdict = f"**{1 / gain:.2f}× slower** on average"
    return {"gap_rows": _rows(rows), "gap_verdict": f"On the JPEGs of 12 MP and more, (a) is {verdict} in this run."}


def _sizing(results: Results) -> dict[str, Any]:
    rows = [
        [r.spec.name, f"{r.file_mb:.1f} MiB", f"{r.baseline_mb:.0f} MB", f"{r.peak_mb:.0f} MB", f"{r.needed_mb:.0f} MB"]
        for r in results.sizing
    ]
    worst = sizing.worst(results.sizing)
    fits = "holds" if worst.needed_mb <= CONTRACT_MEMORY_MB else "does **not** hold"
    return {"sizing_rows": _rows(rows), "worst": worst, "fits": fits}


def _cold_start(results: Results) -> dict[str, Any]:
    cold = results.cold_start
    imports = [[f"`{name}`", f"{cold.median(name):.0f}", f"{cold.median(name, wall=True):.0f}"] for name in cold.cpu_ms]
    rows, clients_over = [], []
    for handler in ("image_processor", "db_writer"):
        bare = BARE[handler]
        clients_ms = cold.median(WITH_CLIENTS[handler]) - cold.median(bare)
        if clients_ms / cold.median(bare) > COLD_START_BUDGET:
            clients_over.append(handler)
        own = cold.overhead(handler, WITH_CLIENTS[handler])
        over_bare = f"{cold.median(f'{handler}.handler') - cold.median(bare):+.0f} ms over `{bare}`"
        rows.append(
            [
                f"`{handler}.handler`",
                f"{cold.overhead(handler, bare) * 100:+.0f} % ({over_bare})",
                f"{clients_ms:.0f} ms ({clients_ms / cold.median(bare) * 100:+.0f} %)",
                f"{own * 100:+.0f} %",
                "met" if own <= COLD_START_BUDGET else "**missed**",
            ]
        )
    clients_alone = (
        f"For {' and '.join(clients_over)}, creating the clients alone costs more than 15 % of the bare imports "
        "(third column), so no handler that creates its clients at import could pass the literal reading. "
    )
    zips = ", ".join(f"{name}.zip {size / 1e6:.2f} MB" for name, size in results.zip_sizes.items())
    return {
        "cold_start_repeats": results.cold_start_repeats,
        "import_rows": _rows(imports),
        "handler_import_rows": _rows(rows),
        "clients_alone": clients_alone if clients_over else "",
        "zips": zips or "not measured",
        "zip_note": results.zip_note,
    }


def _handlers(results: Results) -> dict[str, Any]:
    figures = results.handlers
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
    item_bytes = cost.dynamodb_item_bytes(item)
    attributes = cost.key_attributes(item, key)
    crossing = cost.key_length_for_bytes_over(item, key, 1024)
    return {
        "processor_rows": _rows(processor),
        "delete_calls": _calls(figures.image_processor[-1].delete_calls),
        "writer_rows": _rows(writer),
        "item_bytes": item_bytes,
        "item_units": cost.write_units_per_item(item_bytes),
        "item_key": key,
        "key_length": len(key),
        "key_copies": len(attributes),
        "key_attributes": ", ".join(f"`{name}`" for name in attributes),
        "crossing": crossing,
        "crossing_bytes": cost.item_bytes_with_key_length(item, key, crossing),
    }


def _pipeline(results: Results) -> dict[str, Any]:
    figures = results.pipeline
    return {
        "pipeline": figures,
        "pipeline_mb": figures.total_bytes / 1e6,
        "photos": min(figures.images, DISTINCT_PHOTOS),
        "p50": figures.percentile(0.5),
        "p95": figures.percentile(0.95),
        "statuses": ", ".join(f"{count} {status}" for status, count in sorted(figures.statuses.items())),
    }


def _cost(results: Results) -> dict[str, Any]:
    figures = results.handlers
    typical, largest = figures.processor(results.typical), figures.processor(results.largest)
    prices = [[name, price.quoted, price.source, price.read_on] for name, price in cost.PRICES.items()]
    at_defaults = cost.per_million(figures, typical, CONTRACT_MEMORY_MB)
    traced = cost.per_million(figures, typical, CONTRACT_MEMORY_MB, xray_tracing=True)
    total, total_traced, floor = cost.total(at_defaults), cost.total(traced), cost.floor_per_million()
    options = cost.memory_options(figures, typical, largest, sizing.worst(results.sizing).needed_mb)
    memory = [
        [
            o.memory_mb,
            f"{o.seconds_typical:.2f} s",
            f"{o.seconds_largest:.2f} s",
            f"${o.dollars_per_million:.2f}",
            "yes" if o.fits_worst_case else "no",
        ]
        for o in options
    ]
    cheapest = cost.recommend(options)
    part = cost.above_floor(figures, typical, CONTRACT_MEMORY_MB)
    target = cost.COST_TARGET_TIMES_FLOOR * floor
    return {
        "typical": typical,
        "largest": largest,
        "cross_checks": "; ".join(cost.PRICE_CROSS_CHECKS),
        "price_rows": _rows(prices),
        "waits": ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in cost.CALL_WAIT_S.items()),
        "read_mb_s": cost.S3_READ_BYTES_PER_S / 1e6,
        "cost_rows": _cost_rows(at_defaults),
        "total": total,
        "floor": floor,
        "times_floor": total / floor,
        "above": total - floor,
        "vcpu": cost.cpu_share(CONTRACT_MEMORY_MB),
        "part": part,
        "parts_sum": sum(part.values()),
        "target": target,
        "over_target": total - target,
        "per_10_ms": cost.priced("Lambda duration", CONTRACT_MEMORY_MB / 1024 * 0.010),
        "xray_percent": cost.XRAY_FIXED_RATE * 100,
        "rate": cost.images_per_second(),
        "xray_rows": _cost_rows(line for line in traced if line not in at_defaults),
        "total_traced": total_traced,
        "xray_added": total_traced - total,
        "xray_share": (total_traced - total) / total_traced * 100,
        "traced_times_floor": total_traced / floor,
        "memory_rows": _rows(memory),
        "well_under_s": cost.TIMEOUT_S * cost.WELL_UNDER_FRACTION,
        "cheapest": "none of the candidates"
        if cheapest is None
        else f"**{cheapest.memory_mb} MB** (${cheapest.dollars_per_million:.2f} per million)",
    }


def _rows(rows: Iterable[Iterable[object]]) -> str:
    """Markdown table rows; the header and alignment lines are in the template."""
    return "\n".join("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)


def _cost_rows(lines: Iterable[cost.CostLine]) -> str:
    return _rows([line.service, line.what, f"${line.dollars_per_million:.3f}"] for line in lines)


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{unit}"


def _times_faster(value: float | None) -> str:
    return _fmt(value, ".1f", "× faster")


def _cpu(result: ImageResult, key: str) -> float | None:
    return result.methods[key].median_cpu_ms if key in result.methods else None


def _extra(result: ImageResult, key: str) -> float | None:
    return result.methods[key].peak_extra_mb if key in result.methods else None


def _calls(calls: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(calls.items())) or "none"


def _cpu_model() -> str:
    with open("/proc/cpuinfo") as cpuinfo:
        models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    return f"{models[0] if models else platform.processor() or 'unknown CPU'} ({len(models) or '?'} cores)"
