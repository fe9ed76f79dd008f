"""The one place where SQL dialects differ: INSERT ... ON CONFLICT for SQLite and PostgreSQL,
and plain-value fast paths through the DB-API (its parameter marks differ)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import repeat
from typing import Any

import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format
from sqlalchemy import (
    JSON,
    ColumnElement,
    Select,
    Text,
    TypeDecorator,
    bindparam,
    cast,
    func,
    insert,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel

from bidbell import jsoncodec
from models.store.types import UTCDateTime, sqlite_utc_text

TSVECTOR_OID = 3614  # PostgreSQL's built-in tsvector type (pg_type)


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
    """Insert rows; on a key conflict update the ``update`` columns (or do nothing if None).
    On SQLite through the DB-API with the values bound as ``insert_rows`` binds them (the
    statement SQLAlchemy would write, without its building of each row's parameters:
    10,000 new notices stored at 2,165/2,262 notices/s through SQLAlchemy, 2,242/2,283 so)."""
    if not rows:
        return
    conn = session.connection()
    bound = _bound_rows(conn, model, rows) if conn.dialect.name == "sqlite" else None
    if bound is not None:
        prep = conn.dialect.identifier_preparer
        tail = f" ON CONFLICT ({', '.join(prep.quote(k) for k in keys)}) DO "
        if update:
            tail += "UPDATE SET " + ", ".join(
                f"{prep.quote(c)} = excluded.{prep.quote(c)}" for c in update
            )
        else:
            tail += "NOTHING"
        _sqlite_insert(conn, model, *bound, tail=tail)
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


class SearchVector(bytes):
    """PostgreSQL's ``opportunity.search_vector`` in its binary form, as the server sent it
    (``tsvector_send``), given to a COPY as it is. The model leaves the column to the
    database (a trigger makes it where none is given: migration 0015)."""


class _SearchVectorDumper(Dumper):
    format = Format.BINARY
    oid = TSVECTOR_OID

    def dump(self, obj: Any) -> bytes:
        return bytes(obj)


psycopg.adapters.register_dumper(SearchVector, _SearchVectorDumper)


def insert_rows(session: Session, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> None:
    """INSERT full rows (dicts of one shape) the fastest way the dialect has, with the
    values bound as ``_bound_rows`` binds them: COPY on PostgreSQL (measured 5x faster
    than executemany for notices), multi-row INSERTs through the DB-API on SQLite
    (``_sqlite_insert``; SQLAlchemy's building of each row's parameters cost more than
    the insert: the opportunities of 10,000 notices 0.126 -> 0.110-0.122 ms a notice).
    Rows SQLAlchemy must bind itself (``_bound_rows``) go through it."""
    if not rows:
        return
    conn = session.connection()
    bound = _bound_rows(conn, model, rows)
    if bound is None:
        session.execute(insert(model.__table__), list(rows))  # type: ignore[attr-defined]
    elif conn.dialect.name == "postgresql":
        _copy(conn, model.__table__, *bound)  # type: ignore[attr-defined]
    else:
        _sqlite_insert(conn, model, *bound)


def _bound_rows(
    conn: Any, model: type[SQLModel], rows: Sequence[dict[str, Any]]
) -> tuple[list[str], Iterator[tuple[Any, ...]]] | None:
    """(columns, each row's values) as SQLAlchemy would bind them: each value through its
    column type, the columns' scalar defaults filled in. None for rows of mixed shapes or
    a table with other defaults: SQLAlchemy binds those itself."""
    table = model.__table__  # type: ignore[attr-defined]
    copy = conn.dialect.name == "postgresql"  # the rows go to COPY there (insert_rows)
    given = list(rows[0])
    missing = [c for c in table.c if c.name not in rows[0] and c.default is not None]
    if any(len(r) != len(given) for r in rows) or any(not c.default.is_scalar for c in missing):
        return None
    columns = given + [c.name for c in missing]
    # Column by column (a list comprehension per column with a processor, zip to rows at
    # the end), not a generator per row: 60-odd values a notice, each through two
    # generator frames (1,000 opportunities' values: 31-32 -> 22-28 ms).
    by_column: list[Iterable[Any]] = []
    for name in given:
        if name not in table.c:  # a column the model leaves to the database: COPY only
            if not copy:
                raise ValueError(f"insert_rows: {table.name} has no column {name!r} here")
            by_column.append([row[name] for row in rows])
            continue
        p = _bind_processor(table.c[name].type, conn.dialect, copy)
        values = [row[name] for row in rows]
        if p is sqlite_utc_text:
            # each distinct time once: a batch's rows share their "now" (stored, first seen,
            # updated, an event's time) and a crawl's fetch times (1.6 us a value)
            texts = {v: p(v) for v in set(values)}
            by_column.append([texts[v] for v in values])
        else:
            by_column.append(values if p is None else [None if v is None else p(v) for v in values])
    for c in missing:
        p = _bind_processor(c.type, conn.dialect, copy)
        v = c.default.arg
        by_column.append(repeat(v if p is None or v is None else p(v), len(rows)))
    return columns, zip(*by_column, strict=True)


def _bind_processor(type_: Any, dialect: Any, copy: bool = False) -> Callable[[Any], Any] | None:
    """How SQLAlchemy binds a value of this column type (None: as it is); UTC timestamps on
    SQLite by ``sqlite_utc_text``, the same text made faster. ``copy``: for PostgreSQL's
    binary COPY (``_copy``), JSON values as they are: the copy's dumper for the column's
    type (jsonb) serialises them with the engine's JSON serialiser, which SQLAlchemy sets
    on psycopg's connections; SQLAlchemy's processor would wrap each in
    ``psycopg.types.json.Json`` first, for the same text through four Python calls instead
    of one (an opportunity's 8 JSON lists). (A notice's payload is no JSON column there: it
    is bound by ``types.PayloadJSON``, packed already.)"""
    if dialect.name == "sqlite" and isinstance(type_, UTCDateTime):
        return sqlite_utc_text
    if copy and _is_json(type_, dialect):
        return None
    proc: Callable[[Any], Any] | None = type_._cached_bind_processor(dialect)
    return proc


def _is_json(type_: Any, dialect: Any) -> bool:
    """Whether a column of this type is JSON on this dialect (a decorated type: its impl)."""
    decorated = isinstance(type_, TypeDecorator)
    return isinstance(type_.load_dialect_impl(dialect) if decorated else type_, JSON)


def _insert_sql(conn: Any, model: type[SQLModel], columns: Sequence[str], rows: int = 1) -> str:
    """``INSERT INTO table (columns) VALUES (marks), ...`` (``rows`` tuples of marks) in the
    DB-API's parameter style."""
    prep = conn.dialect.identifier_preparer
    cols = ", ".join(prep.quote(c) for c in columns)
    marks = "(" + ", ".join([_mark(conn.dialect.paramstyle)] * len(columns)) + ")"
    values = ", ".join([marks] * rows)
    return f"INSERT INTO {prep.format_table(model.__table__)} ({cols}) VALUES {values}"  # type: ignore[attr-defined]


SQLITE_PARAMS = 32_766  # bound parameters a statement may take (SQLite's default since 3.32)


def _sqlite_insert(
    conn: Any,
    model: type[SQLModel],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    tail: str = "",
) -> None:
    """Rows inserted on SQLite as a few multi-row ``INSERT ... VALUES (...), (...)``
    statements (as many rows as a statement's parameters allow), not one execution a row:
    SQLite runs each statement in a savepoint, and the FTS5 index of ``opportunity``
    (migration 0010's triggers) writes its pending terms out as a new segment at every
    savepoint, so one statement a row gave one tiny segment a row to merge later. 9,381
    opportunities inserted 1,000 a transaction: 0.134-0.172 ms a row by executemany,
    0.064-0.071 so (0.030-0.036 without the index)."""
    per = max(1, SQLITE_PARAMS // len(columns))
    rows = list(rows)
    flat: list[Any] = []
    for start in range(0, len(rows), per):
        part = rows[start : start + per]
        flat.clear()
        for r in part:
            flat.extend(r)
        conn.exec_driver_sql(_insert_sql(conn, model, columns, len(part)) + tail, tuple(flat))


def _copy(conn: Any, table: Any, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """PostgreSQL's COPY FROM STDIN of these rows, in the binary format: each value dumped
    by the driver for its column's type as the table has it (read from the server), so
    neither side writes or parses text: no escaping of a 7 kB payload here, no parsing of
    it, nor of timestamps and numbers, by the server. 10,000 notices: 0.027-0.036 ->
    0.015-0.019 ms a row here, 0.100-0.117 -> 0.062-0.075 ms of the server's time."""
    prep = conn.dialect.identifier_preparer
    name = prep.format_table(table)
    cols = ", ".join(prep.quote(c) for c in columns)
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(f"SELECT {cols} FROM {name} LIMIT 0")
        types = [c.type_code for c in cursor.description]
        with cursor.copy(f"COPY {name} ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
    finally:
        cursor.close()


def next_ids(session: Session, model: type[SQLModel], n: int) -> list[int]:
    """The ids the next ``n`` rows inserted into this table without one would get, in order,
    taken now (rows then inserted with them, by ``insert_rows``). PostgreSQL: from the
    id's sequence (no other writer gets them). SQLite: after the largest id, as SQLite
    gives a rowid (no AUTOINCREMENT on these tables), in a transaction that has written
    already, so no other writer can insert before it commits."""
    if n <= 0:
        return []
    table = model.__table__  # type: ignore[attr-defined]
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        got = conn.execute(
            text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table.name, "n": n},
        ).scalars()
        return sorted(got)
    if table.dialect_options["sqlite"].get("autoincrement"):
        raise ValueError(f"next_ids: {table.name} is AUTOINCREMENT on SQLite")
    top = conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {table.name}")).scalar_one()
    return list(range(int(top) + 1, int(top) + 1 + n))


def update_rows(session: Session, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> None:
    """``UPDATE table SET column = value, ... WHERE id = value`` for each row (dicts of one
    shape holding ``id``), the values bound by their column types as ``insert_rows`` binds
    them, through the DB-API: SQLAlchemy's executemany of an ``update()`` built each row's
    parameters (the links of 10,000 near-duplicates: a tenth of the writer's time). On
    SQLite one ``UPDATE ... FROM (VALUES ...)`` statement for as many rows as its
    parameters allow, as ``_sqlite_insert`` (a statement a row would also write the FTS5
    index of a changed title out a row at a time); executemany on PostgreSQL."""
    if not rows:
        return
    conn = session.connection()
    table = model.__table__  # type: ignore[attr-defined]
    columns = [c for c in rows[0] if c != "id"]
    if any(len(r) != len(columns) + 1 for r in rows):
        raise ValueError(f"update_rows: rows of {table.name} of mixed shapes")
    procs = [_bind_processor(table.c[c].type, conn.dialect) for c in columns]
    values = [
        (
            r["id"],
            *(
                v if p is None or v is None else p(v)
                for v, p in zip(map(r.__getitem__, columns), procs, strict=True)
            ),
        )
        for r in rows
    ]
    prep = conn.dialect.identifier_preparer
    name = prep.format_table(table)
    if conn.dialect.name == "sqlite":
        sets = ", ".join(f"{prep.quote(c)} = v.column{i + 2}" for i, c in enumerate(columns))
        marks = "(" + ", ".join(["?"] * (len(columns) + 1)) + ")"
        per = max(1, SQLITE_PARAMS // (len(columns) + 1))
        for start in range(0, len(values), per):
            part = values[start : start + per]
            sql = (
                f"UPDATE {name} SET {sets} FROM (VALUES {', '.join([marks] * len(part))}) AS v "
                f"WHERE {name}.id = v.column1"
            )
            conn.exec_driver_sql(sql, tuple(v for row in part for v in row))
        return
    mark = _mark(conn.dialect.paramstyle)
    sets = ", ".join(f"{prep.quote(c)} = {mark}" for c in columns)
    driver: Any = conn.connection.driver_connection
    driver.cursor().executemany(
        f"UPDATE {name} SET {sets} WHERE id = {mark}", [(*v[1:], v[0]) for v in values]
    )


def insert_new_rows(
    session: Session,
    model: type[SQLModel],
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert rows not stored yet: COPY on PostgreSQL, in a savepoint, so that rows another
    writer stored meanwhile (a unique key taken) fall back to ``upsert``; ``upsert`` on
    SQLite (one writer at a time; its multi-row INSERT is as fast)."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        import psycopg

        try:
            with session.begin_nested():
                insert_rows(session, model, rows)
            return
        except (IntegrityError, psycopg.errors.UniqueViolation):
            pass  # another writer stored some of them: insert or update, row by row
    upsert(session, model, rows, keys=keys, update=update)


def insert_plain_rows(
    session: Session, model: type[SQLModel], columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert many rows of plain values (strings, numbers) straight through the DB-API
    (COPY, or multi-row INSERTs): no per-row parameter processing by SQLAlchemy, which
    costs more than the insert itself for narrow rows (blocking keys). No type
    conversion: plain values only."""
    if not rows:
        return
    conn = session.connection()
    if conn.dialect.name == "postgresql":  # COPY: measured 8x faster than executemany here
        _copy(conn, model.__table__, columns, rows)  # type: ignore[attr-defined]
        return
    _sqlite_insert(conn, model, columns, rows)


IN_LIST = 5000  # values per IN (...) list on SQLite (it allows 32,766 bound parameters)


def select_plain_in(
    session: Session,
    model: type[SQLModel],
    columns: Sequence[str],
    column: str,
    values: Sequence[Any],
) -> list[tuple[Any, ...]]:
    """``SELECT columns FROM table WHERE column IN (values)`` through the DB-API: plain
    values only, as ``insert_plain_rows``; SQLAlchemy's compiling of an IN list of
    thousands of parameters costs more than the query. Each matching row once (values
    given twice count once). Any number of values: IN lists of ``IN_LIST`` on SQLite, one
    array on PostgreSQL (one query for a batch's 30,000 probe keys, not six)."""
    if not values:
        return []
    table = model.__table__  # type: ignore[attr-defined]
    if session.get_bind().dialect.name == "postgresql":  # one array parameter: select_in
        query = select(*(table.c[c] for c in columns))
        return [tuple(r) for r in select_in(session, query, table.c[column], values)]
    conn = session.connection()
    prep = conn.dialect.identifier_preparer
    name = prep.format_table(table)
    cols = ", ".join(f"{name}.{prep.quote(c)}" for c in columns)
    unique = tuple(dict.fromkeys(values))
    out: list[tuple[Any, ...]] = []
    # the driver's own cursor: its rows are tuples already (SQLAlchemy's result made a
    # Row of each and this a tuple again: a batch's 40,000-odd probe rows, a twentieth
    # of the writer's time on near-duplicates)
    driver: Any = conn.connection.driver_connection
    cursor = driver.cursor()
    try:
        for i in range(0, len(unique), IN_LIST):
            part = unique[i : i + IN_LIST]
            marks = ", ".join([_mark(conn.dialect.paramstyle)] * len(part))
            sql = f"SELECT {cols} FROM {name} WHERE {prep.quote(column)} IN ({marks})"
            out.extend(cursor.execute(sql, part).fetchall())
    finally:
        cursor.close()
    return out


def select_in(
    session: Session, query: Select[Any], column: ColumnElement[Any], values: Sequence[Any]
) -> list[Any]:
    """The rows of ``query`` whose ``column`` is one of ``values`` (each once), with
    SQLAlchemy's result types: ``IN (...)`` on SQLite; on PostgreSQL the values as one
    array parameter joined to the table through the column's index.

    PostgreSQL planned each IN list afresh (8-34 ms of planning for 800 blocking keys;
    about 30 ms a query for the 1,000 OCIDs or ids of a batch at 8,000 notices) and, its
    statistics lagging a table that grows within the transaction (a backfill), as a scan
    of the whole table. 4,640 blocking keys against 138,000 stored: IN lists of 800
    124-177 ms, ``= ANY(array)`` 46-57 ms, this join 17-21 ms. A sequential scan is ruled
    out for this one statement (``set_config(..., true)`` lasts to the end of the
    transaction, so the setting in force before is put back after it)."""
    if not values:
        return []
    unique = list(dict.fromkeys(values))
    if session.get_bind().dialect.name != "postgresql":
        if all(isinstance(v, str) for v in unique):
            # SQLite: the values as one JSON array parameter (json_each), not an IN list
            # SQLAlchemy expands into a thousand parameters on every execution (a
            # twentieth of the writer's time, four lookups a batch)
            json_array = bindparam("in_values", jsoncodec.dumps(unique), type_=Text())
            listed: Select[Any] = select(literal_column("value")).select_from(
                func.json_each(json_array)
            )
            return list(session.execute(query.where(column.in_(listed))))
        return list(session.execute(query.where(column.in_(unique))))
    array: Any
    if all(isinstance(v, str) and _SEP not in v for v in unique):
        # text values as one string split by the server: the driver's dumping of a list
        # (an escaping check a value, in Python) cost 33 ms a batch's 30,000 probe keys,
        # one string 2 ms
        joined = bindparam("probe_values", _SEP.join(unique), type_=Text())
        array = func.string_to_array(joined, _SEP, type_=postgresql.ARRAY(Text()))
    elif all(type(v) is int for v in unique):
        # integers the same way, as decimal text cast by the server: the driver dumps a
        # list of ints one by one in Python (``select_plain_in`` with a batch's 25,000
        # hashed probe keys: 0.0385 ms a notice of the writer's CPU so, 0.0148 this way)
        joined = bindparam("probe_values", ",".join(map(str, unique)), type_=Text())
        array = cast(func.string_to_array(joined, ","), postgresql.ARRAY(column.type))
    else:
        array = bindparam("probe_values", unique, type_=postgresql.ARRAY(column.type))
    probe = func.unnest(array).table_valued("v").render_derived(name="probe")
    conn = session.connection()
    before = _no_seqscan(conn)
    rows = list(session.execute(query.join(probe, column == probe.c.v)))
    _restore_seqscan(conn, before)
    return rows


_SEP = "\x1f"  # ASCII unit separator: between the values of a joined text parameter


def _no_seqscan(conn: Any) -> str:
    """Rule out sequential scans until ``_restore_seqscan`` (or the end of the transaction:
    a failed statement aborts it, and the setting goes with it). Returns the setting."""
    (before,) = conn.exec_driver_sql(
        "SELECT current_setting('enable_seqscan'), set_config('enable_seqscan', 'off', true)"
    ).one()[:1]
    return str(before)


def _restore_seqscan(conn: Any, before: str) -> None:
    conn.exec_driver_sql("SELECT set_config('enable_seqscan', %s, true)", (before,))


def _mark(style: str) -> str:
    mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(style)
    if mark is None:
        raise NotImplementedError(f"DB-API paramstyle {style!r}")
    return mark


# Any constant of our own: the key of PostgreSQL's transaction-level advisory lock that
# serialises the rebuilding and linking of opportunities between concurrent writers.
LINKING_LOCK = 0x62696462656C6C  # "bidbell"


def serialise_linking(session: Session) -> None:
    """Make concurrent writers take turns from here to the end of their transaction.
    PostgreSQL: an advisory lock released at commit or rollback. SQLite has one writer at
    a time already (and bidbell's writer lock, models.store.db.writer_lock, in front)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LINKING_LOCK})
