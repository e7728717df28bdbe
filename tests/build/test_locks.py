"""The hash locks scripts/lock.sh writes agree with the requirements files they lock."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.build.project import ROOT

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)
# (requirements file, the lock scripts/lock.sh writes from it)
LOCKS = [
    ("image_processor/requirements.txt", "image_processor/requirements.lock"),
    ("db_writer/requirements.txt", "db_writer/requirements.lock"),
    ("requirements-dev.txt", "requirements-dev.lock"),
]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def asked(requirements: Path) -> dict[str, str]:
    """name -> version of each pin, following -r includes."""
    pins: dict[str, str] = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins |= asked(ROOT / line.removeprefix("-r ").strip())
        elif "==" in line:
            name, version = line.split("==")
            pins[canonical(name.split("[")[0])] = version
    return pins


def locked_entries(lock: Path) -> list[tuple[str, str, list[str]]]:
    """(name, version, hashes) for each package of a lock."""
    entries = []
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock.read_text()):
        match = PIN.search(block)
        if match:
            entries.append((canonical(match[1]), match[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", block)))
    return entries


@pytest.mark.parametrize(("requirements", "lock"), LOCKS)
def test_lock_pins_every_requirement_at_its_version_with_hashes(requirements: str, lock: str):
    entries = locked_entries(ROOT / lock)
    locked = {name: version for name, version, _ in entries}
    for name, version in asked(ROOT / requirements).items():
        assert locked.get(name) == version, f"{lock} has {name} {locked.get(name)}, {requirements} asks {version}"
    assert all(hashes for _, _, hashes in entries), f"{lock}: a package without --hash: pip would refuse the lock"
    assert "scripts/lock.sh" in (ROOT / lock).read_text().split("\n", 3)[1], f"{lock}: not written by scripts/lock.sh"


def test_image_processor_lock_has_a_wheel_hash_per_platform_and_python():
    # Pillow and pi-heif ship a wheel per platform and Python: the lock holds all of them (uv --universal),
    # so one lock installs on arm64 and x86_64, Python 3.12 and 3.13. A lock made for one machine would hold
    # one or two hashes per package.
    for name, _, hashes in locked_entries(ROOT / "image_processor/requirements.lock"):
        assert len(hashes) >= 4, f"{name}: {len(hashes)} hashes"
