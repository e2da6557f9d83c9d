"""audit entries record their experiment

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("experiment", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_log_experiment"), ["experiment"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_experiment"))
        batch_op.drop_column("experiment")
