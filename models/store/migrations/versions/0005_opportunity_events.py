"""opportunity events

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 06:08:25.877683
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.store.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "opportunityevent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("opportunity_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changes", models.store.types.JSONType(), nullable=False),
        sa.Column("at", models.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunity.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("opportunityevent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_opportunityevent_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_opportunityevent_kind"), ["kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_opportunityevent_opportunity_id"), ["opportunity_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("opportunityevent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_opportunityevent_opportunity_id"))
        batch_op.drop_index(batch_op.f("ix_opportunityevent_kind"))
        batch_op.drop_index(batch_op.f("ix_opportunityevent_at"))

    op.drop_table("opportunityevent")
