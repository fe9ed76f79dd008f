"""PostgreSQL: an opportunity's search vector given by the store's parsing workers, or made
by a trigger

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 17:00:00

``opportunity.search_vector`` was a generated column (0010): PostgreSQL worked out every
new or changed row's vector inside the store's COPY, 0.12 ms a row of the server's time
(most of it the text-search parser reading the description), while the store's writer
waited for it. It is now a plain column kept by a trigger, with the same expression: on
INSERT the trigger makes the vector where none is given; on UPDATE it makes it again when
the title, buyer or description changed. The store's parsing workers ask PostgreSQL for the
vectors of the opportunities they derive (the same expression, on a connection of their
own, while the writer stores earlier batches), and the writer gives them in the COPY. The
title, buyer and description of 18,764 real opportunities copied into a test table took
0.12 ms a row of the server's time with the generated column, 0.02 with the vectors given
(and the trigger's check).

Every other writer (the ORM, updates, ``rebuild_all``) gives no vector, and the trigger
makes it as the generated column did. Existing vectors are kept as they are
(``DROP EXPRESSION``: no rewrite of the table). SQLite: nothing (FTS5, 0010).
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# The expression of 0010 (a migration keeps its own copy), over the row being written.
PG_VECTOR = (
    "setweight(to_tsvector('english', coalesce({r}title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce({r}buyer_name, '')), 'B') || "
    "setweight(to_tsvector('english', coalesce({r}description, '')), 'C')"
)

TRIGGER_FUNCTION = f"""
CREATE OR REPLACE FUNCTION opportunity_search_vector() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.search_vector IS NULL THEN
            NEW.search_vector := {PG_VECTOR.format(r="NEW.")};
        END IF;
    ELSIF NEW.title IS DISTINCT FROM OLD.title
        OR NEW.buyer_name IS DISTINCT FROM OLD.buyer_name
        OR NEW.description IS DISTINCT FROM OLD.description
        OR NEW.search_vector IS NULL THEN
        NEW.search_vector := {PG_VECTOR.format(r="NEW.")};
    END IF;
    RETURN NEW;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE opportunity ALTER COLUMN search_vector DROP EXPRESSION")
    op.execute(TRIGGER_FUNCTION)
    op.execute(
        "CREATE TRIGGER opportunity_search_vector BEFORE INSERT OR UPDATE ON opportunity "
        "FOR EACH ROW EXECUTE FUNCTION opportunity_search_vector()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS opportunity_search_vector ON opportunity")
    op.execute("DROP FUNCTION IF EXISTS opportunity_search_vector()")
    op.execute("DROP INDEX IF EXISTS ix_opportunity_search_vector")
    op.execute("ALTER TABLE opportunity DROP COLUMN IF EXISTS search_vector")
    op.execute(
        "ALTER TABLE opportunity ADD COLUMN search_vector tsvector "
        f"GENERATED ALWAYS AS ({PG_VECTOR.format(r='')}) STORED"
    )
    op.execute("CREATE INDEX ix_opportunity_search_vector ON opportunity USING gin (search_vector)")
