"""buyer type, main procurement category, light touch, band basis; OCDS dialect of the
Proactis portals

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("opportunity", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("buyer_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch_op.add_column(
            sa.Column("main_category", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch_op.add_column(sa.Column("light_touch", sa.Boolean(), nullable=True))
        batch_op.add_column(
            sa.Column("band_basis", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True)
        )
    # Public Contracts Scotland and Sell2Wales releases are read in their own OCDS dialect
    # (models.formats.ocds.PROACTIS), named by the record format rather than the OCID.
    op.execute(
        "UPDATE notice SET format = 'ocds-proactis' WHERE format = 'ocds-release' "
        "AND (ocid LIKE 'ocds-r6ebe6-%' OR ocid LIKE 'ocds-kuma6s-%')"
    )


def downgrade() -> None:
    op.execute("UPDATE notice SET format = 'ocds-release' WHERE format = 'ocds-proactis'")
    with op.batch_alter_table("opportunity", schema=None) as batch_op:
        batch_op.drop_column("band_basis")
        batch_op.drop_column("light_touch")
        batch_op.drop_column("main_category")
        batch_op.drop_column("buyer_type")
