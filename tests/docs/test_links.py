"""The README and docs/ stay navigable: every relative link and anchor resolves, and the README's quick start
shows only commands that the test suite itself runs, so it cannot rot unnoticed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]

# Each quick-start command, and the test file that runs it as written there.
QUICK_START_RUNNERS = {
    "scripts/local.sh --demo": "tests/local/test_cli.py",
    "scripts/test.sh": "tests/docs/test_links.py",
}

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped except - and _, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(document: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6} (.+)$", FENCE.sub("", document.read_text()), re.M):
        slug = github_anchor(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(document: Path) -> list[str]:
    text = FENCE.sub("", document.read_text())
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]


def test_github_anchor_follows_githubs_rules():
    assert github_anchor("Metadata message (`schema_version` 1)") == "metadata-message-schema_version-1"
    assert github_anchor("Alarms: what each means, what to do") == "alarms-what-each-means-what-to-do"
    assert github_anchor("AWS CLI v1 and v2") == "aws-cli-v1-and-v2"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_every_relative_link_and_anchor_resolves(document: Path):
    broken = []
    for target in relative_links(document):
        path_part, _, anchor = target.partition("#")
        linked = (document.parent / path_part).resolve() if path_part else document
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading with that anchor in {linked.relative_to(REPO_ROOT)}")

    assert not broken, f"{document.relative_to(REPO_ROOT)} has broken links:\n" + "\n".join(broken)


def test_every_docs_file_is_linked_from_the_readme():
    linked = {(REPO_ROOT / target.partition("#")[0]).resolve() for target in relative_links(REPO_ROOT / "README.md")}

    unlinked = [path.name for path in DOCUMENTS[1:] if path.resolve() not in linked]
    assert not unlinked, f"docs/ files the README does not link to: {unlinked}"


def quick_start_commands() -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text()
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", readme, re.M | re.S)
    assert section, "README.md has no '## Quick start' section"
    block = re.search(r"^```sh\n(.*?)^```", section[1], re.M | re.S)
    assert block, "the quick start has no sh code block"
    return [line.split("#")[0].strip() for line in block[1].splitlines() if line.split("#")[0].strip()]


def test_the_quick_start_shows_only_commands_the_test_suite_runs():
    commands = quick_start_commands()

    assert commands == list(QUICK_START_RUNNERS), "the quick start changed: update QUICK_START_RUNNERS and its tests"
    for command, runner in QUICK_START_RUNNERS.items():
        script, *arguments = command.split()
        text = (REPO_ROOT / runner).read_text()
        folder, name = script.split("/")
        runs_script = f'"{folder}" / "{name}"' in text or f'"{script}"' in text
        assert runs_script and all(f'"{argument}"' in text for argument in arguments), (
            f"{runner} no longer runs `{command}`, which the README's quick start tells users to run"
        )


def test_the_default_test_run_lints_and_leaves_out_only_the_slow_tests():
    # GIVEN the quick start's test command, in the virtualenv this suite runs in
    environment = {**os.environ, "PIPELINE_VENV": sys.prefix}

    # WHEN it runs, collecting only
    fast = subprocess.run(
        [str(REPO_ROOT / "scripts" / "test.sh"), "--collect-only", "-q"],
        env=environment,
        capture_output=True,
        text=True,
    )
    full = subprocess.run(
        [str(REPO_ROOT / "scripts" / "test.sh"), "--all", "--collect-only", "-q"],
        env=environment,
        capture_output=True,
        text=True,
    )

    # THEN both pass the lint, and the default leaves out exactly the tests marked slow
    assert fast.returncode == 0 and full.returncode == 0, fast.stdout[-2000:] + fast.stderr[-2000:]
    assert "==> ruff" in fast.stdout
    slow = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "slow"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    selected, deselected = map(int, re.search(r"(\d+)/\d+ tests collected \((\d+) deselected\)", fast.stdout).groups())
    total = int(re.search(r"^(\d+) tests collected", full.stdout, re.M)[1])
    slow_count = int(re.search(r"(\d+)/\d+ tests collected", slow.stdout)[1])
    assert deselected == slow_count > 0 and selected + deselected == total
