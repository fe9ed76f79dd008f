"""classification columns

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 06:06:45.522183
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("opportunity", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "value_band",
                sqlmodel.sql.sqltypes.AutoString(length=32),
                nullable=False,
                server_default="not_stated",
            )
        )
        batch_op.add_column(
            sa.Column("lot_band", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "sectors",
                models.store.types.JSONType(),
                nullable=False,
                server_default=sa.text("'[]'"),
            )
        )
        batch_op.add_column(
            sa.Column(
                "areas",
                models.store.types.JSONType(),
                nullable=False,
                server_default=sa.text("'[]'"),
            )
        )
        batch_op.add_column(
            sa.Column("work_in_kent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("buyer_in_kent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("fit_score", sa.Integer(), nullable=False, server_default="50")
        )
        batch_op.add_column(
            sa.Column(
                "fit_reasons",
                models.store.types.JSONType(),
                nullable=False,
                server_default=sa.text("'[]'"),
            )
        )
        batch_op.create_index(batch_op.f("ix_opportunity_value_band"), ["value_band"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("opportunity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_opportunity_value_band"))
        batch_op.drop_column("fit_reasons")
        batch_op.drop_column("fit_score")
        batch_op.drop_column("buyer_in_kent")
        batch_op.drop_column("work_in_kent")
        batch_op.drop_column("areas")
        batch_op.drop_column("sectors")
        batch_op.drop_column("lot_band")
        batch_op.drop_column("value_band")
