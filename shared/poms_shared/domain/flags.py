"""Names of the installation-wide switches kept in ``system_flags``."""

GLOBAL_HOLD = "global_launch_hold"  # "on": every launch becomes a held launch
