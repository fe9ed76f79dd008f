"""The store on SQLite and on PostgreSQL: idempotent imports, changes, bad records kept."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlmodel import Session, func, select

from models.store.db import MIGRATIONS, alembic_config, current_revision
from models.store.store import store_errors, store_records
from models.store.tables import IngestError, Notice, Opportunity
from spiders.files import read_file

NOW = datetime(2026, 10, 6, 18, 0, tzinfo=UTC)


def records(fts_files) -> list[dict]:
    return [
        r.model_dump() for f in fts_files for r in read_file("find_a_tender", "find_a_tender", f)
    ]


def count(session: Session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_migrations_create_every_table(engine, db_url) -> None:
    names = set(inspect(engine).get_table_names())
    assert {
        "notice",
        "opportunity",
        "organisation",
        "profile",
        "alert",
        "delivery",
        "sourcestate",
        "ingesterror",
        "opportunityevent",
        "opportunityblock",
        "opportunityref",
        "alembic_version",
    } <= names
    head = ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
    newest = max(p.name[:4] for p in (MIGRATIONS / "versions").glob("0*.py"))
    assert head == newest and current_revision(db_url) == head


def test_import_stores_every_record_once(engine, fts_files) -> None:
    recs = records(fts_files)
    assert len(recs) == 5
    with Session(engine) as s:
        r = store_records(s, recs, now=NOW)
        s.commit()
        assert (r.received, r.inserted, r.rejected, r.opportunities_new) == (5, 5, 0, 5)
        assert count(s, Notice) == 5 and count(s, Opportunity) == 5
        opp = s.exec(select(Opportunity).where(Opportunity.ocid == "ocds-h6vhtk-078219")).one()
        assert opp.deadline == datetime(2026, 11, 5, 12, 0, tzinfo=UTC)  # aware on both DBs
        assert opp.cpv_codes == ["85311000"] and opp.sources == ["find_a_tender"]
        assert opp.version == 1
        # the spider names the page a person reads; the store keeps it
        assert opp.url == "https://www.find-tender.service.gov.uk/Notice/094476-2026"
    with Session(engine) as s:  # again: nothing changes
        r = store_records(s, records(fts_files), now=NOW)
        s.commit()
        assert (
            r.inserted,
            r.updated,
            r.unchanged,
            r.opportunities_new,
            r.opportunities_changed,
        ) == (0, 0, 5, 0, 0)
        assert count(s, Notice) == 5 and count(s, Opportunity) == 5


def test_a_changed_notice_updates_its_opportunity(engine, fts_files) -> None:
    recs = records(fts_files)
    with Session(engine) as s:
        store_records(s, recs, now=NOW)
        s.commit()
    changed = copy.deepcopy(next(r for r in recs if r["source_id"] == "094476-2026"))
    changed["payload"]["tender"]["tenderPeriod"]["endDate"] = "2026-11-12T12:00:00+00:00"
    with Session(engine) as s:
        r = store_records(s, [changed], now=NOW)
        s.commit()
        assert (r.updated, r.opportunities_changed) == (1, 1)
        opp = s.exec(select(Opportunity).where(Opportunity.ocid == "ocds-h6vhtk-078219")).one()
        assert opp.deadline == datetime(2026, 11, 12, 12, 0, tzinfo=UTC)
        assert opp.version == 2


def test_a_bad_record_is_kept_and_the_others_stored(engine, fts_files) -> None:
    recs = records(fts_files)
    broken = copy.deepcopy(recs[0])
    broken["source_id"] = "broken-1"
    del broken["payload"]["ocid"]
    broken["payload"]["id"] = "broken-1"
    with Session(engine) as s:
        r = store_records(s, [broken, *recs[1:]], now=NOW)
        n = store_errors(
            s,
            [
                {
                    "source": "find_a_tender",
                    "url": "http://127.0.0.1/x",
                    "reason": "malformed page",
                    "body": '{"rel',
                }
            ],
        )
        s.commit()
        assert (r.inserted, r.rejected, n) == (4, 1, 1)
        errors = s.exec(select(IngestError).order_by(IngestError.id)).all()
        assert errors[0].source == "find_a_tender" and errors[0].record == "broken-1"
        assert "has no ocid" in errors[0].reason and '"broken-1"' in errors[0].body
        assert errors[1].body == '{"rel'
        assert count(s, Notice) == 4
