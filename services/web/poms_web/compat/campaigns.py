"""Compatibility methods: campaigns."""

from __future__ import annotations
