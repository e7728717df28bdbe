"""Runs catalogue files through image_processor's image code in fresh processes and measures each.

`python -m tests.hostile.measure SPEC.json` reads a list of {"name", "path", "kill_after_s"} and
prints one JSON result per line. The process first does what image_processor does when a Lambda
container starts (imports the handler: settings, Pillow's pixel limit, boto3 clients), then forks
one child per file, so every file is measured from the same realistic baseline. Each child resets
the kernel's peak-RSS counter, reads the file (the download) and runs `make_thumbnail` with the
handler's settings. A result holds the outcome, the wall time, and the child's peak RSS: what
Lambda reports as "Max Memory Used". A child that crashes (a signal) or outlives `kill_after_s`
(killed) is reported as such rather than hanging the run.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any

LAMBDA_LIKE_ENVIRONMENT = {
    "THUMBNAIL_BUCKET": "measure-thumbnails",
    "METADATA_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/measure",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "measure",
    "AWS_SECRET_ACCESS_KEY": "measure",
}
_POLL_S = 0.01


def main(spec_path: str) -> int:
    os.environ.update(LAMBDA_LIKE_ENVIRONMENT)
    from PIL import Image

    from image_processor import handler  # noqa: F401 - the container's start-up, as in Lambda

    # Pillow imports its format plugins on first use: once per container, not once per image.
    Image.init()
    for entry in json.loads(Path(spec_path).read_text()):
        result = _measure_in_child(entry["path"], entry["kill_after_s"])
        print(json.dumps({"name": entry["name"], **result}), flush=True)
    return 0


def _measure_in_child(path: str, kill_after_s: float) -> dict[str, Any]:
    read_end, write_end = os.pipe()
    started = time.monotonic()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        with os.fdopen(write_end, "w") as out:
            out.write(json.dumps(_run(path)))
        os._exit(0)
    os.close(write_end)
    status = _wait(child, started + kill_after_s)
    with os.fdopen(read_end) as source:
        report = source.read()
    if status is None:
        return {"ended": "killed", "wall_s": round(time.monotonic() - started, 2)}
    if os.WIFSIGNALED(status):
        return {"ended": f"signal {signal.Signals(os.WTERMSIG(status)).name}"}
    if os.WEXITSTATUS(status) != 0 or not report:
        return {"ended": f"exit status {os.WEXITSTATUS(status)}"}
    return {"ended": "ok", **json.loads(report)}


def _wait(child: int, deadline: float) -> int | None:
    """The child's wait status, or None after killing it at the deadline."""
    while time.monotonic() < deadline:
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid:
            return status
        time.sleep(_POLL_S)
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    return None


def _run(path: str) -> dict[str, Any]:
    from image_processor.handler import SETTINGS
    from image_processor.imaging import ImageRejectedError, make_thumbnail

    warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: the outcome says it all
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS (Linux >= 4.0)
    data = Path(path).read_bytes()
    base_mb = _status_mb("VmRSS")
    started = time.perf_counter()
    outcome: dict[str, Any] = {"status": "PROCESSED", "reason": None}
    try:
        info, _ = make_thumbnail(
            data,
            size=SETTINGS.thumbnail_size,
            max_pixels=SETTINGS.max_image_pixels,
            include_gps=SETTINGS.include_gps,
        )
        outcome["frame_count"] = info.frame_count
    except ImageRejectedError as error:
        outcome = {"status": "REJECTED", "reason": error.reason, "reason_detail": error.detail}
    seconds = time.perf_counter() - started
    return outcome | {"seconds": round(seconds, 3), "base_mb": base_mb, "peak_mb": _status_mb("VmHWM")}


def _status_mb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
