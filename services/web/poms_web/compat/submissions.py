"""Compatibility methods: submissions."""

from __future__ import annotations
