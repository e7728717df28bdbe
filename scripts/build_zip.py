"""Deterministic zip writer for the Lambda packages (standard library only).

The zip's bytes depend only on the files' relative paths, contents and executable bit: Terraform's
source_code_hash then changes only when code or dependencies change, not on every build.

Entries are stored, not deflated. Deflate's output depends on the compressor, not only on the input: a
Python linked with zlib-ng (Fedora 40 and later) writes other bytes than one linked with zlib at the same
level, so the hash would differ between developers' machines. Stored, image_processor.zip is about 21 MB,
well under Lambda's 50 MB limit for a direct upload (docs/build.md has the measurements).
"""

import stat
import zipfile
from pathlib import Path

# The earliest time a zip header can hold; any fixed value works, this one says "not a real date".
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
EXECUTABLE_MODE = 0o755

# Never shipped: bytecode is rebuilt by the runtime, tests and caches are not code the function runs.
EXCLUDED_DIR_NAMES = frozenset({"__pycache__", "tests"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")


def is_excluded(relative: Path) -> bool:
    """True for paths that never belong in a package: caches, bytecode, tests, hidden files."""
    if any(part in EXCLUDED_DIR_NAMES or part.startswith(".") for part in relative.parts):
        return True
    name = relative.name
    return name.endswith(EXCLUDED_SUFFIXES) or name.startswith("test_") or name == "conftest.py"


def tree_files(root: Path, prefix: str = "") -> dict[str, Path]:
    """Maps archive names (prefix + path relative to root, '/'-separated) to the files under root."""
    files = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not is_excluded(relative):
            files[prefix + relative.as_posix()] = path
    return files


def zip_info(name: str, source: Path) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
    info.create_system = 3  # Unix, so unzip and Lambda honour the mode bits below
    executable = source.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    mode = EXECUTABLE_MODE if executable else FILE_MODE
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_STORED
    return info


def write_zip(entries: dict[str, Path], destination: Path) -> None:
    """Writes entries (archive name -> file) sorted by name, with fixed times and normalised modes.

    Directory entries are left out: Lambda and unzip create directories from the file paths.
    """
    with zipfile.ZipFile(destination, "w") as archive:
        for name in sorted(entries):
            archive.writestr(zip_info(name, entries[name]), entries[name].read_bytes())


def merge(*trees: dict[str, Path]) -> dict[str, Path]:
    """Merges archive maps; a name present in two trees is an error, never a silent overwrite."""
    merged: dict[str, Path] = {}
    for tree in trees:
        for name, path in tree.items():
            if name in merged:
                raise ValueError(f"{name} comes from both {merged[name]} and {path}")
            merged[name] = path
    return merged
