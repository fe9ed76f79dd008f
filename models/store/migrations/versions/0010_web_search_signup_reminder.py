"""the web front: full-text search over opportunities (SQLite FTS5 table kept by triggers;
PostgreSQL tsvector column + GIN index), organisation confirmation state (double opt-in),
organisation and profile ids never reused on SQLite (reminders are delivery's table, 0009)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 09:00:00

Full text covers an opportunity's title (weight A), buyer (B) and description (C), stemmed
in English on both databases (FTS5's porter tokenizer; PostgreSQL's 'english' configuration),
so "cater" finds "catering" on either. The index follows the opportunity table by itself:
SQLite triggers on insert, update and delete; on PostgreSQL a generated column. NOTE for a
later migration: Alembic's batch mode re-creates a SQLite table to alter it, which drops its
triggers: after batch-altering ``opportunity``, call ``create_sqlite_fts`` again (it
rebuilds the index too).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.store.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

FTS_COLUMNS = "title, buyer_name, description"
SQLITE_FTS = [
    f"""CREATE VIRTUAL TABLE IF NOT EXISTS opportunity_fts USING fts5(
        {FTS_COLUMNS}, content='opportunity', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    f"""CREATE TRIGGER IF NOT EXISTS opportunity_fts_insert AFTER INSERT ON opportunity BEGIN
        INSERT INTO opportunity_fts(rowid, {FTS_COLUMNS})
        VALUES (new.id, new.title, new.buyer_name, new.description);
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS opportunity_fts_delete AFTER DELETE ON opportunity BEGIN
        INSERT INTO opportunity_fts(opportunity_fts, rowid, {FTS_COLUMNS})
        VALUES ('delete', old.id, old.title, old.buyer_name, old.description);
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS opportunity_fts_update
        AFTER UPDATE OF title, buyer_name, description ON opportunity BEGIN
        INSERT INTO opportunity_fts(opportunity_fts, rowid, {FTS_COLUMNS})
        VALUES ('delete', old.id, old.title, old.buyer_name, old.description);
        INSERT INTO opportunity_fts(rowid, {FTS_COLUMNS})
        VALUES (new.id, new.title, new.buyer_name, new.description);
    END""",
    "INSERT INTO opportunity_fts(opportunity_fts) VALUES ('rebuild')",
]
PG_VECTOR = (
    "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(buyer_name, '')), 'B') || "
    "setweight(to_tsvector('english', coalesce(description, '')), 'C')"
)


def create_sqlite_fts() -> None:
    for statement in SQLITE_FTS:
        op.execute(statement)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        create_sqlite_fts()
    elif dialect == "postgresql":
        op.execute(
            f"ALTER TABLE opportunity ADD COLUMN search_vector tsvector "
            f"GENERATED ALWAYS AS ({PG_VECTOR}) STORED"
        )
        op.execute(
            "CREATE INDEX ix_opportunity_search_vector ON opportunity USING gin (search_vector)"
        )
    # SQLite: organisation and profile ids never used again (AUTOINCREMENT), as PostgreSQL's
    # sequences already ensure: signed links name them by id.
    rebuild = {"recreate": "always", "table_kwargs": {"sqlite_autoincrement": True}}
    sqlite = rebuild if dialect == "sqlite" else {}
    with op.batch_alter_table("profile", schema=None, **sqlite):  # type: ignore[arg-type]
        pass
    with op.batch_alter_table("organisation", schema=None, **sqlite) as batch_op:  # type: ignore[arg-type]
        batch_op.add_column(
            sa.Column(
                "status",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="active",
            )
        )
        batch_op.add_column(
            sa.Column("confirmed_at", models.store.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_organisation_status", ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.drop_index("ix_organisation_status")
        batch_op.drop_column("confirmed_at")
        batch_op.drop_column("status")
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS opportunity_fts_{name}")
        op.execute("DROP TABLE IF EXISTS opportunity_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_opportunity_search_vector")
        op.execute("ALTER TABLE opportunity DROP COLUMN IF EXISTS search_vector")
