"""The ``poms`` command line."""
