"""The batch port's error, in a module of its own: the job-side commands
(``poms-local-submit`` and friends) raise it without loading the message models."""

from __future__ import annotations


class BatchError(RuntimeError):
    """The batch system refused or failed a request; the message says what it printed."""
