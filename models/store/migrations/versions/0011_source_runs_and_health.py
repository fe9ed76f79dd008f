"""orchestration: one row per source run, and the health of each source

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 10:00:00

``sourcerun``: every scheduled or manual collection of a source (started, finished, counts
fetched / new / changed / failed, error, the flow run that did it), read by the health check
(how often a source usually returns something) and the admin page. ``sourcestate`` gains
the health the operator is alerted on: consecutive failed runs, last success, last run that
returned something, and whether the operator has been told of the current outage (so a
broken source raises one alert, not one per run, and one recovery message).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.store.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TS = models.store.types.UTCDateTime
S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "sourcerun",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", S(length=64), nullable=False),
        sa.Column("started_at", TS(timezone=True), nullable=False),
        sa.Column("finished_at", TS(timezone=True), nullable=True),
        sa.Column("fetched", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("new", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("changed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", S(), nullable=True),
        sa.Column("flow_run_id", S(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sourcerun_source_started", "sourcerun", ["source", "started_at"])
    # Plain ADD COLUMN (no batch): SQLite supports it for columns with a default, and the
    # table keeps its rows untouched.
    op.add_column(
        "sourcestate",
        sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("sourcestate", sa.Column("last_nonempty_at", TS(timezone=True), nullable=True))
    op.add_column(
        "sourcestate",
        sa.Column("alerted", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("sourcestate", sa.Column("alerted_at", TS(timezone=True), nullable=True))
    op.add_column("sourcestate", sa.Column("health", S(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sourcestate", schema=None) as batch_op:
        for name in ("health", "alerted_at", "alerted", "last_nonempty_at", "consecutive_failures"):
            batch_op.drop_column(name)
    op.drop_index("ix_sourcerun_source_started", table_name="sourcerun")
    op.drop_table("sourcerun")
