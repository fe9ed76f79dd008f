"""The one place where SQL dialects differ: INSERT ... ON CONFLICT for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel


def _insert(session: Session, model: type[SQLModel]) -> Any:
    bind = session.get_bind()
    name = bind.dialect.name
    table = model.__table__  # type: ignore[attr-defined]
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upsert is not implemented for the {name} dialect")


def upsert(
    session: Session,
    model: type[SQLModel],
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str] | None = None,
) -> None:
    """Insert rows; on a key conflict update the ``update`` columns (or do nothing if None)."""
    if not rows:
        return
    stmt = _insert(session, model)
    if update:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: stmt.excluded[c] for c in update}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    session.execute(stmt, list(rows))


def insert_ignore_count(
    session: Session, model: type[SQLModel], rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> int:
    """Insert rows that do not exist yet; return how many were inserted."""
    if not rows:
        return 0
    stmt = _insert(session, model).on_conflict_do_nothing(index_elements=list(keys))
    stmt = stmt.returning(model.__table__.c.id)  # type: ignore[attr-defined]
    inserted = 0
    for row in rows:  # RETURNING with executemany is not portable; rows here are few
        inserted += len(session.execute(stmt.values(**row)).all())
    return inserted
