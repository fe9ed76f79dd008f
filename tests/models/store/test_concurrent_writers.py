"""Two writers at once. PostgreSQL: two imports running side by side link the listings of
one procurement exactly as one import after the other would (linking takes turns).
SQLite: a second writing command says so in one line and waits its turn, or gives up
with its own exit status; never an 87-line traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from bench.pairs.recipe import load_pairs
from bench.pairs.store_eval import as_record
from models.store.db import make_engine, migrate, writer_lock
from models.store.store import store_records
from models.store.tables import Opportunity

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 22, tzinfo=UTC)


def _sides(fixtures_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The labelled pairs' two sides as two imports (each record once)."""
    a: dict[str, dict[str, Any]] = {}
    b: dict[str, dict[str, Any]] = {}
    for p in load_pairs(fixtures_dir=fixtures_dir):
        a.setdefault(p.a.ocid + p.a.source_id, as_record(p.a, "pairs_a"))
        b.setdefault(p.b.ocid + p.b.source_id, as_record(p.b, "pairs_b"))
    return list(a.values()), list(b.values())


def _fresh(url: str) -> Any:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    migrate(url)
    return make_engine(url)


def _groups(engine: Any) -> set[frozenset[str]]:
    """The stored procurements: each canonical row with the listings linked to it."""
    with Session(engine) as s:
        rows = s.exec(select(Opportunity.id, Opportunity.ocid, Opportunity.canonical_id)).all()
    by_root: dict[int, set[str]] = {}
    for oid, ocid, cid in rows:
        by_root.setdefault(cid if cid is not None else oid, set()).add(ocid)
    return {frozenset(g) for g in by_root.values()}


def _store(engine: Any, records: list[dict[str, Any]], start: threading.Barrier | None) -> None:
    with Session(engine) as s:
        if start is not None:
            start.wait()
        store_records(s, records, NOW)
        s.commit()


def _first_side(engine: Any) -> str:
    """Which import's opportunities were written first (the lower ids)."""
    with Session(engine) as s:
        rows = s.exec(select(Opportunity.id, Opportunity.sources)).all()
    first = {side: min(oid for oid, src in rows if side in src) for side in ("pairs_a", "pairs_b")}
    return min(first, key=lambda side: first[side])


@pytest.mark.postgres
def test_two_concurrent_imports_link_as_one_after_the_other(postgres_url, fixtures_dir):
    side_a, side_b = _sides(fixtures_dir)
    assert len(side_a) > 100 and len(side_b) > 100
    sequential: dict[str, set[frozenset[str]]] = {}
    for first, second, name in ((side_a, side_b, "pairs_a"), (side_b, side_a, "pairs_b")):
        engine = _fresh(postgres_url)
        _store(engine, first, None)
        _store(engine, second, None)
        sequential[name] = _groups(engine)
        engine.dispose()

    engine = _fresh(postgres_url)
    start = threading.Barrier(2)
    threads = [
        threading.Thread(target=_store, args=(engine, side, start)) for side in (side_a, side_b)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    got = _groups(engine)
    expected = sequential[_first_side(engine)]  # the import that took its turn first
    engine.dispose()
    assert sum(1 for g in expected if len(g) > 1) > 50  # the pairs link across the imports
    assert len(got) == len(expected)
    assert got == expected


def _import(env: dict[str, str], fixtures_dir: Path) -> subprocess.Popen[str]:
    files = sorted(str(p) for p in (fixtures_dir / "find-a-tender").glob("*.json"))
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "import", "--source", "find_a_tender", *files],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_second_sqlite_writer_waits_its_turn_then_gives_up(tmp_path, fixtures_dir) -> None:
    db = tmp_path / "var" / "bidbell.db"
    url = f"sqlite:///{db}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIDBELL_")}
    env.update(
        BIDBELL_VAR_DIR=str(tmp_path / "var"),
        BIDBELL_DATABASE_URL=url,
        BIDBELL_FIXTURES_DIR=str(fixtures_dir),
        BIDBELL_WRITE_WAIT_S="1",
    )
    migrate(url)
    with writer_lock(url):  # as another Bidbell process would hold it
        proc = _import(env, fixtures_dir)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 5, out + err
    assert "Traceback" not in out + err
    assert err.count("is writing to") == 1 and "waiting up to 1 s" in err
    assert "busy" in err and len(err.strip().splitlines()) == 2

    env["BIDBELL_WRITE_WAIT_S"] = "60"
    with writer_lock(url):
        proc = _import(env, fixtures_dir)
        assert proc.stderr is not None
        said = proc.stderr.readline()  # it says once that it waits; then the lock is let go
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, said + out + err
    assert "is writing to" in said and "is writing to" not in err and "Traceback" not in err
    assert "5 record(s) read; 5 new" in out
