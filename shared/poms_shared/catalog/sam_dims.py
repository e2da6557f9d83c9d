"""SAM dimension strings POMS builds (reference §3.4, §3.6, §4.2, Appendix B).

Pure functions: they only format text. Names and values that would change the meaning of a
dimension (quotes, blanks in a definition name, a missing project) raise ``DimsError``, a
``ValueError`` with a message meant for the person who configured the stage.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from poms_shared.domain.patterns import split_patterns
from poms_shared.domain.recovery import (
    recovery_dataset_name,
    recovery_kind,
)

FILES_PREFIX = "files:"  # the port's "every file whose name is LIKE this" dataset form
NOT_CONSUMED = "skipped,unknown,delivered,transferred,unconsumed,cancelled"
PASS_THROUGH_STAGES = ("approval", "datatransfer")
NO_FILES = "file_name __no_files__"  # selects nothing: an empty definition
# Fragments older POMS code emitted that select nothing or everything (Appendix B).
_NO_OPS = (
    "file_name '%' and ",
    "union (file_name __located__ )",
    "union (file_name __no_project__ )",
    "(file_name __located__ ) union",
    "(file_name __no_project__ ) union",
)
_BARE = re.compile(r"[A-Za-z0-9_.%:/+@\-]+")
_NAME = re.compile(r"[A-Za-z0-9_.+@\-]+")
_OPERATORS = {"and", "or", "minus", "union", "intersect", "with", "like"}
_SAM_CONSUMED = re.compile(r"consumed_status\s+(?:'consumed'|consumed(?![\w%,']))")


class DimsError(ValueError):
    """Input that cannot be turned into a SAM dimension."""


@dataclass(frozen=True)
class SamSubmission:
    """What the dimensions need to know about one submission."""

    submission_id: int
    project: str | None  # SAM project name; most dimensions need one
    version: str  # software version of the stage snapshot
    created: datetime  # launch time: lower bound for its output files
    depth: int = 1  # the stage's output_ancestor_depth
    dataset: str | None = None  # the input dataset (submission_params.dataset)


# ---- building blocks -------------------------------------------------------------------


def clean_dims(dims: str) -> str:
    """Remove the no-op fragments (``file_name '%' and``, ``__located__`` unions)."""
    for fragment in _NO_OPS:
        dims = dims.replace(fragment, "")
    return dims.strip()


def quoted(text: str) -> str:
    """A value in single quotes; SAM has no escape for a quote inside one."""
    if "'" in text or "\n" in text:
        raise DimsError(f"{text!r} cannot be used in a SAM dimension (quote or line break)")
    return f"'{text}'"


def value(text: str) -> str:
    """A value bare when SAM reads it as one word, else quoted."""
    if not text:
        raise DimsError("an empty value cannot be used in a SAM dimension")
    bare = _BARE.fullmatch(text) and text.lower() not in _OPERATORS
    return text if bare else quoted(text)


def name(text: str | None, what: str = "definition") -> str:
    """A SAM definition, project or user name, checked so it cannot alter the dimension."""
    if not text or not _NAME.fullmatch(text):
        raise DimsError(
            f"SAM {what} name {text!r} must be non-empty letters, digits and _ . - + @ only"
        )
    return text


def iso(moment: datetime) -> str:
    """ISO-8601 with offset, to the second; naive times are UTC (as POMS stores them)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.isoformat(timespec="seconds")


def epoch_iso(seconds: int) -> str:
    return iso(datetime.fromtimestamp(seconds, UTC))


def nest(operator: str, inner: str, depth: int) -> str:
    """Wrap ``inner`` in ``isparentof:( … )`` / ``ischildof:( … )`` ``depth`` times."""
    if depth < 1:
        raise DimsError(f"output_ancestor_depth must be at least 1, got {depth}")
    for _ in range(depth):
        inner = f"{operator}:( {inner} )"
    return inner


def patterns_of(patterns: str | Sequence[str] | None) -> list[str]:
    """A comma list or a sequence of output patterns; empty means every file (``%``)."""
    if patterns is None or isinstance(patterns, str):
        return list(split_patterns(patterns))
    items = [p.strip() or "%" for p in patterns]
    return items or ["%"]


def pattern_fragment(pattern: str, *, like: bool) -> str:
    """``file_name <p>`` (or ``file_name like '<p>'``); a pattern with a blank is used raw."""
    text = pattern.strip() or "%"
    if " " in text:
        return text
    return f"file_name like {quoted(text)}" if like else f"file_name {value(text)}"


def any_pattern(patterns: str | Sequence[str] | None) -> str:
    """A file matching one of the patterns (like-form); several are OR-ed in parentheses."""
    fragments = [pattern_fragment(p, like=True) for p in patterns_of(patterns)]
    return fragments[0] if len(fragments) == 1 else "( " + " or ".join(fragments) + " )"


# ---- datasets ------------------------------------------------------------------------------


def dataset_dims(dataset: str) -> str:
    """A port dataset: ``files:<LIKE>`` becomes a file-name query, anything else a definition."""
    if dataset.startswith(FILES_PREFIX):
        return f"file_name like {quoted(dataset[len(FILES_PREFIX) :].strip() or '%')}"
    return f"defname:{name(dataset.strip())}"


def snapshot_dims(snapshot_id: int) -> str:
    return f"snapshot_id {int(snapshot_id)}"


def file_list_dims(file_names: Sequence[str]) -> str:
    """Exactly the named files, sorted (no names: a name no file has)."""
    if not file_names:
        return NO_FILES
    return "file_name " + ",".join(value(n) for n in sorted(set(file_names)))


def created_between(base: str, after: int, until: int | None = None) -> str:
    """Files of ``base`` created in (``after``, ``until``] (epoch seconds)."""
    dims = f"( {base} ) and create_date > {quoted(epoch_iso(after))}"
    return dims if until is None else f"{dims} and create_date <= {quoted(epoch_iso(until))}"


def run_dims(base: str, run: int) -> str:
    return f"( {base} ) and run_number {int(run)}"


def without_datasets(base: str, datasets: Sequence[str]) -> str:
    """``base`` minus every file of the given datasets."""
    if not datasets:
        return base
    taken = " or ".join(dataset_dims(d) for d in datasets)
    return f"( {base} ) minus ( {taken} )"


# ---- located checks (§3.4) ---------------------------------------------------------------


def located_check_dims(sub: SamSubmission, patterns: str | Sequence[str] | None) -> str:
    """Input files of the project with located descendants matching every output pattern."""
    parts = [f"snapshot_for_project_name {name(sub.project, 'project')}"]
    previous = None
    for pattern in patterns_of(patterns):
        if pattern == previous:  # consecutive duplicates add nothing
            continue
        previous = pattern
        inner = (
            f"{pattern_fragment(pattern, like=False)} and version {quoted(sub.version)}"
            f" and create_date > {quoted(iso(sub.created))} with availability physical"
        )
        parts.append(nest("isparentof", inner, sub.depth))
    return " and ".join(parts)


def no_project_check_dims(submission_id: int, analysis_user: str | None = None) -> str:
    """The dependency definition the jobs of a project-less submission declared themselves."""
    return f"defname:{dependency_name(submission_id, 1, analysis_user)}"


# ---- dependency definitions (§3.6, §3.7) --------------------------------------------------


def dependency_name(submission_id: int, index: int, analysis_user: str | None = None) -> str:
    """``poms_depends_<SID>_<i>``; analysis stages ``poms_<user>_depends_<SID>_<i>``."""
    if submission_id < 1 or index < 1:
        raise DimsError(f"submission id and index must be positive, got {submission_id}, {index}")
    owner = f"poms_{name(analysis_user, 'user')}" if analysis_user else "poms"
    return f"{owner}_depends_{submission_id}_{index}"


def dependency_dims(
    sub: SamSubmission, *, stage_type: str, file_patterns: str | None, dname: str
) -> str | None:
    """The output of ``sub`` a downstream stage consumes; None when POMS defines nothing.

    Generator stages and submissions without a project declare the definition themselves.
    Several comma-separated patterns are OR-ed (the reference used the whole list as one
    pattern, which matched nothing).
    """
    if stage_type == "generator" or not sub.project:
        return None
    if stage_type in PASS_THROUGH_STAGES:
        base = dataset_dims(sub.dataset or dname)
    else:
        inputs = f"snapshot_for_project_name {name(sub.project, 'project')}"
        base = (
            nest("ischildof", inputs, sub.depth)
            + f" and version {value(sub.version)} and create_date > {quoted(iso(sub.created))}"
        )
    return f"{base} and {any_pattern(file_patterns)}"


def pass_through_definitions(
    submission_id: int, downstream: int, input_dataset: str, analysis_user: str | None = None
) -> list[tuple[str, str]]:
    """Approval/data-transfer output: each dependency definition is the input, unchanged."""
    dims = dataset_dims(input_dataset)
    return [
        (dependency_name(submission_id, i, analysis_user), dims) for i in range(1, downstream + 1)
    ]


# ---- recovery (§4.2, §4.5) ---------------------------------------------------------------


def recovery_definition_name(submission_id: int, position: int, token: str | None = None) -> str:
    """``poms_recover_<uuid>_<SID>_<position>``; ``token`` replaces the random uuid."""
    if submission_id < 1 or position < 0:
        raise DimsError(f"bad recovery name inputs: submission {submission_id}, {position}")
    return recovery_dataset_name(name(token or uuid.uuid4().hex, "token"), submission_id, position)


def process_status_dims(project: str, sam_answer: str | None) -> str | None:
    """SAM's own recovery dimension with "consumed" widened to consumed-or-completed.

    ``sam_answer`` None means the call failed: recover what the project did not consume.
    An empty answer means SAM found nothing to recover.
    """
    if sam_answer is None:
        return _unconsumed(name(project, "project"))
    text = sam_answer.strip()
    return _SAM_CONSUMED.sub("consumed_status 'co%'", text) if text else None


def recovery_dims(
    recovery_type: str,
    sub: SamSubmission,
    *,
    output_patterns: str | Sequence[str] | None = None,
    sam_answer: str | None = None,
    project_dataset: str | None = None,
) -> str | None:
    """The files a recovery of ``sub`` should process; None when there is nothing to do.

    ``sam_answer`` is SAM's recovery_dimensions text (process_status only);
    ``project_dataset`` the project's definition, used by added_files when the
    submission does not record its dataset.
    """
    kind = recovery_kind(recovery_type)
    project = name(sub.project, "project") if sub.project else None
    if project is None:
        raise DimsError(f"recovery type {kind} needs the submission's SAM project")
    if kind == "process_status":
        return process_status_dims(project, sam_answer)
    if kind == "added_files":
        dataset = sub.dataset or project_dataset
        if not dataset:
            raise DimsError("added_files needs the submission's dataset or the project's")
        return f"{dataset_dims(dataset)} minus snapshot_for_project_name {project}"
    if kind == "delivered_not_consumed":
        return f"project_name {project} and consumed_status {NOT_CONSUMED}"
    if kind == "pending_files":
        return (
            f"snapshot_for_project_name {project} minus ( {_has_children(sub, output_patterns)} )"
        )
    return f"snapshot_for_project_name {project} minus ( {_consumed(project)} )"


def _consumed(project: str) -> str:
    return f"project_name {project} and consumed_status co%"


def _unconsumed(project: str) -> str:
    return f"project_name {project} minus ( {_consumed(project)} )"


def _has_children(sub: SamSubmission, patterns: str | Sequence[str] | None) -> str:
    """Files with descendants of this version for every output pattern."""
    created = quoted(iso(sub.created))
    parts = [
        nest(
            "isparentof",
            f"version {value(sub.version)} and {pattern_fragment(p, like=True)}"
            f" and create_date > {created}",
            sub.depth,
        )
        for p in patterns_of(patterns)
    ]
    return " and ".join(parts)
