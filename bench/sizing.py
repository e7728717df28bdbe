"""Memory sizing: total peak RSS of a Lambda-like process (bench.probe handler) on the largest accepted inputs.

The worst cases are the most compressible files the pixel limits let through: a smooth 100 MP PNG
is a few MB, far under MAX_IMAGE_BYTES, yet decodes to 300 MB (RGB).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from bench.environment import json_result, lambda_like_environment
from bench.inputs import ImageSpec, ensure_file
from image_processor.config import Settings

MAX_DOWNLOAD_MB = Settings.max_image_bytes / 2**20  # read whole into memory
MEMORY_MARGIN = 1.15
# 7,071 x 7,071 = 49,999,041 pixels: the largest square within half of MAX_IMAGE_PIXELS.
HALF_LIMIT_SIDE = 7071
WORST_CASES = [
    ImageSpec("PNG 100 MP RGB", "PNG", 10000, 10000, smooth_only=True),
    ImageSpec("PNG 100 MP grey", "PNG", 10000, 10000, mode="L", smooth_only=True),
    ImageSpec("PNG 100 MP 16-bit grey", "PNG", 10000, 10000, mode="I;16", smooth_only=True),
    ImageSpec("TIFF 100 MP 16-bit grey, big-endian", "TIFF", 10000, 10000, mode="I;16B", smooth_only=True),
    ImageSpec("TIFF 100 MP 32-bit float grey", "TIFF", 10000, 10000, mode="F", smooth_only=True),
    ImageSpec("PNG 50 MP RGBA", "PNG", HALF_LIMIT_SIDE, HALF_LIMIT_SIDE, mode="RGBA", smooth_only=True),
    ImageSpec(
        "PNG 50 MP palette with transparency", "PNG", HALF_LIMIT_SIDE, HALF_LIMIT_SIDE, mode="P", smooth_only=True
    ),
    ImageSpec("WebP 50 MP RGBA", "WEBP", HALF_LIMIT_SIDE, HALF_LIMIT_SIDE, mode="RGBA", smooth_only=True),
    ImageSpec("AVIF 50 MP RGBA", "AVIF", HALF_LIMIT_SIDE, HALF_LIMIT_SIDE, mode="RGBA", smooth_only=True),
    ImageSpec("JPEG 100 MP progressive", "JPEG", 10000, 10000, smooth_only=True, progressive=True),
    ImageSpec("JPEG 50 MP", "JPEG", 8688, 5792),
    ImageSpec("HEIC 48 MP", "HEIC", 8064, 6048),  # an iPhone's 48 MP photo, within HEIF's half of the limit
]
QUICK_WORST_CASES = [
    ImageSpec("PNG 1 MP RGBA", "PNG", 1152, 864, mode="RGBA", smooth_only=True),
    ImageSpec("TIFF 1 MP 16-bit grey, big-endian", "TIFF", 1152, 864, mode="I;16B", smooth_only=True),
]


@dataclass
class SizingResult:
    spec: ImageSpec
    file_mb: float
    baseline_mb: float
    peak_mb: float

    @property
    def needed_mb(self) -> float:
        """The peak had the file been as large as allowed, plus the margin."""
        return (self.peak_mb + max(0.0, MAX_DOWNLOAD_MB - self.file_mb)) * MEMORY_MARGIN


def run(specs: list[ImageSpec]) -> list[SizingResult]:
    results = []
    for spec in specs:
        path = ensure_file(spec)
        peak = json_result([sys.executable, "-m", "bench.probe", "handler", str(path)], lambda_like_environment())
        results.append(
            SizingResult(spec, path.stat().st_size / 2**20, peak["baseline_kb"] / 1024, peak["peak_kb"] / 1024)
        )
    return results


def worst(results: list[SizingResult]) -> SizingResult:
    return max(results, key=lambda result: result.needed_mb)
