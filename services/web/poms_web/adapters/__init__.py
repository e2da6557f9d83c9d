"""Read models and writes of the web service."""
