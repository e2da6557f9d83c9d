"""Split types whose state is a plain counter or run number (reference §5.1-5.6, §5.11)."""

from __future__ import annotations

import json
import math

from poms_campaign_manager.domain.splits.model import (
    SplitContext,
    SplitDecision,
    SplitError,
    SplitSpec,
    defined,
    exhausted,
    unchanged,
)
from poms_shared.catalog.port import CatalogReader


def none_next(spec: SplitSpec, ctx: SplitContext, reader: CatalogReader) -> SplitDecision:
    """No splitting: the stage's dataset every time, never ending."""
    return unchanged(ctx, ctx.dataset, "no splitting")


def list_items(dataset: str) -> list[str]:
    """The list split data: comma- or line-separated names, blanks trimmed, empties dropped."""
    return [item.strip() for item in dataset.replace("\n", ",").split(",") if item.strip()]


def list_next(spec: SplitSpec, ctx: SplitContext, reader: CatalogReader) -> SplitDecision:
    """Item number ``cs_last_split`` of the list, verbatim; no dataset is defined."""
    items, index = list_items(ctx.dataset), ctx.last_split or 0
    if index >= len(items):
        return exhausted(ctx)
    return SplitDecision(items[index], index + 1, message=f"item {index + 1} of {len(items)}")


def multiparam_lists(dataset: str) -> list[list[str]]:
    """The multiparam split data: a JSON list of non-empty lists of values."""
    try:
        data = json.loads(dataset)
    except ValueError as exc:
        raise SplitError(f"split type multiparam: dataset is not JSON ({exc})") from exc
    if not isinstance(data, list) or not data:
        raise SplitError("split type multiparam: dataset must be a non-empty list of lists")
    if not all(isinstance(column, list) and column for column in data):
        raise SplitError("split type multiparam: every entry must be a non-empty list")
    return [[str(value) for value in column] for column in data]


def multiparam_next(spec: SplitSpec, ctx: SplitContext, reader: CatalogReader) -> SplitDecision:
    """Slice n is the mixed-radix digits of n, the first list varying fastest, joined by ``_``."""
    columns, index = multiparam_lists(ctx.dataset), ctx.last_split or 0
    total = math.prod(len(column) for column in columns)
    if index >= total:
        return exhausted(ctx)
    parts, rest = [], index
    for column in columns:
        rest, digit = divmod(rest, len(column))
        parts.append(column[digit])
    return SplitDecision("_".join(parts), index + 1, message=f"combination {index + 1} of {total}")


def nfiles_next(spec: SplitSpec, ctx: SplitContext, reader: CatalogReader) -> SplitDecision:
    """Slice k: files k·n … k·n+n−1 of the dataset; ends at the first empty slice."""
    n, k = spec.params["n"], ctx.last_split or 0
    files = reader.list_files(ctx.experiment, ctx.dataset)[k * n : (k + 1) * n]
    if not files:
        return exhausted(ctx)
    name = f"{ctx.dataset}_slice{k}_files{n}"
    return defined(name, [f.name for f in files], k + 1, f"{ctx.dataset} files {k * n}+{n}")


def mod_next(spec: SplitSpec, ctx: SplitContext, reader: CatalogReader) -> SplitDecision:
    """Slice k of m: every m-th file starting at file k; exactly m slices."""
    m, k = spec.params["n"], ctx.last_split or 0
    if k >= m:
        return exhausted(ctx)
    files = reader.list_files(ctx.experiment, ctx.dataset)[k::m]
    name = f"{ctx.dataset}_slice{k}_of_{m}"
    return defined(name, [f.name for f in files], k + 1, f"{ctx.dataset} stride {m} offset {k}")


def byrun_next(spec: SplitSpec, ctx: SplitContext, reader: CatalogReader) -> SplitDecision:
    """One run per slice from ``low`` to ``high`` inclusive; empty runs still give a slice."""
    low, high = spec.params["low"], spec.params["high"]
    run = ctx.last_split if ctx.last_split is not None else low
    if run > high:
        return exhausted(ctx)
    files = reader.files_for_run(ctx.experiment, ctx.dataset, run)
    name = f"{ctx.dataset}_{ctx.token}_run_{run}"
    return defined(name, [f.name for f in files], run + 1, f"{ctx.dataset} run {run}")


def limitn_next(spec: SplitSpec, ctx: SplitContext, reader: CatalogReader) -> SplitDecision:
    """The first n files, every time; ends only when the dataset is empty."""
    n = spec.params["n"]
    files = reader.list_files(ctx.experiment, ctx.dataset)[:n]
    if not files:
        return exhausted(ctx)
    name = f"{ctx.dataset}_{ctx.token}_limit{n}"
    return defined(name, [f.name for f in files], ctx.last_split, f"{ctx.dataset} first {n}")


def indexed_length(spec: SplitSpec, ctx: SplitContext, reader: CatalogReader) -> int | None:
    """Number of slices from the start, or None when the type never ends by itself."""
    if spec.kind == "list":
        return len(list_items(ctx.dataset))
    if spec.kind == "multiparam":
        return math.prod(len(column) for column in multiparam_lists(ctx.dataset))
    if spec.kind == "nfiles":
        return math.ceil(reader.count_files(ctx.experiment, ctx.dataset) / spec.params["n"])
    if spec.kind == "mod":
        return spec.params["n"]
    if spec.kind == "byrun":
        return spec.params["high"] - spec.params["low"] + 1
    return None  # none and limitn hand out slices for ever
