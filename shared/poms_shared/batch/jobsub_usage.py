"""What an HTCondor job used, from the attributes of its job ClassAd (pure).

=============================  =========================================================
usage                          attributes (the first one told wins)
=============================  =========================================================
cpu_seconds                    RemoteUserCpu + RemoteSysCpu (either alone when only one
                               is told)
wall_seconds                   RemoteWallClockTime (every run of the job, as HTCondor
                               counts it)
memory_mb                      ResidentSetSize_RAW (peak, KiB), else MemoryUsage (MiB)
memory_requested_mb            RequestMemory (MiB)
site                           MATCH_GLIDEIN_Site, MATCH_EXP_JOB_GLIDEIN_Site, JOB_Site,
                               GLIDEIN_Site
=============================  =========================================================

Values are strings as ``-autoformat`` prints them; ``undefined``, ``Unknown``, an unexpanded
``$$(GLIDEIN_Site)``, negative or garbled numbers count as not told.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from poms_shared.batch.local_events import Usage

USAGE_ATTRIBUTES = (
    "RemoteUserCpu",
    "RemoteSysCpu",
    "RemoteWallClockTime",
    "ResidentSetSize_RAW",
    "MemoryUsage",
    "RequestMemory",
)
# strings come last: a value with a space in it can only shift these
SITE_ATTRIBUTES = ("MATCH_GLIDEIN_Site", "MATCH_EXP_JOB_GLIDEIN_Site", "JOB_Site", "GLIDEIN_Site")
_NOT_SITES = frozenset({"", "undefined", "unknown", "none", "error"})


def ad_usage(ad: Mapping[str, str]) -> Usage | None:
    """The usage an ad tells (its attributes as printed strings); None when it tells none."""
    rss_kib = amount(ad.get("ResidentSetSize_RAW"))
    memory = rss_kib / 1024 if rss_kib is not None else amount(ad.get("MemoryUsage"))
    usage = Usage(
        site=ad_site(ad),
        cpu_seconds=_cpu_seconds(ad),
        wall_seconds=amount(ad.get("RemoteWallClockTime")),
        memory_mb=_whole(memory),
        memory_requested_mb=_whole(amount(ad.get("RequestMemory"))),
    )
    return usage if usage.to_obj() else None


def ad_site(ad: Mapping[str, str]) -> str | None:
    """The first site attribute with a real site name in it."""
    for name in SITE_ATTRIBUTES:
        value = ad.get(name, "").strip().strip('"').strip()
        if value.lower() not in _NOT_SITES and "$$(" not in value:
            return value
    return None


def amount(value: str | None) -> float | None:
    """A non-negative finite number, or None (``undefined``, garbled, negative)."""
    try:
        number = float((value or "").strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _cpu_seconds(ad: Mapping[str, str]) -> float | None:
    parts = [amount(ad.get(name)) for name in ("RemoteUserCpu", "RemoteSysCpu")]
    known = [part for part in parts if part is not None]
    return sum(known) if known else None


def _whole(value: float | None) -> int | None:
    return None if value is None else int(value)
