"""Large imports: a release package read a release at a time gives the records the whole
read gives; a bad release costs itself; a file cut short keeps what came before the cut;
stores committed a batch at a time resume where a failure stopped them. Real captures."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session, func, select

import spiders.files as files
from models.store.store import store_records
from models.store.tables import Notice, Opportunity

NOW = datetime(2026, 10, 6, 18, 0, tzinfo=UTC)
CF_SEARCH = "contracts-finder/cf_ocds_search_2022-10-22_publishedTo_limit100.json"


def _package(fixtures_dir: Path) -> dict[str, Any]:
    return json.loads((fixtures_dir / CF_SEARCH).read_text(encoding="utf-8"))


def _read(path: Path) -> list[dict[str, Any]]:
    out = []
    for r in files.read_file("contracts_finder", "contracts_finder", path):
        d = r.model_dump()
        d.pop("fetched_at", None)
        out.append(d)
    return out


def test_a_large_package_streams_the_records_a_whole_read_gives(
    fixtures_dir, tmp_path, monkeypatch
) -> None:
    package = _package(fixtures_dir)
    # the hard bits a streaming reader must get right: brackets and commas inside strings,
    # a number too large for a float, an element that is not a release
    package["releases"][3]["tender"]["title"] = 'Lot "A"], {b}, c\\d'
    package["releases"][5]["tender"]["value"] = {"amount": 1e400, "currency": "GBP"}
    package["releases"].insert(7, ["not", "a", "release"])
    path = tmp_path / "big.json"
    path.write_text(json.dumps(package, ensure_ascii=False).replace("Infinity", "1e9999"))
    whole = _read(path)
    monkeypatch.setattr(files, "STREAM_PACKAGE_BYTES", 0)
    monkeypatch.setattr(files, "_READ_BYTES", 997)  # elements cut across many reads
    streamed = _read(path)
    assert len(streamed) == 101 and streamed == whole
    assert [r["kind"] for r in streamed].count("error") == 1
    assert streamed[3]["payload"]["tender"]["title"] == 'Lot "A"], {b}, c\\d'
    assert streamed[5]["payload"]["tender"]["value"]["amount"] is None


def test_a_package_cut_short_keeps_the_releases_before_the_cut(
    fixtures_dir, tmp_path, monkeypatch
) -> None:
    text = json.dumps(_package(fixtures_dir), ensure_ascii=False)
    path = tmp_path / "cut.json"
    path.write_text(text[: len(text) // 2])
    monkeypatch.setattr(files, "STREAM_PACKAGE_BYTES", 0)
    got = _read(path)
    notices = [r for r in got if r["kind"] == "notice"]
    assert 30 < len(notices) < 70
    assert (
        got[-1]["kind"] == "error" and "cannot read the package past release" in (got[-1]["reason"])
    )


def test_a_file_without_releases_is_read_whole_and_refused(tmp_path, monkeypatch) -> None:
    path = tmp_path / "not-a-package.json"
    path.write_text('{"data": [1, 2, 3]}')
    monkeypatch.setattr(files, "STREAM_PACKAGE_BYTES", 0)
    got = _read(path)
    assert len(got) == 1 and "not an OCDS release package" in got[0]["reason"]


def test_batches_committed_resume_after_a_failure(engine, fixtures_dir, tmp_path) -> None:
    path = tmp_path / "page.json"
    path.write_text(json.dumps(_package(fixtures_dir)))
    recs = [r.model_dump() for r in files.read_file("contracts_finder", "contracts_finder", path)]

    def dies_after(n: int):
        for i, r in enumerate(recs):
            if i == n:
                raise RuntimeError("killed")
            yield r

    with Session(engine) as s, pytest.raises(RuntimeError):
        store_records(s, dies_after(65), now=NOW, commit_batches=True, batch_size=30)
    with Session(engine) as s:  # two batches of 30 were committed, the third was lost
        assert s.exec(select(func.count()).select_from(Notice)).one() == 60
        r = store_records(s, recs, now=NOW, commit_batches=True, batch_size=30)
        assert (r.unchanged, r.inserted) == (60, 40)
        assert s.exec(select(func.count()).select_from(Notice)).one() == 100
    # the same opportunities as one import in one go (into a fresh database)
    from models.store.db import make_engine, migrate

    url = f"sqlite:///{tmp_path / 'one-go.db'}"
    migrate(url)
    one = make_engine(url)
    with Session(one) as s:
        store_records(s, recs, now=NOW)
        s.commit()
    resumed, one_go = _opportunities(engine), _opportunities(one)
    one.dispose()
    assert len(resumed) == len({r["payload"]["ocid"] for r in recs})
    assert resumed == one_go


def _opportunities(engine) -> dict[str, tuple[Any, ...]]:
    """What each stored opportunity says (instants in UTC, alike on both databases)."""

    def utc(d: datetime | None) -> datetime | None:
        return d if d is None or d.tzinfo is None else d.astimezone(UTC).replace(tzinfo=None)

    with Session(engine) as s:
        return {
            o.ocid: (o.title, utc(o.deadline), o.value_amount, o.stage, o.value_band)
            for o in s.exec(select(Opportunity)).all()
        }


def test_new_notices_another_writer_stored_meanwhile_are_updated(engine, fixtures_dir) -> None:
    """New notices go in by COPY on PostgreSQL; should another writer have stored one of
    them since they were looked up, the batch is upserted instead of failing."""
    from models.store.store import prepare_record
    from models.store.upsert import insert_new_rows

    path = fixtures_dir / CF_SEARCH
    recs = [r.model_dump() for r in files.read_file("contracts_finder", "contracts_finder", path)]
    rows = [prepare_record(r, NOW)[1] for r in recs[:10]]
    with Session(engine) as s:
        insert_new_rows(s, Notice, rows[:4], keys=["source", "source_id"], update=["title"])
        s.commit()
    for row in rows:
        row["title"] = "stored again: " + row["title"]
    with Session(engine) as s:
        insert_new_rows(s, Notice, rows, keys=["source", "source_id"], update=["title"])
        s.commit()
        titles = [n.title for n in s.exec(select(Notice)).all()]
    assert len(titles) == 10 and all(t.startswith("stored again: ") for t in titles)


def test_a_crawl_file_parsed_in_worker_processes_stores_what_one_process_does(
    engine, fixtures_dir, tmp_path, db_url
) -> None:
    """store_jsonl with a parsing process beside the writer: the same notices, opportunities
    and rejections (an unreadable line, a release without an id) as without it."""
    from models.store.db import make_engine, migrate
    from models.store.store import store_jsonl
    from models.store.tables import IngestError

    path = fixtures_dir / CF_SEARCH
    lines = [
        json.dumps(r.model_dump())
        for r in files.read_file("contracts_finder", "contracts_finder", path)
    ]
    bad = json.loads(lines[11])
    bad["payload"]["id"] = ["a", "list"]
    lines[11] = json.dumps(bad)
    lines.insert(20, '{"cut": ')
    crawl = tmp_path / "crawl.jsonl"
    crawl.write_text("\n".join(lines) + "\n")

    def stored(url: str, workers: int) -> tuple[Any, ...]:
        eng = make_engine(url)
        with Session(eng) as s:
            r = store_jsonl(s, crawl, "contracts_finder", NOW, True, 25, workers=workers)
            opps = sorted(
                (o.ocid, o.title, o.deadline, o.value_amount, o.stage)
                for o in s.exec(select(Opportunity)).all()
            )
            errors = sorted((e.record, e.reason[:40]) for e in s.exec(select(IngestError)).all())
        eng.dispose()
        return r.summary(), opps, errors

    with_worker = stored(db_url, 1)
    other = f"sqlite:///{tmp_path / 'one-process.db'}"
    migrate(other)
    alone = stored(other, 0)
    assert with_worker[0]["inserted"] == 99 and with_worker[0]["rejected"] == 2
    assert with_worker[1:] == alone[1:]
    assert {k: v for k, v in with_worker[0].items() if k != "new_opportunity_ids"} == {
        k: v for k, v in alone[0].items() if k != "new_opportunity_ids"
    }


def _stored_state(s: Session) -> tuple[dict[str, Any], list[Any], list[Any]]:
    """Every opportunity's columns, blocking key and event, by OCID (ids differ between
    two stores of the same input)."""
    from sqlalchemy import text

    ocid = {o.id: o.ocid for o in s.exec(select(Opportunity)).all()}
    opps = {
        o.ocid: {
            k: ocid.get(v) if k == "canonical_id" else v
            for k, v in o.model_dump().items()
            if k not in ("id", "search_vector")
        }
        for o in s.exec(select(Opportunity)).all()
    }
    blocks = sorted(
        (key, ocid[oid])
        for key, oid in s.execute(text("SELECT key, opportunity_id FROM opportunityblock"))
    ) + sorted(  # (hashed keys, then what linking reads back as text)
        (value, ocid[oid])
        for oid, value in s.execute(text("SELECT opportunity_id, value FROM opportunityref"))
    )
    events = sorted(
        (ocid[oid], kind, version)
        for oid, kind, version in s.execute(
            text("SELECT opportunity_id, kind, version FROM opportunityevent")
        )
    )
    return opps, blocks, events


def test_opportunities_worked_out_in_the_parsing_workers_are_what_the_writer_makes(
    engine, db_url, tmp_path, monkeypatch
) -> None:
    """Where the parsing workers merge, classify and key the opportunities of their batch
    (``store.derive``), the store holds what the writer alone makes: every opportunity
    column, the links between listings, the blocking keys and the events. Input: every real
    release of the captures (new ids; OCIDs with several releases, some falling in two batches) and
    300 near-duplicates built from them (bench.common.alike_records), batches of 50."""
    import orjson

    import models.store.store as store
    from bench.common import alike_records, real_releases, scaled_records
    from models.store.db import make_engine, migrate

    records = list(scaled_records(len(real_releases())))  # each real release once, as it is
    records += list(alike_records(300, family=60))
    crawl = tmp_path / "crawl.jsonl"
    crawl.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))

    made_by_writer = [0]
    real = store._opportunity

    def counted(*args: Any) -> Any:
        made_by_writer[0] += 1  # in the worker processes, this count is their own
        return real(*args)

    monkeypatch.setattr(store, "_opportunity", counted)
    # every batch parsed in the worker (the writer parsing batches itself is tested below)
    monkeypatch.setattr(store, "STEAL_LINES", 0)

    def stored(url: str, workers: int) -> tuple[Any, ...]:
        made_by_writer[0] = 0
        eng = make_engine(url)
        with Session(eng) as s:
            r = store.store_jsonl(s, crawl, "find_a_tender", NOW, True, 50, workers=workers)
            opps, blocks, events = _stored_state(s)
        eng.dispose()
        return r.summary(), opps, blocks, events, made_by_writer[0]

    with_workers = stored(db_url, 1)
    alone_url = f"sqlite:///{tmp_path / 'alone.db'}"
    migrate(alone_url)
    alone = stored(alone_url, 0)
    summary, opps, blocks, events, made = with_workers
    assert summary["inserted"] == len(records) and summary["rejected"] == 0
    assert summary["listings_linked"] > 0
    for name in ("opportunities_new", "opportunities_changed", "events", "listings_linked"):
        assert summary[name] == alone[0][name], name
    assert opps == alone[1] and blocks == alone[2] and events == alone[3]
    # the writer made few opportunities itself: those whose notices fell in two batches
    assert alone[4] >= summary["opportunities_new"] and 0 < made < summary["opportunities_new"] // 4


def test_what_a_worker_derives_crosses_to_the_writer_whole(fixtures_dir) -> None:
    """``Derived`` as pickled between processes (features rebuilt from their values, each
    key set sent as one string): the writer gets the same features and keys, a key set
    holding the separator or empty included. Real releases of the captures."""
    import pickle

    import models.store.store as store
    from bench.common import real_releases, scaled_records

    n = len(real_releases())
    prepared = [store.prepare_one(r, NOW) for r in scaled_records(n)]
    derived = store.derive(prepared, None)
    assert len(derived) > 100
    d = next(iter(derived.values()))
    odd = store.Derived(
        d.notices, d.merged, d.digest, (d.linkage[0], {"bid:a\x1fb", "x"}, set()), b"\x01v"
    )
    for one in [*derived.values(), odd]:
        back = pickle.loads(pickle.dumps(one, protocol=pickle.HIGHEST_PROTOCOL))
        f, stored, probes = one.linkage
        f2, stored2, probes2 = back.linkage
        assert f2 == f and f2.title == f.title and type(f2) is type(f)
        assert sorted(stored2) == sorted(stored) and sorted(probes2) == sorted(probes)
        assert (back.notices, back.merged, back.digest, back.search) == (
            one.notices, one.merged, one.digest, one.search
        )  # fmt: skip
    assert sum(len(d.linkage[1]) for d in derived.values()) > 10 * len(derived)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 1000])
@pytest.mark.parametrize("scan_bytes", [5, 4096])
def test_the_ranges_workers_read_hold_the_lines_a_plain_read_gives(
    tmp_path, monkeypatch, n, scan_bytes
) -> None:
    """The writer cuts a crawl's file into ranges of ``n`` non-blank lines, which the
    workers read: together, every line ``_raw_lines`` gives, numbered the same, blank and
    whitespace-only lines skipped (counted in the numbering), a last line without its
    newline, CRLF endings, an indented line and a long whitespace line included, read
    through a buffer smaller than a line or not."""
    import models.store.store as store

    monkeypatch.setattr(store, "_SCAN_BYTES", scan_bytes)  # lines across reads, or not
    lines = [b'{"a": 1}\n', b"\n", b"  \t\r\n", b'{"b": "x\\ny"}\r\n', b" " * 5000 + b"\n"]
    lines += [b'{"c": %d}\n' % i for i in range(9)] + [b"\x0b\x0c\n", b"not json\n", b'{"z": 0}']
    lines[6:6] = [b'  {"indented": 1}\n']
    path = tmp_path / "crawl.jsonl"
    path.write_bytes(b"".join(lines))
    plain = list(store._raw_lines(path))
    ranges = list(store._line_ranges(path, n))
    got = [line for r in ranges for line in store._lines_at(path, *r)]
    assert got == plain and len(plain) == 14 and plain[-1] == (18, b'{"z": 0}')
    assert all(len(list(store._lines_at(path, *r))) == n for r in ranges[:-1])
    assert ranges[0][0] == 0 and ranges[-1][1] == path.stat().st_size
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert list(store._line_ranges(empty, n)) == [] == list(store._line_ranges(tmp_path / "no", n))


def _slow_prepare_lines(*args: Any) -> Any:
    """A parsing worker slower than the writer (``store._prepare_lines`` after a pause)."""
    import time

    import models.store.store as store

    time.sleep(0.3)
    return store._REAL_PREPARE_LINES(*args)  # type: ignore[attr-defined]


def test_the_writer_parses_batches_itself_while_the_worker_is_behind(
    db_url, tmp_path, monkeypatch
) -> None:
    """While the oldest batch is still in the (slow) worker, the writer parses later
    batches itself, a few lines at a time, and stores what the worker alone would: every
    opportunity, blocking key, event and rejection. Real releases of the captures (and an
    unreadable line), batches of 20."""
    import orjson
    from sqlalchemy import text

    import models.store.store as store
    from bench.common import real_releases, scaled_records
    from models.store.db import make_engine, migrate

    lines = [orjson.dumps(r) for r in scaled_records(len(real_releases()))]
    lines.insert(30, b'{"cut": ')
    crawl = tmp_path / "crawl.jsonl"
    crawl.write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setattr(store, "_REAL_PREPARE_LINES", store._prepare_lines, raising=False)
    monkeypatch.setattr(store, "_prepare_lines", _slow_prepare_lines)
    here = [0]
    real_here = store._ParsedHere.__init__

    def counted(self: Any, *args: Any) -> None:
        here[0] += 1
        real_here(self, *args)

    monkeypatch.setattr(store._ParsedHere, "__init__", counted)

    def stored(url: str, steal: int) -> tuple[Any, ...]:
        monkeypatch.setattr(store, "STEAL_LINES", steal)
        here[0] = 0
        eng = make_engine(url)
        with Session(eng) as s:
            r = store.store_jsonl(s, crawl, "find_a_tender", NOW, True, 20, workers=1)
            opps, blocks, events = _stored_state(s)
            errors = s.execute(text("SELECT record, reason FROM ingesterror")).all()
        eng.dispose()
        summary = {k: v for k, v in r.summary().items() if k != "new_opportunity_ids"}
        return summary, opps, blocks, events, errors, here[0]

    stealing = stored(db_url, 25)
    other = f"sqlite:///{tmp_path / 'worker-only.db'}"
    migrate(other)
    worker_only = stored(other, 0)
    batches = -(-(len(lines) - 1) // 20)
    assert worker_only[5] == 0 and 2 <= stealing[5] < batches
    assert stealing[0]["inserted"] == len(lines) - 1 and stealing[0]["rejected"] == 1
    assert len(stealing[1]) > 150 and len(stealing[4]) == 1
    assert stealing[:5] == worker_only[:5]


# opportunity.search_vector's expression (migrations 0010 and 0015), as the test reads it
_VECTOR = (
    "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(buyer_name, '')), 'B') || "
    "setweight(to_tsvector('english', coalesce(description, '')), 'C')"
)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_search_vectors_given_by_the_workers_are_postgresqls_own(
    engine, tmp_path, monkeypatch
) -> None:
    """PostgreSQL: the parsing workers ask the server for the search vectors of the
    opportunities they derive, and the writer gives them in its COPY (migration 0015). Every
    row's vector is what the column's expression makes of its text: new rows from the
    workers, rows the writer made itself (notices of an OCID across two batches), rows
    changed by a later store (the trigger makes them again), rows the ORM writes. Real
    releases of the captures, batches of 50."""
    import orjson

    import models.store.store as store
    from bench.common import real_releases, scaled_records

    records = list(scaled_records(len(real_releases())))
    crawl = tmp_path / "crawl.jsonl"
    crawl.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    asked = [0]
    real = store._add_search_vectors

    def counted(derived: Any) -> None:
        asked[0] += 1  # (in the worker processes: read back through the vectors given)
        real(derived)

    monkeypatch.setattr(store, "_add_search_vectors", counted)
    monkeypatch.setattr(store, "STEAL_LINES", 0)  # every batch parsed in the worker
    differ = text(
        f"SELECT count(*) FROM opportunity WHERE search_vector IS DISTINCT FROM {_VECTOR}"
    )
    given = [0]
    copy = store.insert_rows

    def seen(session: Any, model: Any, rows: Any) -> None:
        given[0] += sum(r.get("search_vector") is not None for r in rows)
        copy(session, model, rows)

    monkeypatch.setattr(store, "insert_rows", seen)
    with Session(engine) as s:
        r = store.store_jsonl(s, crawl, "find_a_tender", NOW, True, 50, workers=1)
        n = s.exec(select(func.count()).select_from(Opportunity)).one()
        assert r.opportunities_new == n > 150
        assert given[0] > n * 3 // 4  # most vectors came from the workers
        assert s.execute(differ).scalar_one() == 0
        # a later store changes titles: the trigger makes their vectors again
        for rec in records[::7]:
            rec["payload"]["tender"] = {**(rec["payload"].get("tender") or {}), "title": "Zebra"}
        crawl.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
        again = store.store_jsonl(s, crawl, "find_a_tender", NOW, True, 50, workers=1)
        assert again.opportunities_changed > 10
        s.add(Opportunity(ocid="ocds-orm-1", title="Roofing works", description="Slate"))
        s.commit()
        assert s.execute(differ).scalar_one() == 0
        found = text(
            "SELECT count(*) FROM opportunity WHERE search_vector @@ to_tsquery('english', :q)"
        )
        assert s.execute(found, {"q": "zebra"}).scalar_one() == again.opportunities_changed
        assert s.execute(found, {"q": "roof & slate"}).scalar_one() >= 1


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_search_vectors_are_left_to_the_trigger_when_the_workers_cannot_ask(
    engine, tmp_path, monkeypatch
) -> None:
    """A worker that cannot reach the database for vectors says so once and goes on; the
    trigger makes every vector, and nothing else changes."""
    import orjson

    import models.store.store as store
    from bench.common import real_releases, scaled_records

    records = list(scaled_records(len(real_releases()) // 4))
    crawl = tmp_path / "crawl.jsonl"
    crawl.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    monkeypatch.setattr(store, "_search_url", lambda s: "postgresql://nobody@127.0.0.1:1/none")
    with Session(engine) as s:
        r = store.store_jsonl(s, crawl, "find_a_tender", NOW, True, 50, workers=1)
        assert r.inserted == len(records) and r.rejected == 0
        differ = f"SELECT count(*) FROM opportunity WHERE search_vector IS DISTINCT FROM {_VECTOR}"
        assert s.execute(text(differ)).scalar_one() == 0


def test_a_procurement_split_across_batches_is_still_new_after_the_store(
    engine, db_url, tmp_path
) -> None:
    """Every real release of the captures stored a batch of one at a time (each OCID with
    several releases split across batches) ends as one transaction leaves it: version 1,
    its one "new" event, no change counted; the same opportunities as stored in one batch."""
    from bench.common import real_releases, scaled_records
    from models.store.db import make_engine, migrate

    records = list(scaled_records(len(real_releases())))
    ocids = [r["payload"]["ocid"] for r in records]
    split = {o for o in ocids if ocids.count(o) > 1}
    assert len(split) >= 5

    def stored(url: str, batch: int) -> tuple[Any, ...]:
        eng = make_engine(url)
        with Session(eng) as s:
            r = store_records(s, records, NOW, commit_batches=True, batch_size=batch)
            opps, blocks, events = _stored_state(s)
        eng.dispose()
        for o in opps.values():  # which listing is kept as canonical may differ by order
            o.pop("canonical_id"), o.pop("duplicate_reasons")
        return r, opps, blocks, events

    r, opps, blocks, events = stored(db_url, 1)
    assert r.opportunities_changed == 0 and r.events == r.opportunities_new == len(opps)
    assert {o["version"] for o in opps.values()} == {1}
    assert sorted(events) == sorted((o, "new", 1) for o in opps)
    whole_url = f"sqlite:///{tmp_path / 'whole.db'}"
    migrate(whole_url)
    _, opps1, blocks1, events1 = stored(whole_url, 1000)
    assert opps == opps1 and blocks == blocks1 and events == events1
