"""Database access for the campaign manager."""
