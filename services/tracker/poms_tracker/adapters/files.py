"""Declared files: outputs with their parentage, and what became of the inputs.

Set-based throughout: a declaration of thousands of files costs a handful of statements,
not one per file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from poms_shared.contracts.messages import FilesDeclared
from poms_shared.db.base import utcnow
from poms_shared.db.tables import File, FileParent, Job, Submission, SubmissionFile
from poms_tracker.domain.inputs import at_least, by_status, input_targets
from poms_tracker.metrics import EVENTS_INGESTED, INPUT_UPDATES

log = logging.getLogger(__name__)
CHUNK = 1000  # names per IN list (keeps SQLite under its bound-parameter limit)


def chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def declare_files(session: Session, evt: FilesDeclared) -> set[int]:
    """Record outputs, parents and input statuses; returns the producing submission."""
    job = declaring_job(session, evt)
    sid = producing_submission(session, evt, job)
    known = _files_by_name(
        session, evt.experiment, {f.name for f in evt.files} | _parent_names(evt)
    )
    for declared in evt.files:
        row = known.get(declared.name) or File(experiment=evt.experiment, name=declared.name)
        row.location = declared.location or row.location
        row.size = declared.size if declared.size is not None else row.size
        row.software_version = declared.software_version or row.software_version
        row.file_metadata = {**(row.file_metadata or {}), **declared.metadata}
        row.producing_submission_id = sid or row.producing_submission_id
        row.producing_job_id = job.job_id if job else row.producing_job_id
        session.add(row)
        known[declared.name] = row
    _link_parents(session, evt, known)
    EVENTS_INGESTED.labels("file").inc(len(evt.files))
    EVENTS_INGESTED.labels("input").inc(len(evt.inputs))
    if sid is not None:
        update_inputs(session, sid, evt, job.job_id if job else None)
    return {sid} if sid else set()


def declaring_job(session: Session, evt: FilesDeclared) -> Job | None:
    """The job named by ``batch_job_id`` (the submission's, when ids repeat across backends)."""
    if not evt.batch_job_id:
        return None
    jobs = session.scalars(select(Job).where(Job.batch_job_id == evt.batch_job_id)).all()
    mine = [j for j in jobs if evt.submission_id in (None, j.submission_id)]
    return (mine or list(jobs) or [None])[0]


def producing_submission(session: Session, evt: FilesDeclared, job: Job | None) -> int | None:
    """The submission the files belong to; a submission that does not exist is not one."""
    sid = evt.submission_id or (job.submission_id if job else None)
    if sid is None:
        return None
    # Only the id: loading the row here would hide it from the handler's locking read.
    exists = session.scalar(select(Submission.submission_id).where(Submission.submission_id == sid))
    if exists is None:
        log.warning("files declared for submission %s, which does not exist", sid)
        return job.submission_id if job else None
    return sid


def _parent_names(evt: FilesDeclared) -> set[str]:
    return {p for f in evt.files for p in f.parents}


def _files_by_name(session: Session, experiment: str, names: set[str]) -> dict[str, File]:
    found: dict[str, File] = {}
    for part in chunks(sorted(names)):
        query = select(File).where(File.experiment == experiment, File.name.in_(part))
        found.update((f.name, f) for f in session.scalars(query))
    return found


def _link_parents(session: Session, evt: FilesDeclared, known: dict[str, File]) -> None:
    """Parent links for every output; parents the catalog never saw are recorded unlocated."""
    unseen = sorted(_parent_names(evt) - known.keys())
    strangers = [File(experiment=evt.experiment, name=name) for name in unseen]
    session.add_all(strangers)
    session.flush()  # file ids for the new outputs and parents
    known.update((f.name, f) for f in strangers)
    children = sorted({known[f.name].file_id for f in evt.files if f.parents})
    have: set[tuple[int, int]] = set()
    for start in range(0, len(children), CHUNK):
        query = select(FileParent.file_id, FileParent.parent_file_id).where(
            FileParent.file_id.in_(children[start : start + CHUNK])
        )
        have.update((child, parent) for child, parent in session.execute(query))
    for declared in evt.files:
        child = known[declared.name].file_id
        for parent_name in declared.parents:
            link = (child, known[parent_name].file_id)
            if link not in have:
                session.add(FileParent(file_id=link[0], parent_file_id=link[1]))
                have.add(link)
    session.flush()


def update_inputs(session: Session, sid: int, evt: FilesDeclared, job_id: int | None) -> int:
    """Move the submission's inputs forward: parents of outputs consumed, reports as said.

    One conditional UPDATE per target status: a row already at that status or further is
    not matched, so duplicates and late reports never move an input back, even when two
    trackers apply reports on the same submission at once.
    """
    targets = input_targets(_parent_names(evt), [(r.name, r.status) for r in evt.inputs])
    values: dict[str, object] = {"updated": utcnow()}
    if job_id is not None:
        values["job_id"] = job_id
    moved = 0
    for status, names in by_status(targets).items():
        for part in chunks(names):
            ids = select(File.file_id).where(File.experiment == evt.experiment, File.name.in_(part))
            result = session.execute(
                update(SubmissionFile)
                .where(
                    SubmissionFile.submission_id == sid,
                    SubmissionFile.file_id.in_(ids),
                    SubmissionFile.status.not_in(at_least(status)),
                )
                .values(status=status, **values)
                .execution_options(synchronize_session=False)
            )
            count = int(getattr(result, "rowcount", 0) or 0)
            INPUT_UPDATES.labels(status).inc(count)
            moved += count
    return moved
