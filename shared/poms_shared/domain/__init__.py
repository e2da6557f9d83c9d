"""Vocabulary shared by every service: pure values, no I/O."""
