"""Runners and database access of the launcher."""
