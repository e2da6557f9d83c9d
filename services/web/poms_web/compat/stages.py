"""Compatibility methods: stages."""

from __future__ import annotations
