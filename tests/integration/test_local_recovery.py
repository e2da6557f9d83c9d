"""Recovery file sets from the local catalog, one case per recovery type (reference §4.2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from poms_shared.catalog.facts import submission_facts
from poms_shared.catalog.local import LocalCatalog
from poms_shared.catalog.local_recovery import query_for, recovery_files
from poms_shared.db.models import CampaignStage
from poms_shared.db.session import Database
from poms_shared.db.tables import (
    Dataset,
    DatasetFile,
    File,
    FileParent,
    Job,
    Submission,
    SubmissionFile,
)
from poms_shared.demo.load import load_samples
from poms_shared.domain.recovery import RECOVERY_TYPES, recovery_kind
from poms_shared.domain.statuses import JobState, SubmissionStatus

# input → (status, job state of the reporting job or None, child: "located"/"lost"/"old"/None)
INPUTS = {
    "in_a": ("consumed", JobState.COMPLETED, "located"),
    "in_b": ("consumed", JobState.FAILED, "located"),  # consumed by a job that failed
    "in_c": ("failed", JobState.FAILED, None),
    "in_d": ("delivered", None, None),  # never touched
    "in_e": ("skipped", JobState.COMPLETED, None),
    "in_f": ("consumed", JobState.COMPLETED, "lost"),  # its output never located
    "in_g": ("consumed", JobState.COMPLETED, "other_version"),
}


@pytest.fixture
def submission_id(database: Database) -> int:
    now = datetime.now(UTC)
    with database.transaction() as session:
        load_samples(session)
        stage = session.scalars(
            select(CampaignStage).where(CampaignStage.name == "simulate")
        ).one()  # software_version v1_0, output patterns %.root
        sub = Submission(
            campaign_stage_id=stage.campaign_stage_id,
            launcher="poms",
            status_id=int(SubmissionStatus.LOCATED),
            submission_params={"dataset": "raw_inputs"},
            created=now - timedelta(hours=1),
        )
        session.add(sub)
        session.flush()
        dataset = Dataset(experiment="demo", name="raw_inputs")
        session.add(dataset)
        session.flush()
        for index, (name, (status, job_state, child)) in enumerate(INPUTS.items()):
            job_id = None
            if job_state is not None:
                job = Job(
                    submission_id=sub.submission_id,
                    backend="local",
                    batch_job_id=f"1.{index}@local",
                    state=int(job_state),
                    exit_code=0 if job_state == JobState.COMPLETED else 1,
                )
                session.add(job)
                session.flush()
                job_id = job.job_id
            inp = File(experiment="demo", name=name, location="/data")
            session.add(inp)
            session.flush()
            session.add(DatasetFile(dataset_id=dataset.dataset_id, file_id=inp.file_id))
            session.add(
                SubmissionFile(
                    submission_id=sub.submission_id,
                    file_id=inp.file_id,
                    status=status,
                    job_id=job_id,
                )
            )
            if child is not None:
                out = File(
                    experiment="demo",
                    name=f"out_{name}.root",
                    location=None if child == "lost" else "/out",
                    software_version="v0_9" if child == "other_version" else "v1_0",
                    producing_submission_id=sub.submission_id,
                )
                session.add(out)
                session.flush()
                session.add(FileParent(file_id=out.file_id, parent_file_id=inp.file_id))
        late = File(experiment="demo", name="in_z_added_later", location="/data")
        session.add(late)
        session.flush()
        session.add(DatasetFile(dataset_id=dataset.dataset_id, file_id=late.file_id))
        return sub.submission_id


@pytest.mark.parametrize(
    ("recovery_type", "expected"),
    [
        ("consumed_status", ["in_c", "in_d", "in_e"]),
        ("process_status", ["in_b", "in_c", "in_d", "in_e"]),
        ("proj_status", ["in_b", "in_c", "in_d", "in_e"]),  # the old name
        ("delivered_not_consumed", ["in_d", "in_e"]),
        ("pending_files", ["in_c", "in_d", "in_e", "in_f", "in_g"]),
        ("added_files", ["in_z_added_later"]),
        ("something_else", ["in_c", "in_d", "in_e"]),  # unknown: consumed_status
    ],
)
def test_each_recovery_type_selects_its_files(database, submission_id, recovery_type, expected):
    with database.transaction() as session:
        sub = session.get(Submission, submission_id)
        assert sub is not None
        assert recovery_files(session, query_for(sub, recovery_type)) == expected


@pytest.mark.parametrize("recovery_type", [*RECOVERY_TYPES, "proj_status", "something_else"])
def test_the_local_adapter_answers_the_port_with_the_same_sets(
    database, submission_id, recovery_type
):
    with database.transaction() as session:
        sub = session.get(Submission, submission_id)
        assert sub is not None
        found = LocalCatalog(session).recovery_set(submission_facts(sub), recovery_type)
        assert list(found.files) == recovery_files(session, query_for(sub, recovery_type))
        assert (found.query, found.note) == ("", "")


def test_unknown_types_are_treated_as_consumed_status():
    assert recovery_kind("proj_status") == "process_status"
    assert recovery_kind(" pending_files ") == "pending_files"
    assert recovery_kind("nonsense") == "consumed_status"
