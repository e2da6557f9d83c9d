"""Reads what a launch needs and records what it did."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from poms_launcher.domain.compose import LaunchIdentity, LaunchSpec, to_pairs
from poms_shared.db.tables import Dataset, DatasetFile, File, Submission, SubmissionFile


@dataclass(frozen=True)
class LaunchContext:
    """Values copied out of the rows, so the long-running launch holds no session."""

    spec: LaunchSpec
    identity: LaunchIdentity
    dataset: str
    version: str
    login_host: str
    login_account: str
    login_setup: str
    input_files: tuple[str, ...]
    vo_role: str = "Production"


def lock_submission(session: Session, submission_id: int) -> Submission:
    query = (
        select(Submission)
        .where(Submission.submission_id == submission_id)
        .with_for_update(of=Submission)
    )
    submission = session.scalar(query)
    if submission is None:
        raise LookupError(f"submission {submission_id} does not exist")
    return submission


def launch_context(session: Session, submission: Submission) -> LaunchContext:
    """Assemble the composition inputs for a submission."""
    stage = submission.stage
    campaign = stage.campaign
    params = submission.submission_params
    test = bool(params.get("test")) or bool(campaign and campaign.campaign_type == "test")
    defaults = (campaign.defaults or {}) if campaign else {}
    spec = LaunchSpec(
        launch_script=stage.job_type.launch_script,
        definition_parameters=to_pairs(stage.job_type.definition_parameters, "job type parameters"),
        stage_overrides=to_pairs(stage.param_overrides, "stage param_overrides"),
        campaign_default_overrides=to_pairs(
            defaults.get("param_overrides"), "campaign default param_overrides"
        ),
        merge_overrides=stage.merge_overrides,
        test=test,
        test_overrides=to_pairs(stage.test_param_overrides, "stage test_param_overrides"),
        extra_overrides=to_pairs(params.get("param_overrides"), "launch param_overrides"),
        keywords={
            k: str(v) for k, v in ((campaign.campaign_keywords if campaign else {}) or {}).items()
        },
    )
    identity = LaunchIdentity(
        submission_id=submission.submission_id,
        stage_id=stage.campaign_stage_id,
        stage_name=stage.name,
        stage_type=stage.campaign_stage_type,
        campaign_id=stage.campaign_id,
        campaign_name=campaign.name if campaign else stage.name,
        job_type_id=stage.job_type_id,
        launcher=submission.launcher,
        experiment=stage.experiment,
        test=test,
        parent_submission_id=submission.recovery_parent_id,
    )
    dataset = str(params.get("dataset") or "")
    return LaunchContext(
        spec=spec,
        identity=identity,
        dataset=dataset,
        version=stage.software_version,
        login_host=stage.login_setup.launch_host,
        login_account=stage.login_setup.launch_account,
        login_setup=stage.login_setup.launch_setup,
        input_files=tuple(_register_inputs(session, submission, stage.experiment, dataset)),
        vo_role=stage.vo_role or "Production",
    )


def _register_inputs(
    session: Session, submission: Submission, experiment: str, dataset: str
) -> list[str]:
    """Files of a named local dataset become the submission's delivered inputs."""
    ds = session.scalar(
        select(Dataset).where(Dataset.experiment == experiment, Dataset.name == dataset)
    )
    if ds is None:
        return []
    files = list(
        session.scalars(
            select(File)
            .join(DatasetFile, DatasetFile.file_id == File.file_id)
            .where(DatasetFile.dataset_id == ds.dataset_id)
            .order_by(File.name)
        )
    )
    known = set(
        session.scalars(
            select(SubmissionFile.file_id).where(
                SubmissionFile.submission_id == submission.submission_id
            )
        )
    )
    session.add_all(
        SubmissionFile(submission_id=submission.submission_id, file_id=f.file_id)
        for f in files
        if f.file_id not in known
    )
    return [f.location or f.name for f in files]


def write_file_list(path: Path, files: tuple[str, ...]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{f}\n" for f in files))
    return path
