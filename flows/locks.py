"""The pipeline's writing part (store -> match -> send) takes turns across processes and
machines: two runs matching at once could each move the matcher's place (the last event
id) past events the other has not committed yet, and miss them.

SQLite: bidbell's writer lock (models.store.db.writer_lock, a file lock). PostgreSQL: a
session-level advisory lock held on a connection of its own for the length of the block
(crawls, the slow part, still run side by side on every worker)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from models.store.db import DatabaseBusy, get_engine, sqlite_path, writer_lock

PIPELINE_LOCK = 0x6269_6462_656C_6C01  # "bidbell" + 1: any fixed 64-bit key


@contextmanager
def pipeline_write_lock(url: str, wait_s: float) -> Iterator[None]:
    if sqlite_path(url) is not None:
        with writer_lock(url, wait_s=wait_s):
            yield
        return
    engine = get_engine(url)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        deadline = time.monotonic() + wait_s
        while not conn.execute(
            text("SELECT pg_try_advisory_lock(:k)"), {"k": PIPELINE_LOCK}
        ).scalar_one():
            if time.monotonic() > deadline:
                raise DatabaseBusy(f"another Bidbell run kept the database for {wait_s:.0f} s")
            time.sleep(0.5)
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PIPELINE_LOCK})
