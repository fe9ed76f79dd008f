"""bench ingest: parse + normalise + classify + store, notices per second, SQLite and PostgreSQL.

Input: N copies of every real OCDS release in the captures (Find a Tender, Contracts Finder,
Public Contracts Scotland, Sell2Wales; bench.common.scaled_records: new ids, each round of
copies a distinct procurement), read from a JSON Lines file as a crawl writes them. The
store does all it does for a real crawl: normalise, classify, upsert, events, and link
listings of one procurement (blocking keys in SQL, comparisons), a batch at a time, each
batch committed. Compared in the same run with a naive baseline: ORM objects and one commit
per notice, its opportunity merged from all its stored notices, no events, no linking; and
checked against it: the opportunities both store from the baseline's sample are the same.

Then, on hard input: ``backfill_100k`` (100,000 notices on PostgreSQL), ``ingest_alike_20k``
(20,000 notices, nine in ten sharing their title with hundreds of others: a framework's
call-offs) and ``ingest_200mb_peak_mem`` (a 200 MB release package imported as
``bidbell import`` does, in a child process: its peak resident memory).

    python -m bench.ingest [--n 20000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from bench.common import (
    alike_records,
    line,
    peak_gb,
    scaled_records,
    write_jsonl,
    write_package,
)
from models.formats import normalise
from models.store.db import make_engine, migrate
from models.store.merge import MERGED_FIELDS, content_hash, merge_notices
from models.store.store import StoreResult, iter_jsonl, store_jsonl
from models.store.tables import Notice, Opportunity

NOW = datetime(2026, 10, 6, 18, 0, tzinfo=UTC)
SOURCE = "find_a_tender"


def read(path: Path) -> Iterator[dict[str, Any]]:
    for rec in iter_jsonl(path, SOURCE):
        assert isinstance(rec, dict), rec
        yield rec


def fast(url: str, path: Path) -> tuple[float, StoreResult]:
    """The store as a crawl's records go through it (flows.steps.store_crawl)."""
    engine = make_engine(url)
    started = time.perf_counter()
    with Session(engine) as s:
        r = store_jsonl(s, path, SOURCE, now=NOW, commit_batches=True)
        s.commit()
    took = time.perf_counter() - started
    engine.dispose()
    assert r.inserted > 0 and r.rejected == 0, r
    return r.inserted / took, r


def naive(url: str, path: Path, limit: int) -> float:
    """The obvious loop, per notice: normalise, add a Notice, merge its opportunity from all
    the stored notices of its OCID, add or update the Opportunity, commit."""
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
                    format=rec["format"],
                    url=fields.url or rec["url"],
                    content_hash=content_hash(rec["payload"]),
                    payload=rec["payload"],
                    stored_at=NOW,
                )
            )
            s.flush()
            stored = s.exec(select(Notice).where(Notice.ocid == fields.ocid)).all()
            merged = merge_notices([_fields(x) for x in stored])
            opp = s.exec(select(Opportunity).where(Opportunity.ocid == fields.ocid)).first()
            if opp is None:
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


def _fields(notice: Notice) -> Any:
    fields = normalise(notice.format, notice.source, notice.payload)
    fields.url = notice.url
    return fields


def compare(fast_url: str, naive_url: str) -> tuple[int, int]:
    """(opportunities that differ, opportunities compared): the baseline's opportunities
    whose notices all lie in its sample, field by field as merged from their notices."""
    fields = [getattr(Opportunity, f) for f in ("ocid", *MERGED_FIELDS, "sources")]
    got: dict[str, tuple[Any, ...]] = {}
    counts: dict[str, int] = {}
    with Session(make_engine(naive_url)) as s:
        want = {r[0]: tuple(r) for r in s.execute(select(*fields))}
        for (ocid,) in s.execute(select(Notice.ocid)):
            counts[ocid] = counts.get(ocid, 0) + 1
    with Session(make_engine(fast_url)) as s:
        q = select(Notice.ocid).where(col(Notice.ocid).in_(list(want)))
        fast_counts: dict[str, int] = {}
        for (ocid,) in s.execute(q):
            fast_counts[ocid] = fast_counts.get(ocid, 0) + 1
        same_notices = [o for o in want if fast_counts.get(o) == counts.get(o)]
        q = select(*fields).where(col(Opportunity.ocid).in_(same_notices))
        got = {r[0]: tuple(r) for r in s.execute(q)}
    differ = sum(1 for o in same_notices if got.get(o) != want[o])
    return differ, len(same_notices)


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


def bench_dialect(name: str, fast_url: str, naive_url: str, data: Path, ns: Any) -> float:
    rate, _ = fast(fast_url, data)
    base = naive(naive_url, data, ns.naive_n)
    target = ">= 5000 notices/s" if name == "sqlite" else ">= 5000 notices/s and >= sqlite"
    line(f"ingest_{name}", rate, "notices/s", base, target)
    print(f"  ({ns.n} notices; baseline on the first {ns.naive_n}; ratio {rate / base:.1f}x)")
    differ, compared = compare(fast_url, naive_url)
    line(f"ingest_{name}_differs_from_baseline", differ, "opportunities", None, "0")
    print(f"  ({compared} opportunities of the baseline's sample compared field by field)")
    return rate


def peak_child(args: list[str]) -> float:
    """Peak resident memory (GB) of ``python -m bench.ingest ARGS`` (it prints it)."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.ingest", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out.strip().splitlines()[-1])


def child_import(path: Path, url: str, whole: bool) -> None:
    """In a child process: import the package as ``bidbell import`` does (or, ``whole``, only
    read it whole into records as the import did before it streamed); print peak GB."""
    if whole:
        from bidbell.jsoncodec import loads_tolerant
        from spiders.registry import load_spider

        spider: Any = load_spider("find_a_tender")
        package = loads_tolerant(path.read_bytes())
        notices = [
            spider.notice_from_release(r, "bench", i, "2026-10-06T18:00:00Z", SOURCE).model_dump()
            for i, r in enumerate(package["releases"])
        ]
        assert notices
    else:
        os.environ["BIDBELL_DATABASE_URL"] = url
        from bidbell.settings import get_settings, reset_settings
        from flows.steps import import_files

        reset_settings()
        r = import_files(SOURCE, [path], get_settings(), NOW)
        assert r.inserted > 0 and r.rejected == 0, r.summary()
    print(peak_gb())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--naive-n", type=int, default=2_000)
    p.add_argument("--backfill-n", type=int, default=100_000)
    p.add_argument("--alike-n", type=int, default=20_000)
    p.add_argument("--package-mb", type=int, default=200)
    p.add_argument(
        "--postgres",
        default=os.environ.get(
            "BIDBELL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    p.add_argument("--child-import", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--child-url", default="", help=argparse.SUPPRESS)
    p.add_argument("--child-whole", action="store_true", help=argparse.SUPPRESS)
    ns = p.parse_args()
    if ns.child_import:
        child_import(ns.child_import, ns.child_url, ns.child_whole)
        return
    with tempfile.TemporaryDirectory(prefix="bidbell-bench-ingest-") as tmp:
        folder = Path(tmp)
        data = folder / "notices.jsonl"
        write_jsonl(data, scaled_records(ns.n))
        rate_sqlite = bench_dialect(
            "sqlite", fresh_sqlite(folder, "fast"), fresh_sqlite(folder, "naive"), data, ns
        )
        url, name = fresh_postgres(ns.postgres)
        url2, name2 = fresh_postgres(ns.postgres)
        try:
            rate_pg = bench_dialect("postgres", url, url2, data, ns)
        finally:
            drop_postgres(ns.postgres, name)
            drop_postgres(ns.postgres, name2)
        print(f"  (PostgreSQL / SQLite: {rate_pg / rate_sqlite:.2f})")

        big = folder / "backfill.jsonl"
        write_jsonl(big, scaled_records(ns.backfill_n))
        url, name = fresh_postgres(ns.postgres)
        try:
            started = time.perf_counter()
            _, r = fast(url, big)
            took = time.perf_counter() - started
        finally:
            drop_postgres(ns.postgres, name)
        big.unlink()
        line(
            f"backfill_{ns.backfill_n // 1000}k",
            took,
            "s",
            ns.backfill_n / rate_pg,
            f"<= {ns.backfill_n / 5000:.0f} s",
        )
        print(
            f"  (PostgreSQL; {r.inserted} notices, {r.opportunities_new} opportunities, "
            f"{r.listings_linked} linked; baseline: at this run's ingest_postgres rate)"
        )

        alike = folder / "alike.jsonl"
        write_jsonl(alike, alike_records(ns.alike_n))
        rate, r = fast(fresh_sqlite(folder, "alike"), alike)
        line(
            f"ingest_alike_{ns.alike_n // 1000}k",
            rate,
            "notices/s",
            rate_sqlite,
            ">= 5000 notices/s",
        )
        print(
            f"  (SQLite; families of 400 near-duplicates; {r.listings_linked} linked; "
            f"baseline: this run's ingest_sqlite on distinct notices)"
        )

        package = folder / "package.json"
        n = write_package(package, ns.package_mb * 1024**2)
        url = fresh_sqlite(folder, "package")
        peak = peak_child(["--child-import", str(package), "--child-url", url])
        whole = peak_child(["--child-import", str(package), "--child-whole"])
        line(f"ingest_{ns.package_mb}mb_peak_mem", peak, "GB", whole, "<= 0.5 GB")
        print(
            f"  ({n} releases in {package.stat().st_size / 1024**2:.0f} MB imported into SQLite "
            f"as `bidbell import` does; baseline: the file read whole into records, not stored)"
        )


if __name__ == "__main__":
    main()
