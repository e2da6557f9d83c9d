"""Which batch backends exist, and how to build one from the settings."""

from __future__ import annotations

from poms_shared.batch.jobsub import JobsubBatch
from poms_shared.batch.local import LocalBatch
from poms_shared.batch.port import BatchBackend
from poms_shared.batch.slurm import SlurmBatch
from poms_shared.settings import Settings

BACKEND_NAMES = ("local", "slurm", "jobsub")


def make_backend(name: str, settings: Settings) -> BatchBackend:
    """The backend called ``name`` configured from ``settings``; ValueError if unknown."""
    if name == "local":
        return LocalBatch(settings.batch_dir, settings.local_batch_slots)
    if name == "slurm":
        return SlurmBatch.from_settings(settings)
    if name == "jobsub":
        return JobsubBatch.from_settings(settings)
    raise ValueError(f"unknown batch backend {name!r}; known: {', '.join(BACKEND_NAMES)}")
