"""The original client's method names (reference §8), a thin layer over ``/api/v1``'s
functions with the same permission checks. See ``framework`` for the conventions."""

from poms_web.compat import campaigns, session, stages, submissions, templates
from poms_web.compat.framework import METHODS, bp

__all__ = ["METHODS", "bp", "campaigns", "session", "stages", "submissions", "templates"]
