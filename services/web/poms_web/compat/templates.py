"""Compatibility methods: templates."""

from __future__ import annotations
