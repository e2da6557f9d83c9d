"""Pure tracking rules."""
