"""Values shared by the split types: the parsed expression, the launch context, the decision."""

from __future__ import annotations

from dataclasses import dataclass

from poms_shared.domain.split_syntax import SplitError, SplitSpec

__all__ = ["NO_MORE_SPLITS", "SplitError", "SplitSpec"]
NO_MORE_SPLITS = "No more splits in this campaign."


@dataclass(frozen=True)
class SplitContext:
    """What a split decision reads about the stage and the moment of the launch."""

    experiment: str
    dataset: str  # the stage's dataset field (or split data)
    stage_id: int = 0
    last_split: int | None = None  # cs_last_split; None = start over
    clear_cronjob: bool = True  # the stage's default_clear_cronjob
    now: int = 0  # epoch seconds, for ``new`` and tracking-snapshot names
    token: str = "0"  # unique per launch, where the reference puts a uuid in a name


@dataclass(frozen=True)
class DatasetDefinition:
    """A named file list the caller defines in the catalog before launching."""

    name: str
    files: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class SplitDecision:
    """The slice for one launch and the state to commit together with that launch.

    ``new_last_split`` is the value to store in ``cs_last_split`` once the launch is
    recorded, except when ``track`` is set: then the new state is the id of a snapshot of
    ``track`` (snapshot-tracked types; see ``realise``).
    """

    dataset: str | None
    new_last_split: int | None
    define: DatasetDefinition | None = None
    exhausted: bool = False
    message: str = ""
    clear_schedule: bool = False  # exhausted and the stage asks for its cron entry to go
    track: DatasetDefinition | None = None


def exhausted(ctx: SplitContext) -> SplitDecision:
    """The decision for a split type with nothing left to hand out."""
    return SplitDecision(
        dataset=None,
        new_last_split=ctx.last_split,
        exhausted=True,
        message=NO_MORE_SPLITS,
        clear_schedule=ctx.clear_cronjob,
    )


def unchanged(ctx: SplitContext, dataset: str, message: str = "") -> SplitDecision:
    """A slice that leaves the iterator where it is."""
    return SplitDecision(dataset=dataset, new_last_split=ctx.last_split, message=message)


def defined(
    name: str, files: list[str] | tuple[str, ...], state: int | None, message: str
) -> SplitDecision:
    """A slice the caller defines as a new dataset, advancing the iterator to ``state``."""
    definition = DatasetDefinition(name, tuple(files), message)
    return SplitDecision(dataset=name, new_last_split=state, define=definition, message=message)
