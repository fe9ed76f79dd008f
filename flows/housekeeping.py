"""Housekeeping, served nightly: raw crawl files (var/raw/<source>/*.jsonl and their logs)
older than ``raw_keep_days`` deleted (the stored notices keep their payloads), then the
database's statistics refreshed and space reclaimed (SQLite ANALYZE + VACUUM; PostgreSQL
VACUUM (ANALYZE))."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import text

from bidbell.settings import Settings, get_settings
from models.store.db import get_engine, writer_lock


@dataclass
class RawExpiry:
    files: int = 0
    bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def expire_raw(settings: Settings, now_epoch: float | None = None) -> RawExpiry:
    """Delete raw crawl outputs older than ``raw_keep_days`` (by modification time)."""
    cutoff = (now_epoch or time.time()) - settings.raw_keep_days * 86400
    out = RawExpiry()
    root: Path = settings.raw_dir
    if not root.is_dir():
        return out
    for path in root.rglob("*"):
        try:
            st = path.stat()
        except OSError:
            continue
        if path.is_file() and st.st_mtime < cutoff:
            path.unlink(missing_ok=True)
            out.files += 1
            out.bytes += st.st_size
    return out


def vacuum_analyse(settings: Settings) -> str:
    """Refresh the planner's statistics and reclaim space; returns what was run."""
    engine = get_engine(settings.effective_database_url)
    if engine.dialect.name == "sqlite":
        with (
            writer_lock(settings.effective_database_url, wait_s=settings.write_wait_s),
            engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
        ):
            conn.execute(text("ANALYZE"))
            conn.execute(text("VACUUM"))
            conn.execute(text("PRAGMA optimize"))
        return "ANALYZE; VACUUM; PRAGMA optimize"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE)"))
    return "VACUUM (ANALYZE)"


@task(name="expire_raw", retries=1, retry_delay_seconds=60,
      cache_policy=NO_CACHE)  # fmt: skip
def expire_raw_task() -> dict[str, Any]:
    return expire_raw(get_settings()).as_dict()


@task(name="vacuum_analyse", retries=1, retry_delay_seconds=300,
      cache_policy=NO_CACHE)  # fmt: skip
def vacuum_analyse_task() -> str:
    return vacuum_analyse(get_settings())


@flow(name="keep_house", log_prints=False)
def keep_house() -> dict[str, Any]:
    expired = expire_raw_task()
    done = vacuum_analyse_task()
    return {"raw_expired": expired, "database": done}
