"""notice format and source state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 05:59:23.374541
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "format",
                sqlmodel.sql.sqltypes.AutoString(length=32),
                nullable=False,
                server_default="ocds-release",
            )
        )

    with op.batch_alter_table("sourcestate", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "state",
                models.store.types.JSONType(),
                nullable=False,
                server_default=sa.text("'{}'"),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("sourcestate", schema=None) as batch_op:
        batch_op.drop_column("state")

    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.drop_column("format")
