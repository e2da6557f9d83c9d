"""Choosing a launch's slice: the split-type table and the entry points the handler calls."""

from __future__ import annotations

from collections.abc import Callable

from poms_campaign_manager.domain.splits import indexed, timed, tracked
from poms_campaign_manager.domain.splits.model import (
    SplitContext,
    SplitDecision,
    SplitError,
    SplitSpec,
)
from poms_shared.catalog.port import Catalog, CatalogReader
from poms_shared.domain.split_syntax import parse_split_type, select_expression

Decide = Callable[[SplitSpec, SplitContext, CatalogReader], SplitDecision]
Length = Callable[[SplitSpec, SplitContext, CatalogReader], int | None]

SPLIT_TYPES: dict[str, tuple[Decide, Length]] = {
    "none": (indexed.none_next, indexed.indexed_length),
    "list": (indexed.list_next, indexed.indexed_length),
    "multiparam": (indexed.multiparam_next, indexed.indexed_length),
    "nfiles": (indexed.nfiles_next, indexed.indexed_length),
    "mod": (indexed.mod_next, indexed.indexed_length),
    "byrun": (indexed.byrun_next, indexed.indexed_length),
    "limitn": (indexed.limitn_next, indexed.indexed_length),
    "byexistingruns": (tracked.byexistingruns_next, tracked.tracked_length),
    "draining": (tracked.draining_next, tracked.tracked_length),
    "drainingn": (tracked.drainingn_next, tracked.tracked_length),
    "stagedfiles": (tracked.stagedfiles_next, tracked.tracked_length),
    "new": (timed.new_next, timed.new_length),
}


def next_split(spec: SplitSpec, ctx: SplitContext, reader: CatalogReader) -> SplitDecision:
    """The slice for this launch and the state to commit with it; reads, never writes."""
    if ctx.last_split is not None and ctx.last_split < 0:
        raise SplitError(f"split type {spec.text}: position {ctx.last_split} is negative")
    return SPLIT_TYPES[spec.kind][0](spec, ctx, reader)


def split_length(spec: SplitSpec, ctx: SplitContext, reader: CatalogReader) -> int | None:
    """Number of slices from the start when knowable, None for never-ending types."""
    return SPLIT_TYPES[spec.kind][1](spec, ctx, reader)


def decide_launch(
    split_type: str | None,
    test_split_type: str | None,
    ctx: SplitContext,
    reader: CatalogReader,
    *,
    test: bool = False,
) -> SplitDecision:
    """Parse the split type the launch uses (the test one on test launches) and decide."""
    spec = parse_split_type(select_expression(split_type, test_split_type, test))
    return next_split(spec, ctx, reader)


def reset_split() -> int | None:
    """The state after "Reset": NULL, so the next launch starts over."""
    return None


def realise(decision: SplitDecision, catalog: Catalog, experiment: str) -> int | None:
    """Define the decision's datasets in the catalog; the ``cs_last_split`` to commit."""
    if decision.define is not None:
        d = decision.define
        catalog.define_dataset(experiment, d.name, d.files, d.description)
    if decision.track is None:
        return decision.new_last_split
    t = decision.track
    catalog.define_dataset(experiment, t.name, t.files, t.description)
    return catalog.snapshot(experiment, t.name)
