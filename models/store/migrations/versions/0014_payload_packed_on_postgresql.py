"""PostgreSQL: notice payloads kept as lz4 frames packed by the store (bytea, not compressed again)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 14:00:00

SQLite has kept each payload as the JSON text in an lz4 frame, packed by the store's
parsing workers (``types.PayloadJSON``; no migration there: a SQLite column takes bytes
whatever its declared type). PostgreSQL now keeps the same
frames: ``notice.payload`` becomes ``bytea`` with ``STORAGE EXTERNAL`` (out of line, not
compressed a second time). As ``json`` the server checked every payload's syntax and
compressed it with lz4 itself: COPY of 5,000 real payloads (7.4 kB of text, 3.3 kB
packed) took 0.038 ms a row of the server's time and 0.023 ms of the writer's (encoding the
text to send it), against 0.009 and 0.002 packed. Nothing queries inside a payload; the
store reads it whole, to normalise it again.

Payloads stored before stay as their JSON text (converted to its UTF-8 bytes, compressed by
the server as they were); ``types.unpack_json`` reads both. Changing the type rewrites the
table (a lock on ``notice`` for the time it takes: plan it on a large store). Downgrading
unpacks the frames (in the migration's process) before the column is json again.
"""

from __future__ import annotations

import lz4.frame
from alembic import op
from sqlalchemy import text

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

LZ4_MAGIC = b"\x04\x22\x4d\x18"  # as types.LZ4_MAGIC (a migration keeps its own copy)
BATCH = 1000


def _lz4_available() -> bool:
    q = text(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    )
    return bool(op.get_bind().execute(q).scalar())


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite keeps what it has (frames, and text stored before)
    op.execute(
        "ALTER TABLE notice ALTER COLUMN payload TYPE bytea USING convert_to(payload::text, 'UTF8')"
    )
    op.execute("ALTER TABLE notice ALTER COLUMN payload SET STORAGE EXTERNAL")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    # The frames unpacked a batch at a time (PostgreSQL cannot read lz4 frames itself).
    last = 0
    while True:
        rows = bind.execute(
            text(
                "SELECT id, payload FROM notice WHERE id > :last "
                "AND substring(payload from 1 for 4) = :magic ORDER BY id LIMIT :n"
            ),
            {"last": last, "magic": LZ4_MAGIC, "n": BATCH},
        ).all()
        if not rows:
            break
        bind.execute(
            text("UPDATE notice SET payload = :p WHERE id = :id"),
            [{"id": i, "p": lz4.frame.decompress(bytes(p))} for i, p in rows],
        )
        last = rows[-1][0]
    op.execute("ALTER TABLE notice ALTER COLUMN payload SET STORAGE EXTENDED")
    op.execute(
        "ALTER TABLE notice ALTER COLUMN payload TYPE json "
        "USING convert_from(payload, 'UTF8')::json"
    )
    if _lz4_available():  # a new type is a new column: its compression set again (as 0013)
        op.execute("ALTER TABLE notice ALTER COLUMN payload SET COMPRESSION lz4")
