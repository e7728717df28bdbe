"""Audits pinned requirements for known vulnerabilities: pip-audit, against the package index's advisory data.

Run by scripts/audit.sh with its own virtualenv's Python. pip-audit asks the index's JSON API about
each pinned release. Some index mirrors and proxies serve only a project's main document, which
describes its latest release; pip-audit then skips the package as "not found on PyPI", and a
skipped package is not an audited one. For those this script reads the same advisory data from
the project's document when the pin is the latest release, and otherwise fails: it never passes a
package it could not check.

Exit status: 0 no known vulnerability, 1 a known vulnerability, 2 a package could not be audited,
3 the package index could not be reached.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

# The index pip itself defaults to; pip-audit's PyPI service reads the same JSON API.
from pip._internal.models.index import PyPI

CLEAN, VULNERABLE, NOT_AUDITED, UNREACHABLE = 0, 1, 2, 3
NOT_FOUND = "Dependency not found on PyPI"
TIMEOUT_S = 30


@dataclass
class Verdict:
    name: str
    version: str
    vulnerabilities: list[str] = field(default_factory=list)
    not_audited: str | None = None
    source: str = "pip-audit"


class IndexUnreachableError(Exception):
    """The package index did not answer: there is nothing to audit against."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pip-audit", required=True, help="the pip-audit executable to run")
    parser.add_argument("-r", "--requirement", action="append", required=True, help="a pinned requirements file")
    args = parser.parse_args(argv)
    try:
        verdicts = [_checked_in_index(verdict) for verdict in _pip_audit(args.pip_audit, args.requirement)]
    except IndexUnreachableError as error:
        print(f"error: cannot reach the package index: {error}", file=sys.stderr)
        return UNREACHABLE
    for verdict in verdicts:
        print(_describe(verdict))
    print(f"{len(verdicts)} pinned package(s) in {', '.join(args.requirement)}")
    if any(verdict.vulnerabilities for verdict in verdicts):
        return VULNERABLE
    return NOT_AUDITED if any(verdict.not_audited for verdict in verdicts) else CLEAN


def _pip_audit(executable: str, requirements: list[str]) -> list[Verdict]:
    command = [executable, "--format", "json", "--progress-spinner", "off", "--disable-pip", "--no-deps"]
    command += [argument for path in requirements for argument in ("--requirement", path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        if "ConnectionError" in result.stderr or "Max retries exceeded" in result.stderr:
            raise IndexUnreachableError(result.stderr.strip().splitlines()[-1]) from None
        raise SystemExit(f"error: pip-audit failed (exit status {result.returncode}):\n{result.stderr}") from None
    return [_verdict(dependency) for dependency in report["dependencies"]]


def _verdict(dependency: dict[str, Any]) -> Verdict:
    # pip-audit's report leaves a skipped package's version out of its fields, but names it in the reason.
    skipped_version = re.search(r"\(([^()]+)\)$", dependency.get("skip_reason", ""))
    verdict = Verdict(dependency["name"], dependency.get("version") or (skipped_version and skipped_version[1]) or "?")
    verdict.vulnerabilities = [
        _vulnerability(v["id"], v.get("aliases", []), v.get("fix_versions", [])) for v in dependency.get("vulns", [])
    ]
    verdict.not_audited = dependency.get("skip_reason")
    return verdict


def _checked_in_index(verdict: Verdict) -> Verdict:
    """Fills in what pip-audit skipped as "not found" from the project's document, when it can."""
    if not (verdict.not_audited or "").startswith(NOT_FOUND):
        return verdict
    project = _project_document(verdict.name)
    latest = project["info"]["version"]
    if latest != verdict.version:
        verdict.not_audited = (
            f"the index serves advisory data only for the latest release ({latest}) here, not for "
            f"{verdict.version}: pin {latest}, or audit where the index serves every release"
        )
        return verdict
    verdict.not_audited = None
    verdict.source = "the index's advisory data for the latest release"
    verdict.vulnerabilities = [
        _vulnerability(v["id"], v.get("aliases", []), v.get("fixed_in", []))
        for v in project.get("vulnerabilities", [])
        if not v.get("withdrawn")
    ]
    return verdict


def _project_document(name: str) -> dict[str, Any]:
    url = f"{PyPI.pypi_url}/{name}/json"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        raise SystemExit(f"error: the index answered {error.code} for {url}") from error
    except (urllib.error.URLError, TimeoutError) as error:
        raise IndexUnreachableError(f"{url}: {error}") from error


def _vulnerability(identifier: str, aliases: list[str], fixed_in: list[str]) -> str:
    named = ", ".join([identifier, *aliases])
    fix = f"fixed in {', '.join(fixed_in)}" if fixed_in else "no fixed release"
    return f"{named} ({fix})"


def _describe(verdict: Verdict) -> str:
    head = f"{verdict.name} {verdict.version}:"
    if verdict.vulnerabilities:
        return "\n".join([f"{head} VULNERABLE", *(f"  {line}" for line in verdict.vulnerabilities)])
    if verdict.not_audited:
        return f"{head} NOT AUDITED: {verdict.not_audited}"
    return f"{head} no known vulnerabilities ({verdict.source})"


if __name__ == "__main__":
    sys.exit(main())
