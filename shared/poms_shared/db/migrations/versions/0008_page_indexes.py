"""indexes behind the submission page at scale

A submission's jobs are read in id order a page at a time: (submission_id, job_id) takes
the place of the index on submission_id alone, so the jobs table keeps as many indexes.
Recoveries (recovery_parent_id) and launches on a submission's output (the ``parent``
launch parameter) are found by index instead of a scan of every submission.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

submissions = sa.table("submissions", sa.column("submission_params", sa.JSON()))


def upgrade() -> None:
    op.create_index("ix_jobs_submission_id_job_id", "jobs", ["submission_id", "job_id"])
    op.drop_index("ix_jobs_submission_id", table_name="jobs")
    op.create_index(
        "ix_submissions_recovery_parent_id", "submissions", ["recovery_parent_id"]
    )
    parent = submissions.c.submission_params["parent"].as_integer()
    op.create_index("ix_submissions_parent", "submissions", [parent])


def downgrade() -> None:
    op.drop_index("ix_submissions_parent", table_name="submissions")
    op.drop_index("ix_submissions_recovery_parent_id", table_name="submissions")
    op.create_index("ix_jobs_submission_id", "jobs", ["submission_id"])
    op.drop_index("ix_jobs_submission_id_job_id", table_name="jobs")
