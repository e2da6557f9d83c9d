"""What the catalog is told about a submission, read from its row (services and web share it)."""

from __future__ import annotations

from poms_shared.catalog.port import SubmissionFacts
from poms_shared.db.tables import Submission
from poms_shared.domain.patterns import split_patterns


def submission_facts(submission: Submission) -> SubmissionFacts:
    """The submission, its stage and job type as the catalog port sees them."""
    stage = submission.stage
    params = submission.submission_params or {}
    return SubmissionFacts(
        experiment=stage.experiment,
        submission_id=submission.submission_id,
        created=submission.created,
        version=stage.software_version or "",
        dataset=str(params.get("dataset") or ""),
        output_patterns=split_patterns(stage.job_type.output_file_patterns),
        project=submission.project or None,
        stage_type=stage.campaign_stage_type,
        depth=stage.output_ancestor_depth or 1,
        analysis_user=submission.launcher if stage.creator_role == "analysis" else None,
    )
