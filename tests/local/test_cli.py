"""The command users run: the README's demo, a busy or forbidden port, a second SIGTERM, bad arguments, --help."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from wcwidth import wcswidth

from local_pipeline.cli import DEFAULT_PORT
from local_pipeline.demo import demo_uploads
from tests.local.conftest import free_port, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
UNPRIVILEGED_PORT_START = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")


def run_local_pipeline(
    *args: str, timeout_s: float = 60, wrapper: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*wrapper, sys.executable, "-m", "local_pipeline", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


@contextmanager
def listening(port: int) -> Iterator[int]:
    """Holds `port` (0: one the system picks) as another server would; yields the port held."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        yield taken.getsockname()[1]


def consecutive_free_ports() -> int:
    """A port that is free, and the one after it too."""
    while True:
        port = free_port()
        if port < 65535 and can_bind(port + 1):
            return port


def can_bind(port: int) -> bool:
    try:
        with listening(port):
            return True
    except OSError:
        return False


def suggested_port(stderr: str) -> int:
    match = re.search(r"run the command again with --port (\d+), a port that is free now", stderr)
    assert match, stderr
    return int(match[1])


def test_a_busy_port_gives_a_clear_error_that_suggests_a_free_one():
    # GIVEN the chosen port and the one after it both taken
    port = consecutive_free_ports()
    with listening(port), listening(port + 1):
        result = run_local_pipeline("--port", str(port))

        assert result.returncode == 2
        assert f"error: port {port} on 127.0.0.1 is already in use" in result.stderr
        suggested = suggested_port(result.stderr)
        assert suggested not in (port, port + 1)
        assert can_bind(suggested)
    assert "Traceback" not in result.stderr


def test_a_busy_last_port_suggests_one_that_exists():
    with ExitStack() as holding:
        if can_bind(65535):
            holding.enter_context(listening(65535))  # else someone else holds it, which is as good

        result = run_local_pipeline("--port", "65535")

        assert result.returncode == 2
        assert "error: port 65535 on 127.0.0.1 is already in use" in result.stderr
        suggested = suggested_port(result.stderr)
        assert 1 <= suggested < 65535
        assert can_bind(suggested)


def _privileged_port_wrapper() -> tuple[str, ...] | None:
    """A command prefix under which port 1 cannot be bound, if this machine has privileged ports."""
    if not UNPRIVILEGED_PORT_START.exists() or int(UNPRIVILEGED_PORT_START.read_text()) < 2:
        return None
    if os.getuid() != 0:
        return ()
    # root binds any port: drop only that capability, since the interpreter may not be readable by others
    return ("setpriv", "--bounding-set", "-net_bind_service") if shutil.which("setpriv") else None


@pytest.mark.skipif(_privileged_port_wrapper() is None, reason="no port here that this user may not bind")
def test_a_port_it_may_not_bind_gives_a_clear_error_not_a_traceback():
    result = run_local_pipeline("--port", "1", wrapper=_privileged_port_wrapper() or ())

    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot listen on 127.0.0.1:1: Permission denied; ")
    assert can_bind(suggested_port(result.stderr))
    assert "Traceback" not in result.stderr


def test_a_second_sigterm_while_stopping_quits_at_once():
    process = subprocess.Popen(
        [sys.executable, "-m", "local_pipeline", "--port", str(free_port())],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        wait_until(lambda: any("Local pipeline ready at" in line for line in output), 60, "the ready line")

        process.send_signal(signal.SIGTERM)
        wait_until(lambda: any("stopping (Ctrl-C or SIGTERM again" in line for line in output), 10, "stopping")
        # The shutdown waits for the pollers (seconds); this signal comes while it does.
        process.send_signal(signal.SIGTERM)

        assert process.wait(10) == -signal.SIGTERM
    finally:
        process.kill()
        process.wait(10)
    reader.join(10)
    assert not any("local pipeline stopped" in line for line in output)
    assert not any("Traceback" in line for line in output), "".join(output)


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
    ],
)
def test_bad_fault_and_load_options_are_refused(args, error):
    result = run_local_pipeline(*args)

    assert result.returncode == 2
    assert error in result.stderr


def test_every_option_is_in_the_local_docs():
    options = set(re.findall(r"--[a-z][a-z-]+", run_local_pipeline("--help").stdout)) - {"--help"}

    docs = (REPO_ROOT / "docs" / "local.md").read_text()

    undocumented = sorted(option for option in options if f"| `{option}" not in docs)
    assert options and not undocumented, f"options missing from docs/local.md's option table: {undocumented}"


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
    assert lines[header].split() == ["key", "status", "dimensions", "colour", "phash", "thumbnail", "key", "ms"]
    rows = lines[header + 2 : header + 2 + len(demo_uploads())]
    for upload, row in zip(demo_uploads(), rows, strict=True):
        assert row.startswith(upload.key)
        assert f" {upload.expected_status}" in row
        if upload.expected_status == "PROCESSED":
            assert re.search(r" #[0-9a-f]{6}  [0-9a-f]{16} ", row), row
    assert "REJECTED (not_an_image)" in result.stdout
    assert f"demo: all {len(demo_uploads())} uploads accounted for in" in result.stdout
    assert "local pipeline stopped" in result.stdout
    # Every row's status starts in the same terminal column, the row with ☕ (two columns wide) too
    status_columns = {wcswidth(row[: row.index(" PROCESSED") if " PROCESSED" in row else row.index(" REJECTED")])
                      for row in rows}  # fmt: skip
    assert len(status_columns) == 1, rows
    # and the console shows words, not Python's notation for a list or a dict
    assert not re.search(r"\[\{'|\{'\w+': ", result.stdout), result.stdout


@pytest.mark.slow
def test_the_demo_takes_a_free_port_when_the_default_is_taken():
    with ExitStack() as held:
        if can_bind(DEFAULT_PORT):
            held.enter_context(listening(DEFAULT_PORT))  # as LocalStack holds it; else something already does
        result = run_local_pipeline("--demo", timeout_s=180)

    assert result.returncode == 0, result.stdout + result.stderr
    said = re.search(
        rf"port {DEFAULT_PORT} is in use \(LocalStack\?\); the demo uses port (\d+) instead", result.stdout
    )
    assert said, result.stdout
    assert f"Local pipeline ready at http://127.0.0.1:{said[1]} " in result.stdout
    assert f"dashboard_url = http://127.0.0.1:{said[1]}/_dashboard/image-pipeline-dev-us-east-1" in result.stdout


@pytest.mark.parametrize(
    ("script", "then"), [("local.sh", "usage: python -m local_pipeline"), ("test.sh", "usage: python -m pytest")]
)
def test_scripts_print_their_own_usage_first(script: str, then: str):
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / script), "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"Usage: scripts/{script} ")
    assert any(line.startswith(then) for line in lines[1:]), result.stdout
