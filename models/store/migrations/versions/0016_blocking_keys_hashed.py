"""Blocking keys kept as 64-bit hashes; what a stored row's comparison reads back, as text

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 19:00:00

``opportunityblock.key`` was the key's text (about 25 characters, 12 keys an opportunity),
written for every new opportunity and probed about 25 times a notice. A key is only ever
compared for equality, so it is now its 64-bit hash (xxh3 of its UTF-8, as a signed
integer: ``listings.key_hashes``). 230,288 real keys of 18,764 opportunities, written and
probed a batch of 1,000 notices at a time: SQLite 0.038 -> 0.022 ms a notice to insert
(WITHOUT ROWID: the primary key is the table) and 0.042 -> 0.031 to probe; PostgreSQL
0.035 -> 0.026 and 0.044 -> 0.029 (its server's CPU 0.063 -> 0.042).

Three kinds of key were read back as text to compare a stored row: the identifiers its
notices publish ("i:..."), the buyer's own reference ("tref:...") and the suppliers of an
award ("sup:..."). Those values move to ``opportunityref`` (the "i:" keys are probed too, so
they stay in ``opportunityblock`` as hashes); "tref:" and "sup:" were never probed and
leave ``opportunityblock``.

The upgrade hashes the stored keys in Python, a slice at a time (230,288 keys of 20,000
notices: 2.0 s on SQLite, 3.4 s on PostgreSQL).

Downgrade: the text of a hashed key cannot be recovered. The table gets its text column
back with the values of ``opportunityref``; the other keys are made again by ``bidbell
reclassify`` (it judges every row's links afresh and writes its keys).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
import xxhash
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_HALF = 1 << 63
_READ = 20_000  # keys read and written at a time
log = logging.getLogger(__name__)


def _hash(key: str) -> int:
    """``listings.key_hashes`` as this migration knows it (a migration keeps its own copy)."""
    return xxhash.xxh3_64_intdigest(key.encode("utf-8")) - _HALF


# SQLite: the primary key is the table (as the models declare it)
WITHOUT_ROWID = {"sqlite_with_rowid": False}


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table(
        "opportunityref",
        sa.Column("opportunity_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(length=160), nullable=False),
        sa.PrimaryKeyConstraint("opportunity_id", "value"),
        **WITHOUT_ROWID,
    )
    bind.execute(
        sa.text(
            "INSERT INTO opportunityref (opportunity_id, value) "
            "SELECT opportunity_id, key FROM opportunityblock "
            "WHERE key LIKE 'i:%' OR key LIKE 'tref:%' OR key LIKE 'sup:%'"
        )
    )
    op.create_table(
        "opportunityblock_hashed",
        sa.Column("key", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("opportunity_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "opportunity_id"),
        **WITHOUT_ROWID,
    )
    insert = sa.text(
        "INSERT INTO opportunityblock_hashed (key, opportunity_id) VALUES (:k, :o) "
        "ON CONFLICT DO NOTHING"  # two keys of one row with one hash: once
    )
    total = bind.execute(sa.text("SELECT count(*) FROM opportunityblock")).scalar_one()
    log.info("0016: hashing %d blocking keys", total)
    last, done = ("", -1), 0
    while True:  # in key order, a slice at a time: memory bounded on a large store
        rows = bind.execute(
            sa.text(
                "SELECT key, opportunity_id FROM opportunityblock "
                "WHERE (key, opportunity_id) > (:k, :o) "  # row values: the index's order
                "AND key NOT LIKE 'tref:%' AND key NOT LIKE 'sup:%' "
                "ORDER BY key, opportunity_id LIMIT :n"
            ),
            {"k": last[0], "o": last[1], "n": _READ},
        ).all()
        if not rows:
            break
        bind.execute(insert, [{"k": _hash(k), "o": o} for k, o in rows])
        last = (rows[-1][0], rows[-1][1])
        done += len(rows)
        if done % 500_000 < _READ:
            log.info("0016: %d of %d blocking keys hashed", done, total)
    op.drop_index("ix_opportunityblock_opportunity_id", table_name="opportunityblock")
    op.drop_table("opportunityblock")
    op.rename_table("opportunityblock_hashed", "opportunityblock")
    if bind.dialect.name == "postgresql":  # the primary key named after the table made
        op.execute("ALTER INDEX opportunityblock_hashed_pkey RENAME TO opportunityblock_pkey")
    op.create_index("ix_opportunityblock_opportunity_id", "opportunityblock", ["opportunity_id"])


def downgrade() -> None:
    op.drop_index("ix_opportunityblock_opportunity_id", table_name="opportunityblock")
    op.drop_table("opportunityblock")
    op.create_table(
        "opportunityblock",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("opportunity_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "opportunity_id"),
    )
    op.create_index("ix_opportunityblock_opportunity_id", "opportunityblock", ["opportunity_id"])
    op.get_bind().execute(
        sa.text(
            "INSERT INTO opportunityblock (key, opportunity_id) "
            "SELECT value, opportunity_id FROM opportunityref"
        )
    )
    op.drop_table("opportunityref")
