"""jobs record where they ran and what they used

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 11:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = (
    ("site", sa.Text()),
    ("cpu_seconds", sa.Float()),
    ("wall_seconds", sa.Float()),
    ("memory_mb", sa.Integer()),
    ("memory_requested_mb", sa.Integer()),
)


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        for name, kind in COLUMNS:
            batch_op.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        for name, _kind in reversed(COLUMNS):
            batch_op.drop_column(name)
