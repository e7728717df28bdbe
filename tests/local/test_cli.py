"""The command users run: the README's demo, a busy port, bad arguments."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from local_pipeline.demo import demo_uploads
from tests.local.conftest import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_local_pipeline(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "local_pipeline", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def test_a_busy_port_gives_a_clear_error_that_suggests_another():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = run_local_pipeline("--port", str(port))

    assert result.returncode == 2
    assert f"error: port {port} on 127.0.0.1 is already in use" in result.stderr
    assert f"scripts/local.sh --port {port + 1}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_a_bad_port_is_refused(port: str):
    result = run_local_pipeline("--port", port)

    assert result.returncode == 2
    assert f"argument --port: must be a whole number from 1 to 65535, got '{port}'" in result.stderr


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--faults", "1.5"], "argument --faults: must be a number from 0 to 1, such as 0.05, got '1.5'"),
        (["--faults", "some"], "argument --faults: must be a number from 0 to 1, such as 0.05, got 'some'"),
        (["--load", "0"], "argument --load: must be a whole number from 1 to 1000000, got '0'"),
        (["--load", "10", "--demo"], "argument --demo: not allowed with argument --load"),
        (["--json", "report.json"], "--json needs --load"),
        (["--key-gap", "0"], "--key-gap needs --load"),
        (["--load", "5", "--key-gap", "-1"], "argument --key-gap: must be a number of seconds from 0 to 3600"),
    ],
)
def test_bad_fault_and_load_options_are_refused(args, error):
    result = run_local_pipeline(*args)

    assert result.returncode == 2
    assert error in result.stderr


def test_every_option_is_in_the_readme():
    options = set(re.findall(r"--[a-z][a-z-]+", run_local_pipeline("--help").stdout)) - {"--help"}

    readme = (REPO_ROOT / "README.md").read_text()

    undocumented = sorted(option for option in options if f"| `{option}" not in readme)
    assert options and not undocumented, f"options missing from the README's option tables: {undocumented}"


@pytest.mark.slow
def test_the_readme_demo_accounts_for_every_upload():
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / "local.sh"), "--demo", "--port", str(free_port())],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("key "))
    assert lines[header].split() == ["key", "status", "dimensions", "thumbnail", "key", "ms"]
    rows = lines[header + 2 : header + 2 + len(demo_uploads())]
    for upload, row in zip(demo_uploads(), rows, strict=True):
        assert row.startswith(upload.key)
        assert f" {upload.expected_status}" in row
    assert "REJECTED (not_an_image)" in result.stdout
    assert f"demo: all {len(demo_uploads())} uploads accounted for in" in result.stdout
    assert "local pipeline stopped" in result.stdout
