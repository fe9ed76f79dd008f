"""The store's dialect fast paths (models.store.upsert) on SQLite and PostgreSQL: the same
rows as the plain query, and the storage settings of migrations 0012 to 0016."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select

from bench.common import scaled_records
from models import dedupe
from models.store.db import alembic_config, make_engine
from models.store.listings import _load, _rare_words, key_hash
from models.store.store import store_records
from models.store.tables import Notice, Opportunity, OpportunityBlock, OpportunityRef
from models.store.types import LZ4_MAGIC
from models.store.upsert import (
    insert_plain_rows,
    insert_rows,
    next_ids,
    select_in,
    select_plain_in,
)


@contextmanager
def _session(db_url: str) -> Iterator[Session]:
    """A session on an engine of its own, disposed after: the migration tests change the
    schema between steps."""
    engine = make_engine(db_url)
    try:
        with Session(engine) as s:
            yield s
    finally:
        engine.dispose()


def _opportunities(s: Session, n: int) -> list[int]:
    rows = [Opportunity(ocid=f"ocds-test-{i}", title=f"t{i}") for i in range(n)]
    s.add_all(rows)
    s.flush()
    return [int(r.id) for r in rows if r.id is not None]


def test_select_plain_in_returns_each_matching_row_once(engine) -> None:
    """Text values (one joined parameter on PostgreSQL, IN lists on SQLite)."""
    cols = ("value", "opportunity_id")
    with Session(engine) as s:
        ids = _opportunities(s, 30)
        rows = [(f"k:{i % 7}", oid) for i, oid in enumerate(ids)] + [("shared", ids[0])]
        insert_plain_rows(s, OpportunityRef, cols, rows)
        # keys asked twice, keys stored nowhere, and more keys than one IN list would take
        probe = ["k:1", "k:1", "k:3", "shared", "absent"] + [f"none:{i}" for i in range(6000)]
        got = select_plain_in(s, OpportunityRef, cols, "value", probe)
        q = select(OpportunityRef.value, OpportunityRef.opportunity_id).where(
            OpportunityRef.value.in_(["k:1", "k:3", "shared"])  # type: ignore[attr-defined]
        )
        want = sorted(tuple(r) for r in s.execute(q))
        assert sorted(got) == want and len(want) == len(set(want)) == 10
        assert select_plain_in(s, OpportunityRef, ("value",), "value", []) == []
        # a value holding the separator of PostgreSQL's joined text parameter: sent as an array
        odd = "k:\x1f:1"
        insert_plain_rows(s, OpportunityRef, cols, [(odd, ids[1])])
        got = select_plain_in(s, OpportunityRef, cols, "value", [odd, "k:1"])
        assert sorted(got) == sorted([(odd, ids[1]), *(r for r in want if r[0] == "k:1")])
        assert select_plain_in(s, OpportunityRef, ("value",), "value", ["k:"]) == []


def test_select_plain_in_of_hashed_keys(engine) -> None:
    """64-bit integer values (hashed blocking keys, ``key_hash``: the whole signed range;
    one text parameter cast by the server on PostgreSQL), asked twice, absent, and more
    than one IN list holds."""
    cols = ("key", "opportunity_id")
    keys = [key_hash(f"k:{i % 7}") for i in range(30)] + [-(2**63), 2**63 - 1, 0]
    assert len(set(keys)) == 10 and min(keys) < 0 < max(keys)
    with Session(engine) as s:
        ids = _opportunities(s, len(keys))
        insert_plain_rows(s, OpportunityBlock, cols, list(zip(keys, ids, strict=True)))
        asked = [keys[1], keys[1], keys[3], -(2**63), 2**63 - 1, key_hash("absent")]
        asked += list(range(1, 6001))
        got = select_plain_in(s, OpportunityBlock, cols, "key", asked)
        want = sorted((k, i) for k, i in zip(keys, ids, strict=True) if k in set(asked))
        assert sorted(got) == want and len(want) == 11  # k:1 5 rows, k:3 4, the ends 1 each


def test_next_ids_are_the_ids_inserts_would_get(engine) -> None:
    """``next_ids``: the ids the next rows inserted without one would get, in order; rows
    inserted with them, the next row without one comes after them (the store links new
    opportunities before it inserts them, with these ids)."""
    with Session(engine) as s:
        first = _opportunities(s, 3)
        taken = next_ids(s, Opportunity, 4)
        assert taken == list(range(max(first) + 1, max(first) + 5))
        assert next_ids(s, Opportunity, 0) == []
        s.add_all(Opportunity(id=i, ocid=f"ocds-taken-{i}", title="t") for i in taken)
        s.flush()
        after = Opportunity(ocid="ocds-after", title="t")
        s.add(after)
        s.flush()
        assert after.id == max(taken) + 1


def test_select_in_returns_the_rows_of_a_plain_in_typed(engine) -> None:
    """``select_in`` (one JSON array on SQLite, one array on PostgreSQL): the rows a plain
    ``IN`` gives, with SQLAlchemy's result types, whatever the values hold (quotes,
    backslashes, non-ASCII, the separator of a joined parameter), asked twice or absent."""
    when = datetime(2026, 10, 6, 18, 0, tzinfo=UTC)
    odd = ["ocds-é-1", 'o\'brien "x"', "back\\slash", "k:\x1f:1", "tab\there", "plain"]
    with Session(engine) as s:
        s.add_all(Opportunity(ocid=o, title=o, deadline=when) for o in odd)
        s.add_all(Opportunity(ocid=f"ocds-n-{i}", title="t") for i in range(50))
        s.flush()
        asked = [*odd, odd[0], "absent", *(f"ocds-n-{i}" for i in range(0, 2000, 3))]
        table = Opportunity.__table__  # type: ignore[attr-defined]
        q = select(table.c.id, table.c.ocid, table.c.deadline)
        got = select_in(s, q, table.c.ocid, asked)
        want = list(s.execute(q.where(table.c.ocid.in_(asked))))
    assert sorted(map(tuple, got)) == sorted(map(tuple, want)) and len(got) == len(odd) + 17
    assert {r.ocid for r in got if r.deadline == when} == set(odd)
    assert all(r.deadline is None or r.deadline.tzinfo is not None for r in got)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_select_plain_in_leaves_the_planner_settings_as_they_were(engine) -> None:
    with Session(engine) as s:
        ids = _opportunities(s, 2)
        insert_plain_rows(s, OpportunityBlock, ("key", "opportunity_id"), [(7, ids[0])])
        insert_plain_rows(s, OpportunityRef, ("value", "opportunity_id"), [("a", ids[0])])
        before = s.execute(text("SHOW enable_seqscan")).scalar_one()
        assert select_plain_in(s, OpportunityBlock, ("opportunity_id",), "key", [7]) == [(ids[0],)]
        assert select_plain_in(s, OpportunityRef, ("opportunity_id",), "value", ["a"]) == [
            (ids[0],)
        ]
        assert s.execute(text("SHOW enable_seqscan")).scalar_one() == before == "on"


def _raw_notice(s: Session, source_id: str, ocid: str, payload: Any, cast: str = "") -> None:
    """A notice written as an earlier store wrote it: its payload as JSON text, cast to the
    column's type of that time (``cast``), past the payload type of today."""
    value = f"CAST(:p AS {cast})" if cast else ":p"
    s.execute(
        text(
            "INSERT INTO notice (source, source_id, ocid, format, url, stage, title, "
            "content_hash, payload) VALUES ('s', :id, :ocid, 'ocds-release', '', "
            f"'unknown', '', 'h', {value})"
        ),
        {"id": source_id, "ocid": ocid, "p": orjson.dumps(payload).decode()},
    )


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_payloads_are_packed_frames_stored_as_they_are_on_postgresql(engine) -> None:
    """0014: bytea, out of line and not compressed again (the store packs it), lz4 frames."""
    with Session(engine) as s:
        q = text(
            "SELECT format_type(atttypid, atttypmod), attstorage FROM pg_attribute "
            "WHERE attrelid = 'notice'::regclass AND attname = 'payload'"
        )
        assert tuple(s.execute(q).one()) == ("bytea", "e")
        payload = {"b": 1, "t": "Caf\u00e9 roofing " * 300}
        s.add(Notice(source="s", source_id="1", ocid="o", content_hash="h", payload=payload))
        s.flush()
        raw = s.execute(text("SELECT payload FROM notice")).scalar_one()
        assert bytes(raw[:4]) == LZ4_MAGIC and len(raw) < len(orjson.dumps(payload)) / 10
        s.expire_all()
        assert s.exec(select(Notice.payload)).one() == payload


def test_0014_down_and_up_keeps_payloads(db_url: str) -> None:
    """Down to 0013 (json payloads on PostgreSQL: the packed frames unpacked) and up again
    (the text kept as its bytes): every payload reads back the same, packed or not."""
    cfg = alembic_config(db_url)
    first = {"id": "r1", "tender": {"title": "Caf\u00e9 \u2013 roofing " * 50}}
    second = {"id": "r2", "n": [1, 2.5, None]}
    with _session(db_url) as s:
        s.add(Notice(source="s", source_id="r1", ocid="o1", content_hash="h", payload=first))
        s.commit()
    command.downgrade(cfg, "0013")
    with _session(db_url) as s:
        if s.get_bind().dialect.name == "postgresql":
            kind = s.execute(text("SELECT pg_typeof(payload)::text FROM notice")).scalar_one()
            assert kind == "json"
            # json text, as 0013 kept it (a row the store of that time wrote)
            _raw_notice(s, "r2", "o2", second, "json")
            got = s.execute(text("SELECT payload FROM notice ORDER BY source_id")).scalars()
            assert list(got) == [first, second]
        else:
            s.add(Notice(source="s", source_id="r2", ocid="o2", content_hash="h", payload=second))
        s.commit()
    command.upgrade(cfg, "head")
    with _session(db_url) as s:
        got = s.exec(select(Notice.payload).order_by(Notice.source_id)).all()
        assert got == [first, second]
        s.add(Notice(source="s", source_id="r3", ocid="o3", content_hash="h", payload=first))
        s.commit()
        raw = s.execute(text("SELECT payload FROM notice WHERE source_id = 'r3'")).scalar_one()
        assert bytes(raw[:4]) == LZ4_MAGIC


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_0015_down_and_up_keeps_the_search_vectors(db_url: str) -> None:
    """0015 on PostgreSQL: the generated search vector becomes a plain column kept by a
    trigger (values kept); down to 0014 it is generated again. Search finds the same rows
    at each step, and rows written at each step are found."""
    cfg = alembic_config(db_url)
    generated = text(
        "SELECT attgenerated FROM pg_attribute "
        "WHERE attrelid = 'opportunity'::regclass AND attname = 'search_vector'"
    )
    found = text(
        "SELECT ocid FROM opportunity "
        "WHERE search_vector @@ to_tsquery('english', 'roof') ORDER BY ocid"
    )

    def step(ocid: str) -> tuple[str, list[str]]:
        with _session(db_url) as s:
            s.add(Opportunity(ocid=ocid, title="Roofing repairs", buyer_name="Kent"))
            s.commit()
            return s.execute(generated).scalar_one(), list(s.execute(found).scalars())

    assert step("o1") == ("", ["o1"])
    command.downgrade(cfg, "0014")
    assert step("o2") == ("s", ["o1", "o2"])
    command.upgrade(cfg, "head")
    assert step("o3") == ("", ["o1", "o2", "o3"])


NOW = datetime(2026, 10, 6, 18, 0, tzinfo=UTC)


def test_0016_hashes_the_keys_a_store_of_0015_wrote(db_url: str) -> None:
    """0016 up from the text keys a store of 0015 wrote (each row's listing keys and what it
    carried, as linking worked them out), with real releases: the keys and refs are those
    today's store writes; down again, the text table holds the refs back. The migrated
    tables match the models."""
    cfg = alembic_config(db_url)
    records = list(scaled_records(400))
    with _session(db_url) as s:
        store_records(s, records, now=NOW, commit_batches=True)
        blocks = sorted(s.execute(text("SELECT key, opportunity_id FROM opportunityblock")))
        refs = sorted(s.execute(text("SELECT opportunity_id, value FROM opportunityref")))
        ids = list(s.execute(text("SELECT id FROM opportunity")).scalars())
        text_keys = []  # as 0015's linking wrote them
        for oid, (f, _c) in _load(s, ids).items():
            assert f is not None
            stored, _probes = dedupe.listing_key_sets(f, _rare_words(f))
            stored |= {f"sup:{x}" for x in f.suppliers}
            stored |= {f"tref:{f.tender_ref}"} if f.tender_ref else set()
            text_keys += [(k[:160], oid) for k in stored]
    assert len(blocks) > 10 * len(ids) and len(refs) > len(ids) and len(ids) > 300
    assert any(v.startswith("tref:") for _o, v in refs) and any(
        v.startswith("i:") for _o, v in refs
    )
    command.downgrade(cfg, "0015")
    with _session(db_url) as s:
        assert sorted(s.execute(text("SELECT opportunity_id, key FROM opportunityblock"))) == refs
        s.execute(text("DELETE FROM opportunityblock"))
        s.execute(
            text("INSERT INTO opportunityblock (key, opportunity_id) VALUES (:k, :o)"),
            [{"k": k, "o": o} for k, o in text_keys],
        )
        s.commit()
    command.upgrade(cfg, "head")
    with _session(db_url) as s:
        assert sorted(s.execute(text("SELECT key, opportunity_id FROM opportunityblock"))) == blocks
        assert sorted(s.execute(text("SELECT opportunity_id, value FROM opportunityref"))) == refs
        conn = s.connection()
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    ours = [d for d in diff if "opportunityblock" in repr(d) or "opportunityref" in repr(d)]
    assert ours == [], ours


def test_0013_down_and_up_keeps_payloads_and_keys(db_url: str) -> None:
    """Down to 0012 (JSONB payloads, keys checked against opportunities) with data in it,
    and up again: the payloads read back the same, the keys are kept, and a key of an
    opportunity not (yet) stored is no longer refused."""
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0012")
    payload = {"id": "r1", "tender": {"title": "Café \u2013 roofing", "value": {"amount": 1.5}}}
    with _session(db_url) as s:
        (oid,) = _opportunities(s, 1)
        if s.get_bind().dialect.name == "postgresql":  # JSONB then: as the store of 0012 wrote it
            _raw_notice(s, "r1", "o", payload, "jsonb")
        else:
            s.add(Notice(source="s", source_id="r1", ocid="o", content_hash="h", payload=payload))
        insert_plain_rows(s, OpportunityBlock, ("key", "opportunity_id"), [("k", oid)])
        s.commit()
        # 0012: the foreign key holds (the DB-API's own error: a plain-value fast path)
        with pytest.raises((IntegrityError, psycopg.IntegrityError, sqlite3.IntegrityError)):
            insert_plain_rows(s, OpportunityBlock, ("key", "opportunity_id"), [("k", oid + 9)])
        s.rollback()
    command.upgrade(cfg, "head")
    with _session(db_url) as s:
        assert s.exec(select(Notice.payload)).one() == payload
        assert s.exec(select(OpportunityBlock.key, OpportunityBlock.opportunity_id)).all() == [
            (key_hash("k"), oid)  # (hashed by 0016)
        ]
        insert_plain_rows(s, OpportunityBlock, ("key", "opportunity_id"), [(1, oid + 9)])
        s.commit()


def test_insert_rows_stores_what_sqlalchemys_insert_stores(engine) -> None:
    """The fast path (COPY on PostgreSQL, multi-row INSERTs through the DB-API on SQLite) binds each
    value through its column type and fills in the columns' defaults as SQLAlchemy does."""
    now = datetime(2026, 10, 6, 18, 0, tzinfo=UTC)
    lists = {k: [] for k in ("regions", "lots", "sectors", "areas", "fit_reasons")}
    # times shared by rows (bound once each), none, and one instant given in another zone
    published = [None, now.astimezone(timezone(timedelta(hours=1))), now - timedelta(days=1)]
    rows = [
        {"ocid": f"ocds-fast-{i}", "title": f"Roofing {i}", "cpv_codes": ["45261000", "45262000"],
         "deadline": now, "published_at": published[i], "value_amount": 1500.5 * i,
         "sources": ["find_a_tender"], "duplicate_reasons": [], **lists}
        for i in range(3)
    ]  # fmt: skip
    cols = [c for c in Opportunity.__table__.c if c.name not in ("id", "search_vector")]  # type: ignore[attr-defined]
    with Session(engine) as s:
        insert_rows(s, Opportunity, rows)
        s.execute(insert(Opportunity.__table__), [{**r, "ocid": r["ocid"] + "-core"} for r in rows])  # type: ignore[attr-defined]
        got = {r.ocid: tuple(r)[1:] for r in s.execute(select(*cols).order_by(cols[0]))}
        # as stored, too (COPY takes the serialiser's text, SQLAlchemy a Json wrapper
        # psycopg dumps; these list columns are JSONB on PostgreSQL, which normalises the
        # text: the payload below is json, kept as it was given)
        as_text = ", ".join(f'CAST("{c.name}" AS TEXT)' for c in cols[1:])
        texts = {
            o: rest for o, *rest in s.execute(text(f"SELECT ocid, {as_text} FROM opportunity"))
        }
    assert len(got) == 6
    for r in rows:
        fast, core = got[r["ocid"]], got[r["ocid"] + "-core"]
        assert fast == core
        row = dict(zip([c.name for c in cols[1:]], fast, strict=True))
        assert row["deadline"] == now and row["cpv_codes"] == ["45261000", "45262000"]
        assert row["published_at"] == r["published_at"]
        assert (row["stage"], row["fit_score"], row["value_band"]) == ("unknown", 50, "not_stated")
        assert texts[r["ocid"]] == texts[r["ocid"] + "-core"]
    # a decorated JSON column (the notice payload) the same way
    notice = {"source": "find_a_tender", "source_id": "n-1", "ocid": "ocds-fast-0",
              "format": "ocds-release", "content_hash": "h", "fetched_at": now, "stored_at": now,
              "payload": {"b": [1, 2.5, None], "a": "é"}}  # fmt: skip
    with Session(engine) as s:
        insert_rows(s, Notice, [notice])
        s.execute(insert(Notice.__table__), [{**notice, "source_id": "n-2"}])  # type: ignore[attr-defined]
        payloads = s.execute(text("SELECT payload FROM notice ORDER BY source_id")).all()
    assert len(payloads) == 2 and payloads[0] == payloads[1] and payloads[0][0]


def test_payloads_are_kept_whole_and_read_back_the_same(engine) -> None:
    """Both databases keep a payload as an lz4 frame and give back the payload stored. A
    payload stored as JSON text before payloads were packed reads back as it is."""
    payload = {
        "id": "r1",
        "tender": {"title": "Caf\u00e9 roofing " * 200, "value": {"amount": 1.5}},
    }
    with Session(engine) as s:
        s.add(Notice(source="s", source_id="r1", ocid="o1", content_hash="h", payload=payload))
        s.flush()
        raw = s.execute(text("SELECT payload FROM notice WHERE source_id = 'r1'")).scalar_one()
        if engine.dialect.name == "sqlite":
            assert isinstance(raw, bytes) and raw[:4] == b"\x04\x22\x4d\x18"  # lz4 frame magic
            assert len(raw) < len(orjson.dumps(payload)) / 10
            _raw_notice(s, "old", "o2", {"id": "old", "n": [1, 2]})
            assert s.exec(select(Notice.payload).where(Notice.source_id == "old")).one() == {
                "id": "old",
                "n": [1, 2],
            }
        else:  # a frame in bytea (0014)
            assert bytes(raw[:4]) == LZ4_MAGIC and len(raw) < len(orjson.dumps(payload)) / 10
        s.commit()
        s.expire_all()
        assert s.exec(select(Notice.payload).where(Notice.source_id == "r1")).one() == payload


_LISTS: dict[str, list[str]] = {
    k: []
    for k in ("cpv_codes", "regions", "lots", "sectors", "areas", "fit_reasons", "sources",
              "duplicate_reasons")
}  # fmt: skip


def test_inserts_split_over_several_statements_store_every_row(engine, monkeypatch) -> None:
    """SQLite writes many rows as multi-row INSERT statements of at most SQLITE_PARAMS
    parameters: a batch split at any row stores every row once, conflicts resolved across
    statements, and the FTS5 index (kept by triggers) finds each."""
    import models.store.upsert as upsert_mod

    monkeypatch.setattr(upsert_mod, "SQLITE_PARAMS", 100)  # 2 opportunity rows a statement
    rows = [{"ocid": f"ocds-split-{i}", "title": f"Gritting route {i}", **_LISTS} for i in range(7)]
    keys = [(i % 3, i + 1) for i in range(250)]  # 50 a statement
    with Session(engine) as s:
        insert_rows(s, Opportunity, rows)
        ids = dict(s.execute(select(Opportunity.ocid, Opportunity.id)).all())
        assert sorted(ids) == sorted(r["ocid"] for r in rows)
        insert_plain_rows(s, OpportunityBlock, ("key", "opportunity_id"), keys)
        got = select_plain_in(s, OpportunityBlock, ("key", "opportunity_id"), "key", [1])
        assert sorted(got) == sorted(k for k in keys if k[0] == 1)
        notices = [
            {"source": "s", "source_id": f"n{i}", "ocid": f"o{i}", "content_hash": "h1",
             "payload": {"id": i}}
            for i in range(5)
        ]  # fmt: skip
        upsert_mod.upsert(s, Notice, notices, keys=["source", "source_id"], update=["content_hash"])
        again = [{**n, "content_hash": "h2"} for n in notices[2:]] + [
            {**notices[0], "source_id": "n9", "content_hash": "h2"}
        ]
        upsert_mod.upsert(s, Notice, again, keys=["source", "source_id"], update=["content_hash"])
        stored = dict(s.execute(select(Notice.source_id, Notice.content_hash)).all())
        assert stored == {"n0": "h1", "n1": "h1", "n2": "h2", "n3": "h2", "n4": "h2", "n9": "h2"}
        if engine.dialect.name == "sqlite":
            found = s.execute(
                text("SELECT rowid FROM opportunity_fts WHERE opportunity_fts MATCH 'gritting'")
            ).scalars()
            assert sorted(found) == sorted(ids.values())
            s.execute(
                text("INSERT INTO opportunity_fts(opportunity_fts) VALUES('integrity-check')")
            )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_background_checkpoints_copy_committed_batches_into_the_database_file(
    engine, db_url: str
) -> None:
    """While an import commits batch after batch, a thread checkpoints the WAL (the writer's
    own checkpoints are off), and the writer's are on again after."""
    import threading
    import time

    from models.store.db import background_checkpoints, sqlite_path

    path = sqlite_path(db_url)

    def in_database_file() -> int:
        # immutable: the file as it is, without the WAL: only checkpointed pages
        con = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
        try:
            return int(con.execute("SELECT count(*) FROM opportunity").fetchone()[0])
        finally:
            con.close()

    with Session(engine) as s:
        writer = s.connection().connection.driver_connection
        with background_checkpoints(s) as committed:
            assert writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
            for batch in range(3):
                rows = [{"ocid": f"ocds-ck-{batch}-{i}", **_LISTS} for i in range(50)]
                insert_rows(s, Opportunity, rows)
                s.commit()
                committed()
            deadline = time.monotonic() + 20
            while in_database_file() < 150 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert in_database_file() == 150
        assert writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        assert not [t for t in threading.enumerate() if t.name == "sqlite-checkpoint"]


def test_update_rows_sets_each_rows_values_and_keeps_the_search_index(engine, monkeypatch) -> None:
    """update_rows binds values by column type (JSON lists, NULLs, datetimes), touches only
    the rows named, and over several statements (SQLite) updates each once; the FTS5 index
    follows a changed title."""
    import models.store.upsert as upsert_mod

    monkeypatch.setattr(upsert_mod, "SQLITE_PARAMS", 12)  # 3 rows a statement of 4 values
    now = datetime(2026, 10, 6, 18, 0, tzinfo=UTC)
    rows = [{"ocid": f"ocds-up-{i}", "title": f"Mowing {i}", **_LISTS} for i in range(8)]
    with Session(engine) as s:
        insert_rows(s, Opportunity, rows)
        ids = dict(s.execute(select(Opportunity.ocid, Opportunity.id)).all())
        first = ids["ocds-up-0"]
        changes = [
            {"id": ids[f"ocds-up-{i}"], "canonical_id": first if i % 2 else None,
             "duplicate_reasons": [f"same procurement as ocds-up-0 ({i})"] if i % 2 else [],
             "title": f"Gritting {i}", "deadline": now}
            for i in range(1, 7)
        ]  # fmt: skip
        upsert_mod.update_rows(s, Opportunity, changes)
        got = {
            r.ocid: (r.canonical_id, r.duplicate_reasons, r.title, r.deadline)
            for r in s.exec(select(Opportunity))
        }
        for i in range(8):
            want = (
                (first if i % 2 else None,
                 [f"same procurement as ocds-up-0 ({i})"] if i % 2 else [],
                 f"Gritting {i}", now)
                if 1 <= i <= 6
                else (None, [], f"Mowing {i}", None)
            )  # fmt: skip
            assert got[f"ocds-up-{i}"] == want, i
        if engine.dialect.name == "sqlite":
            found = s.execute(
                text("SELECT rowid FROM opportunity_fts WHERE opportunity_fts MATCH 'gritting'")
            ).scalars()
            assert sorted(found) == sorted(c["id"] for c in changes)
            s.execute(
                text("INSERT INTO opportunity_fts(opportunity_fts) VALUES('integrity-check')")
            )
        with pytest.raises(ValueError, match="mixed shapes"):
            upsert_mod.update_rows(s, Opportunity, [changes[0], {"id": first, "title": "x"}])


def test_sqlite_utc_text_is_the_text_sqlalchemy_writes() -> None:
    """The fast paths' timestamp text on SQLite equals what SQLAlchemy's processors make of
    a UTCDateTime, for any instant, zone and microsecond (a stored timestamp is compared as
    text on SQLite: one digit different would reorder rows)."""
    import random
    from datetime import timedelta, timezone

    from sqlalchemy import create_engine

    from models.store.types import UTCDateTime, sqlite_utc_text

    dialect = create_engine("sqlite://").dialect
    sqlalchemy_text = UTCDateTime()._cached_bind_processor(dialect)
    assert sqlalchemy_text is not None
    rng = random.Random(7)
    start = datetime(1, 1, 1, tzinfo=UTC)
    values = [start, datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), None]
    for _ in range(20_000):
        v = start + timedelta(microseconds=rng.randrange(315_537_897_599_999_999))
        if rng.random() < 0.2:
            v = v.replace(microsecond=0)
        if rng.random() < 0.3 and 2 <= v.year <= 9998:
            v = v.astimezone(timezone(timedelta(minutes=rng.randrange(-720, 721))))
        values.append(v)
    for v in values:
        assert sqlite_utc_text(v) == sqlalchemy_text(v), v
    with pytest.raises(ValueError, match="naive"):
        sqlite_utc_text(datetime(2026, 10, 6))
