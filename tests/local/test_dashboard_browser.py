"""The local dashboard in a real browser: the stack as a user starts it, a few uploads (one rejected) and a
message db_writer cannot write, then the printed dashboard_url opened in headless Chromium, which must show
every widget with data. The screenshot is kept in test-artefacts/ (docs/local.md shows one)."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.local.conftest import wait_until
from tests.local.subprocess_stack import REPO_ROOT, LocalStack, running_local_stack

pytestmark = pytest.mark.slow

ARTEFACTS = REPO_ROOT / "test-artefacts"
CHROMIUM_NAMES = ("chromium", "chromium-browser")
# No network beyond the page, no first-run or background work, a profile of its own per run.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
)  # fmt: skip
WINDOW = "1400,1750"
BROWSER_TIMEOUT_S = 60
DATA_TIMEOUT_S = 90


def chromium() -> str:
    found = next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)
    if found is None:
        message = "no Chromium to open the dashboard in (Debian/Ubuntu: apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; .ci/run installs it, and CI=true requires every check to run")
        pytest.skip(message)
    return found


def browse(browser: str, profile: Path, url: str, *output: str) -> str:
    """Runs headless Chromium on `url` with a fresh profile; returns what it printed."""
    shutil.rmtree(profile, ignore_errors=True)
    result = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={WINDOW}", *output, url],
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def widgets_in(dom: str) -> list[tuple[str, str, str]]:
    """(type, title, inner HTML) of each widget the browser shows, in the page's order."""
    found = re.findall(r'<section class="widget widget-(\w+)"[^>]*>(?:<h2>([^<]*)</h2>)?(.*?)</section>', dom, re.S)
    return [(kind, html.unescape(title), content) for kind, title, content in found]


def shows_data(kind: str, content: str) -> bool:
    if "not rendered locally" in content:
        return False
    return {
        "metric": lambda: 'class="point"' in content or 'class="single-value"' in content,
        "alarm": lambda: 'class="alarm state-' in content and "state-NOT_FOUND" not in content,
        "log": lambda: 'class="log-row"' in content,
        "text": lambda: bool(re.search(r'<div class="text">\s*<', content)),
    }.get(kind, lambda: False)()


def charted_total(chart: str, label: str) -> float:
    """The sum of a series' points, from the tooltip each point carries."""
    return sum(float(value) for value in re.findall(rf"<title>{re.escape(label)}: ([\d.]+) at ", chart))


@pytest.fixture(scope="module")
def used_stack(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("uploads")
    with running_local_stack() as local:
        bucket = local.stack.upload_bucket
        for index, size in enumerate([(1600, 1200), (800, 600), (400, 900)]):
            Image.radial_gradient("L").resize(size).convert("RGB").save(folder / f"photo{index}.jpg", "JPEG")
            local.run("s3", "cp", str(folder / f"photo{index}.jpg"), f"s3://{bucket}/browser/photo{index}.jpg")
        (folder / "notes.jpg").write_text("meeting notes, not a photo\n")
        local.run("s3", "cp", str(folder / "notes.jpg"), f"s3://{bucket}/browser/notes.jpg")
        # A message that is not JSON: db_writer logs an error for it, which the log widget lists.
        metadata_url = local.queue_url(local.stack.metadata_queue.name)
        local.run("sqs", "send-message", "--queue-url", metadata_url, "--message-body", "not json")
        for key in ("browser/photo0.jpg", "browser/photo1.jpg", "browser/photo2.jpg", "browser/notes.jpg"):
            wait_until(lambda key=key: local.item(key), DATA_TIMEOUT_S, f"the record of {key}")
        yield local


def test_dashboard_url_shows_every_widget_with_data_in_chromium(used_stack: LocalStack, tmp_path: Path):
    browser = chromium()
    local = used_stack
    # GIVEN the dashboard_url the ready banner prints, and the body `aws cloudwatch get-dashboard` returns
    url = next(line.split(" = ", 1)[1].split()[0] for line in local.output if line.startswith("dashboard_url = "))
    body = json.loads(
        local.aws("cloudwatch", "get-dashboard", "--dashboard-name", local.stack.dashboard)["DashboardBody"]
    )
    expected = [(widget["type"], widget["properties"].get("title", "")) for widget in body["widgets"]]

    # WHEN Chromium opens it, until every widget shows data (queue depths are recorded every few seconds)
    def every_widget_shows_data() -> list[tuple[str, str, str]] | None:
        shown = widgets_in(browse(browser, tmp_path / "profile", url, "--dump-dom"))
        return shown if all(shows_data(kind, content) for kind, _, content in shown) else None

    shown = wait_until(every_widget_shows_data, DATA_TIMEOUT_S, "every widget to show data")
    ARTEFACTS.mkdir(exist_ok=True)
    screenshot = ARTEFACTS / "dashboard.png"
    browse(browser, tmp_path / "profile", url, f"--screenshot={screenshot}")

    # THEN it shows each widget of the body: charts with points, every alarm, the unwritable message's log row
    assert [(kind, title) for kind, title, _ in shown] == expected
    alarm_arns = [
        arn for widget in body["widgets"] if widget["type"] == "alarm" for arn in widget["properties"]["alarms"]
    ]
    assert sum(content.count('class="alarm state-') for kind, _, content in shown if kind == "alarm") == len(alarm_arns)
    assert any("message not written" in content for kind, _, content in shown if kind == "log")
    outcomes = next(content for _, title, content in shown if title == "Images processed and rejected")
    assert charted_total(outcomes, "processed") == 3 and charted_total(outcomes, "rejected") == 1
    with Image.open(screenshot) as picture:
        assert picture.size == tuple(int(n) for n in WINDOW.split(","))
