"""A background thread that repeats one step (a poll, an evaluation) until stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable

from local_pipeline.console import Console, error_text

# After an unexpected error, wait this long before the next step so a persistent fault cannot spin.
ERROR_PAUSE_S = 1.0


class BackgroundLoop:
    def __init__(self, name: str, step: Callable[[], None], console: Console, pause_s: float = 0.0) -> None:
        self._name = name
        self._step = step
        self._console = console
        self._pause_s = pause_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Returns once the step under way has finished (a poll, or a batching window and the wait for a free slot)."""
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._step()
            except Exception as exc:  # noqa: BLE001 - the loop must outlive a failed poll
                self._console.say(f"{self._name}: {error_text(exc)} (retrying)")
                self._stopping.wait(ERROR_PAUSE_S)
            else:
                self._stopping.wait(self._pause_s)
