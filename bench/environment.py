"""Where the benchmark runs: a virtualenv with the dev packages plus libvips, and Lambda-like child processes.

`.venv-bench` sees the dev virtualenv's packages through a .pth file and adds only
requirements-bench.txt (pyvips and its bundled libvips) on top, so it takes seconds to create
and can never drift from the versions the tests use. build.sh packages each function's own
requirements.txt, so nothing installed here reaches a Lambda zip. HEIC's anchor is Debian's
libvips-tools (bench.methods.heic_libvips_unavailable), installed with apt where there is apt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_VENV = ROOT / ".venv-bench"
REQUIREMENTS = ROOT / "requirements-bench.txt"
_PURELIB = "import sysconfig; print(sysconfig.get_path('purelib'))"

# What a Lambda container has: the handlers' required settings and credentials in the
# environment, and no config files, so creating a client never reads ~/.aws or asks the network.
FAKE_LAMBDA_ENVIRONMENT = {
    "THUMBNAIL_BUCKET": "image-pipeline-dev-thumbnails-123456789012-us-east-1",
    "METADATA_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/image-pipeline-dev-metadata",
    "TABLE_NAME": "image-pipeline-dev-images",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_SESSION_TOKEN": "test",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def progress(message: str) -> None:
    """One line of the run's progress, on stderr (stdout carries a quick run's report)."""
    print(f"==> {message}", file=sys.stderr, flush=True)


class BenchEnvironmentError(Exception):
    """The benchmark virtualenv could not be created; the message has the failing command's output."""


def lambda_like_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any AWS setting of the user's, plus FAKE_LAMBDA_ENVIRONMENT."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    return clean | FAKE_LAMBDA_ENVIRONMENT | (extra or {})


def prepare_bench_venv() -> Path:
    """Creates or refreshes .venv-bench, and the dev virtualenv first with the tests' script; returns its python."""
    _run(["bash", str(ROOT / "scripts" / "venv.sh")])
    dev_python = Path(os.environ.get("PIPELINE_VENV") or ROOT / ".venv") / "bin" / "python"
    bench_python = BENCH_VENV / "bin" / "python"
    if not bench_python.exists():
        progress(f"creating {BENCH_VENV.name} (dev packages + {REQUIREMENTS.name})")
        _run([str(dev_python), "-m", "venv", str(BENCH_VENV)])
    dev_site = _run([str(dev_python), "-c", _PURELIB]).strip()
    bench_site = Path(_run([str(bench_python), "-c", _PURELIB]).strip())
    (bench_site / "_dev_venv.pth").write_text(dev_site + "\n")
    stamp_path = BENCH_VENV / ".requirements-stamp"
    stamp = hashlib.sha256(REQUIREMENTS.read_bytes() + dev_site.encode()).hexdigest()
    if not stamp_path.exists() or stamp_path.read_text() != stamp:
        progress(f"installing {REQUIREMENTS.name} into {BENCH_VENV.name}")
        pip = [str(bench_python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        _run([*pip, "-r", str(REQUIREMENTS)])
        stamp_path.write_text(stamp)
    install_libvips_tools()
    return bench_python


def install_libvips_tools() -> None:
    """Debian's libvips-tools (libvips with libheif's HEVC decoder) where it is missing and apt can install it;
    elsewhere the run goes on, and the HEIC-against-libvips rows say why they are missing."""
    if shutil.which("vipsthumbnail") or not shutil.which("apt-get"):
        return
    if os.geteuid() != 0:
        progress("libvips-tools is not installed and apt-get needs root: HEIC is not compared with libvips")
        return
    progress("installing libvips-tools with apt-get, HEIC's libvips (pyvips-binary's has no HEVC decoder)")
    apt = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "libvips-tools"]):
        completed = subprocess.run(command, capture_output=True, text=True, check=False, env=apt)
        if completed.returncode != 0:
            progress(f"`{' '.join(command)}` failed, HEIC is not compared with libvips: {completed.stderr[-300:]}")
            return


def _run(command: list[str]) -> str:
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr).strip()
        raise BenchEnvironmentError(f"`{' '.join(command)}` failed (exit {completed.returncode}):\n{output}")
    return completed.stdout


def json_result(command: list[str], env: dict[str, str] | None = None) -> Any:
    """Runs a measuring child process and returns the JSON on its last line of output."""
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"`{' '.join(command)}` failed (exit {completed.returncode}):\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def server(command: list[str], ready: Callable[[str], bool], *, timeout_s: float, **popen: Any) -> Iterator[None]:
    """A child process serving while the block runs: ready once `ready(its output so far)`, then SIGTERM on exit."""
    with tempfile.TemporaryFile("a+") as output:  # appending: the child's writes never land where this reads

        def log() -> str:
            output.seek(0)
            return output.read()

        process = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, **popen)
        try:
            deadline = time.monotonic() + timeout_s
            while not ready(log()):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"`{' '.join(command)}` was not ready (exit {process.poll()}):\n{log()}")
                time.sleep(0.2)
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
