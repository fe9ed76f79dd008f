"""PostgreSQL: notice payloads as json text; blocking keys without a foreign key

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 16:30:00

Two costs of the PostgreSQL server's side of storing a notice, measured on 10,000 notices
(the server's CPU time a notice, read from /proc for its backend):

- ``notice.payload`` was JSONB: every payload (about 7 kB) parsed into the binary form on
  the way in, and nothing ever queries inside it (the store reads a payload whole, to
  normalise it again). As ``json`` it is kept as the text the store wrote (sorted keys, as
  on SQLite). COPY of 5,000 real payloads: 0.090 ms a row of server time as JSONB, 0.045 as
  json. The column keeps lz4 compression (0012) where the server has it.
- ``opportunityblock.opportunity_id`` referenced ``opportunity.id``: a lookup per key row
  (about 12 a notice) to check it, 0.06 ms a notice. The keys are derived data, written
  only by the store for the rows it has just inserted or read; opportunities are never
  deleted. The index on the column stays.

Both together: server time 0.377 -> 0.277 ms a notice. SQLite gained nothing measurable
from the foreign key's removal (it goes there too, so the schema is the same on both).
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

FK = "opportunityblock_opportunity_id_fkey"  # PostgreSQL's name for it (unnamed in 0006)
# SQLite's reflected foreign keys have no name: batch mode names them by this convention.
NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _lz4_available() -> bool:
    q = text(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    )
    return bool(op.get_bind().execute(q).scalar())


def _payload_type(kind: str) -> None:
    op.execute(f"ALTER TABLE notice ALTER COLUMN payload TYPE {kind} USING payload::{kind}")
    if _lz4_available():  # a new type is a new column: its compression set again
        op.execute("ALTER TABLE notice ALTER COLUMN payload SET COMPRESSION lz4")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _payload_type("json")
        op.drop_constraint(FK, "opportunityblock", type_="foreignkey")
        return
    with op.batch_alter_table(
        "opportunityblock", recreate="always", naming_convention=NAMES
    ) as batch:
        batch.drop_constraint("fk_opportunityblock_opportunity_id_opportunity", type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _payload_type("jsonb")
        op.create_foreign_key(FK, "opportunityblock", "opportunity", ["opportunity_id"], ["id"])
        return
    with op.batch_alter_table("opportunityblock", recreate="always") as batch:
        batch.create_foreign_key(
            "fk_opportunityblock_opportunity_id_opportunity",
            "opportunity",
            ["opportunity_id"],
            ["id"],
        )
