"""One skeleton for every periodic loop (pollers, relays, sweeps, clocks)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from poms_shared.metrics import LOOP_ERRORS

log = logging.getLogger(__name__)


class Loop:
    """Calls ``work()`` until stopped; sleeps ``interval`` whenever it reports no more work."""

    def __init__(self, name: str, work: Callable[[], bool], interval: float = 1.0) -> None:
        self.name = name
        self.work = work
        self.interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> bool:
        """One pass; returns True when more work is waiting (no sleep wanted)."""
        try:
            return bool(self.work())
        except Exception:
            LOOP_ERRORS.labels(self.name).inc()
            log.exception("loop %s failed; will retry", self.name)
            return False

    def run(self, once: bool = False) -> None:
        """Run until ``stop()``; with ``once`` a single pass."""
        while not self._stop.is_set():
            more = self.run_once()
            if once:
                return
            if not more:
                self._wake.wait(self.interval)
                self._wake.clear()

    def wake(self) -> None:
        """Cut the current sleep short (new work was committed)."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=f"loop-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
