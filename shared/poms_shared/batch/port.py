"""The batch-backend port: what the launcher and the tracker need from a batch system.

Every backend (``local``, ``slurm``, ``jobsub``) implements ``BatchBackend`` and passes the
shared conformance suite. Batch ids look like ``<cluster>@<backend or schedd>``; job ids
like ``<cluster>.<proc>@<...>`` (the form JobEvent.batch_job_id carries).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from poms_shared.batch.local_poll import PollResult


class BatchError(RuntimeError):
    """The batch system refused or failed a request; the message says what it printed."""


class BatchBackend(Protocol):
    name: str

    def submit(
        self,
        submission_id: int,
        argv: list[str],
        count: int = 1,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> str:
        """Submit ``count`` jobs running ``argv``; returns the batch (cluster) id."""

    def poll(self) -> PollResult:
        """Job observations (and declared files) not yet marked tracked."""

    def mark_tracked(self, job_ids: Iterable[str]) -> int:
        """Finished jobs the tracker has committed; they need not be reported again."""

    def kill(self, batch_id: str) -> int:
        """Remove the jobs of a batch (or one job); returns how many were affected."""

    def hold(self, batch_id: str) -> int:
        """Hold the idle or running jobs of a batch."""

    def release(self, batch_id: str) -> int:
        """Release held jobs of a batch."""
