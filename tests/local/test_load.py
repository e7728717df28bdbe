"""The documented load command, at a size CI can afford: every upload accounted for, memory flat."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from local_pipeline.faults import RATES
from local_pipeline.load import MAX_MEMORY_GROWTH, SAMPLES
from scripts.reconcile import PLACES
from tests.local.conftest import free_port

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
# docs/reliability.md runs 1,000 at 10 % and at 20 %; this many at 10 % keeps the test near a minute on 2 cores.
UPLOADS = 200
FAULT_RATE = "0.10"


def test_the_load_accounts_for_every_upload_with_faults_on_and_memory_stays_flat(tmp_path):
    report_file = tmp_path / "load.json"
    command = ["--load", str(UPLOADS), "--faults", FAULT_RATE, "--seed", "7", "--json", str(report_file)]

    result = subprocess.run(
        [sys.executable, "-m", "local_pipeline", *command, "--port", str(free_port())],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    report = json.loads(report_file.read_text())
    reconciliation = report["reconciliation"]
    assert reconciliation["ok"], reconciliation["problems"]
    assert report["uploads"] == UPLOADS
    operations = reconciliation["operations"]["uploads"] + reconciliation["operations"]["deletes"]
    assert operations == UPLOADS + report["deletes"] + report["warmup_uploads"]
    assert sum(reconciliation["places"][place] for place in PLACES) == operations
    assert reconciliation["places"]["lost"] == 0
    # Both dead-letter paths carried traffic: the poisoned keys, found there and nowhere else.
    assert report["poisoned"] >= 2 and report["poisoned_not_in_dlq"] == []
    assert reconciliation["places"]["metadata DLQ"] >= 1 and reconciliation["places"]["processor-failures queue"] >= 1
    assert {name for name, count in report["faults"].items() if count} >= set(RATES)
    assert len(report["samples"]) >= SAMPLES
    assert report["last_quarter_mb"] <= report["first_quarter_mb"] * (1 + MAX_MEMORY_GROWTH), report["samples"]
    assert "uploads/s" in result.stdout and "reconciliation: OK" in result.stdout
