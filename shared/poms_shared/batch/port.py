"""The batch-backend port: what the launcher and the tracker need from a batch system.

Every backend (``local``, ``slurm``, ``jobsub``) implements ``BatchBackend`` and passes the
shared conformance suite. Batch ids look like ``<cluster>@<backend or schedd>``; job ids
like ``<cluster>.<proc>@<...>`` (the form JobEvent.batch_job_id carries).

``describe`` is optional (``DescribesJobs``): a backend offering it answers what the batch
system says *now* about whole clusters, tracked or not, which the tracker's reconciler
compares with its own rows. ``poll`` only reports changes since the last poll.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from poms_shared.batch.errors import BatchError
from poms_shared.batch.local_poll import PollResult
from poms_shared.batch.observed import Observation

__all__ = ["BatchBackend", "BatchError", "DescribesJobs", "Description", "Observation"]

# job id (``<C>.<P>@...``, as JobEvent.batch_job_id) -> the backend's word on it now;
# None (or no entry for a job of an asked cluster): the backend does not know the job
Description = dict[str, Observation | None]


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


@runtime_checkable
class DescribesJobs(Protocol):
    """The optional part of the port: the full current truth about some clusters."""

    name: str

    def describe(self, batch_ids: list[str]) -> Description:
        """Every job of each cluster (``C@...``) and each job (``C.P@...``) asked about.

        Read-only. A job the backend does not know maps to None; an id it cannot parse
        does too. Raises BatchError when the batch system cannot be asked (then nothing
        may be concluded about any job).
        """


def describer(backend: object) -> DescribesJobs | None:
    """``backend`` when it offers ``describe``, else None."""
    return backend if isinstance(backend, DescribesJobs) else None
