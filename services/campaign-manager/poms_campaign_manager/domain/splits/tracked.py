"""Split types that remember what they handed out in a catalog snapshot (§5.7-5.10).

The state is the id of a snapshot holding every file handed out so far. Each slice also
names a cumulative *tracking* definition (previous snapshot plus this slice); the caller
snapshots it and stores that id with the launch, so a failed launch hands nothing out.
"""

from __future__ import annotations

import math

from poms_campaign_manager.domain.splits.model import (
    DatasetDefinition,
    SplitContext,
    SplitDecision,
    SplitSpec,
    exhausted,
)
from poms_shared.catalog.port import CatalogFile, CatalogReader


def _handed_out(ctx: SplitContext, reader: CatalogReader) -> set[str]:
    return set(reader.snapshot_files(ctx.last_split)) if ctx.last_split else set()


def _remaining(files: list[CatalogFile], handed: set[str]) -> list[CatalogFile]:
    return [f for f in files if f.name not in handed]


def _tracked(
    ctx: SplitContext, slice_name: str, full_name: str, files: list[CatalogFile], handed: set[str]
) -> SplitDecision:
    names = tuple(f.name for f in files)
    message = f"{len(names)} new file(s) of {ctx.dataset}"
    return SplitDecision(
        dataset=slice_name,
        new_last_split=None,
        define=DatasetDefinition(slice_name, names, message),
        message=message,
        track=DatasetDefinition(
            full_name, tuple(sorted(handed | set(names))), f"handed out by {ctx.dataset} splits"
        ),
    )


def drainingn_next(spec: SplitSpec, ctx: SplitContext, reader: CatalogReader) -> SplitDecision:
    """At most n files not handed out yet; ends when none is left."""
    n, state, handed = spec.params["n"], ctx.last_split or 0, _handed_out(ctx, reader)
    files = _remaining(reader.list_files(ctx.experiment, ctx.dataset), handed)[:n]
    if not files:
        return exhausted(ctx)
    base = f"{ctx.dataset}_%s_{state}_stage_{n}"
    return _tracked(ctx, base % "slice", f"{base % 'full'}_{ctx.now}", files, handed)


def stagedfiles_next(spec: SplitSpec, ctx: SplitContext, reader: CatalogReader) -> SplitDecision:
    """At most n staged (located) files not handed out yet; ends when none is left."""
    n, state, handed = spec.params["n"], ctx.last_split or 0, _handed_out(ctx, reader)
    staged = [f for f in reader.list_files(ctx.experiment, ctx.dataset) if f.staged]
    files = _remaining(staged, handed)[:n]
    if not files:
        return exhausted(ctx)
    base = f"{ctx.dataset}_%s_{state}_stage_{n}"
    return _tracked(ctx, base % "slice", f"{base % 'full'}_{ctx.now}", files, handed)


def byexistingruns_next(spec: SplitSpec, ctx: SplitContext, reader: CatalogReader) -> SplitDecision:
    """All not-yet-handed-out files of the lowest remaining run; ends when no run is left."""
    state, handed = ctx.last_split or 0, _handed_out(ctx, reader)
    remaining = _remaining(reader.list_files(ctx.experiment, ctx.dataset), handed)
    runs = sorted({f.run for f in remaining if f.run is not None})
    if not runs:
        return exhausted(ctx)
    files = [f for f in remaining if f.run == runs[0]]
    base = f"{ctx.dataset}_%s_{state}_run_{runs[0]}"
    return _tracked(ctx, base % "slice", f"{base % 'full'}_{ctx.now}", files, handed)


def draining_next(spec: SplitSpec, ctx: SplitContext, reader: CatalogReader) -> SplitDecision:
    """The files no launched submission of this stage has had yet; never ends, no state."""
    files = reader.unconsumed_files(ctx.experiment, ctx.dataset, ctx.stage_id)
    name = f"{ctx.dataset}_draining_{ctx.stage_id}_{ctx.token}"
    message = f"{len(files)} unconsumed file(s) of {ctx.dataset}"
    return SplitDecision(
        dataset=name,
        new_last_split=ctx.last_split,
        define=DatasetDefinition(name, tuple(f.name for f in files), message),
        message=message,
    )


def tracked_length(spec: SplitSpec, ctx: SplitContext, reader: CatalogReader) -> int | None:
    """Slices from the start for the files present now; None for ``draining``."""
    if spec.kind == "draining":
        return None
    files = reader.list_files(ctx.experiment, ctx.dataset)
    if spec.kind == "byexistingruns":
        return len({f.run for f in files if f.run is not None})
    if spec.kind == "stagedfiles":
        files = [f for f in files if f.staged]
    return math.ceil(len(files) / spec.params["n"])
