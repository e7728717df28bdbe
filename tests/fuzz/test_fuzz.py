"""`scripts/fuzz.sh`: a short seeded campaign over the image path finds nothing; replay names what a file becomes."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUZZ = ROOT / "scripts" / "fuzz.sh"
RUNS = 20_000

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def atheris_platform() -> None:
    if platform.system() != "Linux" and not os.environ.get("CI"):
        pytest.skip(f"atheris ships Linux wheels only; this is {platform.system()}")


def test_short_campaign_finds_nothing(tmp_path: Path) -> None:
    completed = subprocess.run(
        [str(FUZZ), "--runs", str(RUNS), "--seed", "1", "--work", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=1500,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["executions"] >= RUNS
    assert summary["seeds"] >= 19
    assert summary["findings"] == []
    assert f"{summary['executions']:,} executions" in completed.stdout


def test_replay_says_what_the_pipeline_records(tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_bytes(b"hello\n")

    completed = subprocess.run(
        [str(FUZZ), "--replay", str(text)], cwd=ROOT, capture_output=True, text=True, check=False, timeout=600
    )

    assert completed.returncode == 0, completed.stderr
    assert f"{text}: REJECTED not_an_image: content is text" in completed.stdout
