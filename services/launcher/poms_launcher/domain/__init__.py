"""Pure command composition rules."""
