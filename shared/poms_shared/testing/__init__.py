"""Helpers for the test suites: finding real infrastructure to test against."""
