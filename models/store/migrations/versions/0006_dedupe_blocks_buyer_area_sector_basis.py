"""dedupe blocks, buyer area, sector basis

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 08:03:26.402877
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.store.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "opportunityblock",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column("opportunity_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunity.id"],
        ),
        sa.PrimaryKeyConstraint("key", "opportunity_id"),
    )
    with op.batch_alter_table("opportunityblock", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_opportunityblock_opportunity_id"), ["opportunity_id"], unique=False
        )

    with op.batch_alter_table("opportunity", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("buyer_area", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column("sector_basis", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True)
        )
        batch_op.add_column(sa.Column("canonical_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "duplicate_reasons",
                models.store.types.JSONType(),
                nullable=False,
                server_default="[]",
            )
        )
        batch_op.create_index(
            batch_op.f("ix_opportunity_canonical_id"), ["canonical_id"], unique=False
        )
        batch_op.create_foreign_key(
            "fk_opportunity_canonical_id", "opportunity", ["canonical_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("opportunity", schema=None) as batch_op:
        batch_op.drop_constraint("fk_opportunity_canonical_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_opportunity_canonical_id"))
        batch_op.drop_column("duplicate_reasons")
        batch_op.drop_column("canonical_id")
        batch_op.drop_column("sector_basis")
        batch_op.drop_column("buyer_area")

    with op.batch_alter_table("opportunityblock", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_opportunityblock_opportunity_id"))

    op.drop_table("opportunityblock")
