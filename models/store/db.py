"""Engine, sessions and migrations. ``BIDBELL_DATABASE_URL`` picks SQLite or PostgreSQL."""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from bidbell import jsoncodec
from bidbell.settings import get_settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
log = logging.getLogger(__name__)


def _dump_json(value: Any) -> str:
    """JSON column values through orjson."""
    return jsoncodec.dumps(value)


# JSON columns (payloads, lists) through orjson: measured as the largest cost of ingest.
JSON_CODEC: dict[str, Any] = {
    "json_serializer": _dump_json,
    "json_deserializer": jsoncodec.loads,
}


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use psycopg 3 for them."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")  # readers (web, CLI) do not block the pipeline
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str | None = None) -> Engine:
    url = normalise_url(url or get_settings().effective_database_url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **JSON_CODEC)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **JSON_CODEC)


_ENGINES: dict[str, Engine] = {}


def get_engine(url: str | None = None) -> Engine:
    """The shared engine for ``url`` (default: the configured database)."""
    key = normalise_url(url or get_settings().effective_database_url)
    if key not in _ENGINES:
        _ENGINES[key] = make_engine(key)
    return _ENGINES[key]


def dispose_engines() -> None:
    """Close every shared engine (tests, and after changing BIDBELL_DATABASE_URL)."""
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def migrate(url: str | None = None) -> str:
    """Create or upgrade the database to the newest schema; returns the revision."""
    url = url or get_settings().effective_database_url
    engine = make_engine(url)  # creates the SQLite folder
    engine.dispose()
    command.upgrade(alembic_config(url), "head")
    return current_revision(url) or ""


def current_revision(url: str | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url or get_settings().effective_database_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


@contextmanager
def background_checkpoints(session: Session) -> Iterator[Callable[[], None]]:
    """SQLite, a long import committing batch after batch: the WAL's checkpoints (its pages
    copied back into the database file) run in a thread of their own, not inside the
    writer's commits. Yields ``committed``, to call after each commit: it wakes the
    thread, which runs a passive checkpoint (one that never waits for, nor blocks, the
    writer) while the writer goes on with the next batch. The writer's own automatic
    checkpoints are off meanwhile, and on again after (a last checkpoint run first), so
    nothing is left to a later writer. Elsewhere (PostgreSQL, memory) ``committed`` does
    nothing. 10,000 notices: the commits were a tenth of the writer's time."""
    bind = session.get_bind()
    database = bind.engine.url.database if bind.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield lambda: None
        return
    writer: Any = session.connection().connection.driver_connection
    wake = threading.Event()
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def run() -> None:
        con = sqlite3.connect(database, timeout=30)
        try:
            while not stop.is_set():
                wake.wait()
                wake.clear()
                con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # the writer checkpoints by itself again after
            log.warning("background checkpoint of %s stopped: %s", database, exc)
        finally:
            con.close()

    def committed() -> None:
        # Started at the first commit, not before: a store forks its parsing workers at
        # its first batch, and a fork should not copy a thread's half-held locks.
        if not threads:
            threads.append(threading.Thread(target=run, name="sqlite-checkpoint", daemon=True))
            threads[0].start()
        wake.set()

    writer.execute("PRAGMA wal_autocheckpoint=0")
    try:
        yield committed
    finally:
        stop.set()
        wake.set()
        for thread in threads:
            thread.join()
        # SQLite's default again; a connection gone (an import that failed) leaves nothing
        # to restore: a new one has the default
        with suppress(sqlite3.Error):
            writer.execute("PRAGMA wal_autocheckpoint=1000")


# --- one writer per SQLite database --------------------------------------------------------
class DatabaseBusy(RuntimeError):
    """Another Bidbell process kept the database for longer than we were willing to wait."""


_HELD: dict[str, int] = {}  # lock file -> depth, in this process (the lock is re-entrant)
_HELD_LOCK = threading.Lock()


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None: not SQLite, or in memory)."""
    u = make_url(normalise_url(url))
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


@contextmanager
def writer_lock(
    url: str | None = None,
    wait_s: float = 600.0,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the right to write to a SQLite database for the length of a command.

    SQLite takes one writer at a time and makes the second fail after its busy timeout
    (30 s) with a long traceback. A command that writes holds this lock instead: a second
    one says once who holds it (``on_wait``) and waits up to ``wait_s`` seconds, then raises
    DatabaseBusy. PostgreSQL takes many writers (linking takes turns inside the database,
    models.store.upsert.serialise_linking): nothing to hold."""
    path = sqlite_path(url or get_settings().effective_database_url)
    if path is None:
        yield
        return
    lock_path = str(path) + ".writer.lock"
    with _HELD_LOCK:
        if _HELD.get(lock_path):
            _HELD[lock_path] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _HELD_LOCK:
                _HELD[lock_path] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        said = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
                if not said and on_wait is not None:
                    on_wait(
                        f"another Bidbell process ({holder}) is writing to {path}; "
                        f"waiting up to {wait_s:.0f} s"
                    )
                    said = True
                if time.monotonic() >= deadline:
                    raise DatabaseBusy(
                        f"{path} is busy: another Bidbell process ({holder}) kept it for "
                        f"more than {wait_s:.0f} s"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        with _HELD_LOCK:
            _HELD[lock_path] = 1
        try:
            yield
        finally:
            with _HELD_LOCK:
                _HELD.pop(lock_path, None)
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
