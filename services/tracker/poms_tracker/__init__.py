"""Tracker: jobs, files, submission status and completion."""
