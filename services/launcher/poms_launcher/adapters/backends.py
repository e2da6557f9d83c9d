"""Batch backends by the name after ``@`` in a batch id (``123@local``)."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

from poms_shared.batch.local import LocalBatch
from poms_shared.batch.port import BatchBackend, BatchError
from poms_shared.settings import Settings

Factory = Callable[[Settings], BatchBackend]


def _local(settings: Settings) -> BatchBackend:
    backend: Any = LocalBatch.from_settings(settings)
    return backend


def _shared_factory(name: str) -> Factory | None:
    """``poms_shared.batch.backends.make_backend`` when that module exists."""
    try:
        module: Any = importlib.import_module("poms_shared.batch.backends")
    except ImportError:
        return None
    make = getattr(module, "make_backend", None)
    if make is None:
        return None
    return lambda settings: make(name, settings)


def backend_name(batch_id: str) -> str:
    """``C@local`` → ``local``; a schedd host name (``C@jobsub01.fnal.gov``) → ``jobsub``."""
    suffix = batch_id.rsplit("@", 1)[-1] if "@" in batch_id else ""
    if "." in suffix:
        return "jobsub"
    return suffix


class BackendRegistry:
    """Creates each backend once, on first use; ``register`` adds or replaces a factory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.factories: dict[str, Factory] = {"local": _local}
        self._made: dict[str, BatchBackend] = {}
        self._lock = threading.Lock()

    def register(self, name: str, factory: Factory) -> None:
        with self._lock:
            self.factories[name] = factory
            self._made.pop(name, None)

    def for_batch_id(self, batch_id: str) -> BatchBackend:
        """The backend holding ``batch_id``; BatchError when none is known by that name."""
        name = backend_name(batch_id)
        with self._lock:
            if name not in self._made:
                factory = self.factories.get(name) or _shared_factory(name)
                if factory is None:
                    raise BatchError(f"no batch backend {name!r} for batch id {batch_id!r}")
                self._made[name] = factory(self.settings)
            return self._made[name]
