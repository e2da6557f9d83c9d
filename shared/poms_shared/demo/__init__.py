"""The demo experiment: a three-stage campaign whose jobs really write and declare files."""

from importlib.resources import files

DEMO_EXPERIMENT = "demo"
DEMO_CAMPAIGN = "demo_mc"


def demo_ini() -> str:
    """The sample campaign shipped with POMS."""
    return files(__package__).joinpath("demo_mc.ini").read_text()
