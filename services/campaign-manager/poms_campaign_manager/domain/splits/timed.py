"""The ``new`` split type: consecutive time windows of newly created files (§5.12)."""

from __future__ import annotations

import time

from poms_campaign_manager.domain.splits.model import (
    SplitContext,
    SplitDecision,
    SplitSpec,
    defined,
    exhausted,
)
from poms_shared.catalog.port import CatalogReader


def _window(spec: SplitSpec) -> int:
    # The window is truncated to a multiple of the rounding, but never to nothing.
    window, rounding = spec.params["window"], spec.params["round"]
    return max(rounding, window - window % rounding)


def last_start(spec: SplitSpec, ctx: SplitContext) -> int:
    """The latest window start whose files have had ``fts`` seconds to be registered."""
    lasttime = spec.params.get("lasttime", ctx.now)
    bound = lasttime - spec.params["fts"] - _window(spec)
    return bound - bound % spec.params["round"]


def first_start(spec: SplitSpec, ctx: SplitContext) -> int:
    """Where the first window starts: ``firsttime`` when given, else the latest start."""
    return spec.params.get("firsttime", last_start(spec, ctx))


def stamp(epoch: int, local: bool) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` in GMT, or in local time when asked."""
    moment = time.localtime(epoch) if local else time.gmtime(epoch)
    return time.strftime("%Y-%m-%dT%H:%M:%S", moment)


def new_next(spec: SplitSpec, ctx: SplitContext, reader: CatalogReader) -> SplitDecision:
    """Files created in (start, start+window]; the state is the end of the last window."""
    bound = last_start(spec, ctx)
    if ctx.last_split is None:
        start = first_start(spec, ctx)
    elif ctx.last_split > bound:
        return exhausted(ctx)
    else:
        start = ctx.last_split
    end = start + _window(spec)
    files = reader.files_since(ctx.experiment, ctx.dataset, start, end)
    local = bool(spec.params["localtime"])
    span = f"{stamp(start, local)}__{stamp(end, local)}"
    name = f"{ctx.dataset}_{ctx.token}_time_{span}"
    return defined(name, [f.name for f in files], end, f"{ctx.dataset} created {span}")


def new_length(spec: SplitSpec, ctx: SplitContext, reader: CatalogReader) -> int | None:
    """Windows from the first start up to the latest start (the first one always counts)."""
    start, bound = first_start(spec, ctx), last_start(spec, ctx)
    return 1 + max(0, (bound - start) // _window(spec))
