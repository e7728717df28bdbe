"""Decodes that fail the way no pre-check can foresee, for the decoder's tests.

Each has imaging.make_thumbnails' signature and runs in the child process image_processor.worker forks
for an image, so what it does to its process is what a broken native decoder would do.
"""

from __future__ import annotations

import ctypes
import time
from typing import Any


def crash(data: bytes, **options: Any) -> Any:
    """A segmentation fault, as from a decoder reading outside its buffer."""
    ctypes.string_at(0)


def hang(data: bytes, **options: Any) -> Any:
    """A decoder that never returns, as in a scan loop that an attacker made endless."""
    while True:
        time.sleep(1)


def allocate_without_bound(data: bytes, **options: Any) -> Any:
    """A decoder trusting a size field: it keeps allocating until the allocator says no."""
    held = []
    while True:
        held.append(bytearray(64 * 1024 * 1024))


def raise_unexpectedly(data: bytes, **options: Any) -> Any:
    """A bug on one file's path: an exception that is not a rejection."""
    raise KeyError("no such field in this file's header")
