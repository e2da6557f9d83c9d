"""Launcher: composes and runs launch commands."""
