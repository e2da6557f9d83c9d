"""Batch backends: the ``local`` executor that runs jobs as subprocesses on this host."""
