"""A fixed number of daemon threads running launches, so the consumer never waits for one.

Daemon threads (rather than ``concurrent.futures``, whose workers are joined at interpreter
exit) let a stopping launcher exit while launches run; those are reported on the next start.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)
Task = Callable[[], None]


class LaunchPool:
    """Runs submitted tasks on at most ``size`` threads at once, in submission order."""

    def __init__(self, size: int, name: str = "launch") -> None:
        if size < 1:
            raise ValueError(f"launch concurrency must be at least 1, not {size}")
        self.size = size
        self.name = name
        self._tasks: queue.Queue[Task | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._pending = 0
        self._cond = threading.Condition()

    def start(self) -> None:
        with self._cond:
            if self._threads:
                return
            for n in range(self.size):
                thread = threading.Thread(target=self._work, name=f"{self.name}-{n}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def submit(self, task: Task) -> None:
        with self._cond:
            self._pending += 1
        self.start()
        self._tasks.put(task)

    def stop(self) -> None:
        """Let workers finish their current task and exit; queued tasks are dropped."""
        with self._cond:
            threads, self._threads = self._threads, []
            while True:
                try:
                    self._tasks.get_nowait()
                except queue.Empty:
                    break
                self._pending -= 1
            self._cond.notify_all()
        for _ in threads:
            self._tasks.put(None)

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is queued or running (tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def _work(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            try:
                task()
            except Exception:
                log.exception("launch task failed")
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()
