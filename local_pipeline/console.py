"""The runner's own console lines, kept apart from function output (which goes to CloudWatch Logs)."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Console:
    def __init__(self, stream: TextIO | None = None) -> None:
        # Bound at construction: once runtime.install_output_routing() replaces sys.stdout, a line
        # written from an invocation's thread would otherwise land in that invocation's log.
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        """Prints one line prefixed with the local time."""
        self.raw(f"{time.strftime('%H:%M:%S')} {text}")

    def raw(self, text: str) -> None:
        with self._lock:
            self._stream.write(text + "\n")
            self._stream.flush()


def error_text(error: BaseException) -> str:
    """An exception as a console line shows it: its type and message, not its Python repr."""
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
