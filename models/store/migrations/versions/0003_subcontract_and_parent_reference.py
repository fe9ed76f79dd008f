"""subcontract and parent reference

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 06:03:57.028562
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("opportunity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_subcontract", sa.Boolean(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "parent_reference", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("opportunity", schema=None) as batch_op:
        batch_op.drop_column("parent_reference")
        batch_op.drop_column("is_subcontract")
