"""bench ingest: parse + normalise + classify + store, notices per second, SQLite and PostgreSQL.

Input: N copies of every real OCDS release in the captures (Find a Tender, Contracts Finder,
Public Contracts Scotland, Sell2Wales; bench.common.scaled_records: new ids, each round of
copies a distinct procurement), read from a JSON Lines file as a crawl writes them. The
store does all it does for a real crawl: normalise, classify, upsert, events, and link
listings of one procurement (blocking keys in SQL, comparisons). Compared in the same run
with a naive baseline: ORM objects and one commit per notice, no events, no linking.

    python -m bench.ingest [--n 20000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from bench.common import line, scaled_records, write_jsonl
from bidbell import jsoncodec
from models.formats import normalise
from models.store.db import make_engine, migrate
from models.store.merge import content_hash, merge_notices
from models.store.store import store_records
from models.store.tables import Notice, Opportunity

NOW = datetime(2026, 10, 6, 18, 0, tzinfo=UTC)


def read(path: Path):
    with path.open() as f:
        for row in f:
            yield jsoncodec.loads(row)


def fast(url: str, path: Path) -> float:
    engine = make_engine(url)
    started = time.perf_counter()
    with Session(engine) as s:
        r = store_records(s, read(path), now=NOW)
        s.commit()
    took = time.perf_counter() - started
    engine.dispose()
    assert r.inserted > 0 and r.rejected == 0, r
    return r.inserted / took


def naive(url: str, path: Path, limit: int) -> float:
    """The obvious loop: normalise, add a Notice, add or update its Opportunity, commit,
    per notice."""
    engine = make_engine(url)
    started = time.perf_counter()
    n = 0
    with Session(engine) as s:
        for rec in read(path):
            if n >= limit:
                break
            fields = normalise(rec["format"], rec["source"], rec["payload"])
            s.add(
                Notice(
                    source=rec["source"],
                    source_id=fields.source_id,
                    ocid=fields.ocid,
                    content_hash=content_hash(rec["payload"]),
                    payload=rec["payload"],
                    stored_at=NOW,
                )
            )
            merged = merge_notices([fields])
            opp = s.exec(select(Opportunity).where(Opportunity.ocid == fields.ocid)).first()
            if opp is None:  # a later release of a stored procurement updates it
                opp = Opportunity(**merged, sources=[rec["source"]])
            else:
                for k, v in merged.items():
                    setattr(opp, k, v)
            s.add(opp)
            s.commit()
            n += 1
    took = time.perf_counter() - started
    engine.dispose()
    return n / took


def fresh_sqlite(folder: Path, name: str) -> str:
    url = f"sqlite:///{folder / name}.db"
    migrate(url)
    return url


def fresh_postgres(base: str) -> tuple[str, str]:
    name = f"bidbell_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    migrate(url)
    return url, name


def drop_postgres(base: str, name: str) -> None:
    admin = make_engine(base)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--naive-n", type=int, default=2_000)
    p.add_argument(
        "--postgres",
        default=os.environ.get(
            "BIDBELL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    ns = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = folder / "notices.jsonl"
        write_jsonl(data, scaled_records(ns.n))
        rate = fast(fresh_sqlite(folder, "fast"), data)
        base = naive(fresh_sqlite(folder, "naive"), data, ns.naive_n)
        line("ingest_sqlite", rate, "notices/s", base, ">= 5000 notices/s")
        print(f"  ({ns.n} notices; baseline on the first {ns.naive_n}; ratio {rate / base:.1f}x)")
        url, name = fresh_postgres(ns.postgres)
        url2, name2 = fresh_postgres(ns.postgres)
        try:
            rate = fast(url, data)
            base = naive(url2, data, ns.naive_n)
        finally:
            drop_postgres(ns.postgres, name)
            drop_postgres(ns.postgres, name2)
        line("ingest_postgres", rate, "notices/s", base, "> sqlite")
        print(f"  ({ns.n} notices; baseline on the first {ns.naive_n}; ratio {rate / base:.1f}x)")


if __name__ == "__main__":
    main()
