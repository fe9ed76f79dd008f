"""Importing each Contracts Finder capture stores every record in it, on SQLite and on
PostgreSQL: as many notices as the file has records, nothing rejected, nothing dropped."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from models.store.store import store_errors, store_records
from models.store.tables import IngestError, Notice, Opportunity
from spiders.files import read_file

NOW = datetime(2026, 10, 6, 18, 0, tzinfo=UTC)
CF = "contracts-finder"


def records_in(path: Path) -> int:
    """How many records the file itself holds, counted without our parsers' help."""
    if path.suffix == ".csv":
        text = path.read_bytes().decode("utf-8")
        return len(list(csv.reader(io.StringIO(text, newline="")))) - 1  # less the header
    return len(json.loads(path.read_text(encoding="utf-8"))["releases"])


def count(session: Session, model, source: str) -> int:
    q = select(func.count()).select_from(model).where(model.source == source)
    return session.exec(q).one()


@pytest.mark.parametrize(
    ("source", "files", "expected"),
    [
        ("contracts_finder", ["cf_ocds_search_2022-10-22_publishedTo_limit100.json"], 100),
        ("contracts_finder", ["legacy-2016-ocds/*.json"], 7),
        (
            "contracts_finder_csv",
            ["cf_search_export_csv_2020-04-16_open_notices_part1_even_rows.csv"],
            500,
        ),
        (
            "contracts_finder_csv",
            ["cf_search_export_csv_2021-08-28_header_only_empty_result.csv"],
            0,
        ),
    ],
    ids=["ocds-search", "legacy-2016", "csv-export", "csv-header-only"],
)
def test_import_stores_every_record(engine, fixtures_dir, source, files, expected) -> None:
    paths = sorted(p for pattern in files for p in (fixtures_dir / CF).glob(pattern))
    assert paths and sum(records_in(p) for p in paths) == expected
    notices, errors = [], []
    for path in paths:
        for rec in read_file(source, source, path):
            (notices if rec.kind == "notice" else errors).append(rec.model_dump())
    assert errors == [] and len(notices) == expected
    with Session(engine) as s:
        r = store_records(s, notices, now=NOW)
        assert store_errors(s, errors) == 0
        s.commit()
        assert (r.received, r.inserted, r.rejected) == (expected, expected, 0)
        assert count(s, Notice, source) == expected
        assert count(s, IngestError, source) == 0
        ocids = set(s.exec(select(Notice.ocid).where(Notice.source == source)).all())
        assert s.exec(select(func.count()).select_from(Opportunity)).one() == len(ocids)
    with Session(engine) as s:  # again: nothing changes, nothing is added
        again = store_records(s, notices, now=NOW)
        s.commit()
        assert (again.unchanged, again.inserted, again.updated) == (expected, 0, 0)
        assert count(s, Notice, source) == expected


def test_imported_csv_opportunities_keep_the_export_facts(engine, fixtures_dir) -> None:
    path = fixtures_dir / CF / "cf_search_export_csv_2020-04-16_open_notices_part1_even_rows.csv"
    recs = [r.model_dump() for r in read_file("contracts_finder_csv", "contracts_finder_csv", path)]
    with Session(engine) as s:
        store_records(s, recs, now=NOW)
        s.commit()
        opp = s.exec(
            select(Opportunity).where(Opportunity.ocid == "bidbell-cf-tender_205996/802922")
        ).one()
        assert opp.is_subcontract is True and opp.parent_reference == "tender_205996/784573"
        assert opp.sources == ["contracts_finder_csv"] and opp.buyer_name == "Highways England"
        kent = s.exec(
            select(Opportunity).where(Opportunity.ocid == "bidbell-cf-KENT001-DN455447-64717365")
        ).one()
        assert kent.deadline == datetime(2020, 4, 17, 22, 59, 59, tzinfo=UTC)  # aware on both
        assert kent.regions == ["UKJ"] and kent.buyer_postcode == "ME14 1XQ"


def test_a_bad_row_is_kept_as_an_error_not_dropped(engine, fixtures_dir, tmp_path) -> None:
    src = fixtures_dir / CF / "cf_search_export_csv_2020-04-16_open_notices_part1_even_rows.csv"
    header, first, second, *_ = csv.reader(io.StringIO(src.read_bytes().decode(), newline=""))
    second[header.index("Closing Date")] = "next Tuesday"  # readable row, unreadable date
    first_copy = list(first)
    first_copy[header.index("Title")] += " (again)"  # same identifier twice in one file
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header, first, second, first_copy])
    path = tmp_path / "export.csv"
    path.write_bytes(out.getvalue().encode())
    notices, errors = [], []
    for rec in read_file("contracts_finder_csv", "contracts_finder_csv", path):
        (notices if rec.kind == "notice" else errors).append(rec.model_dump())
    with Session(engine) as s:
        r = store_records(s, notices, now=NOW)
        kept = store_errors(s, errors)
        s.commit()
        assert (r.received, r.inserted, r.rejected, kept) == (2, 1, 1, 1)
        rows = s.exec(select(IngestError).order_by(IngestError.id)).all()
        assert len(rows) == 2
        reasons = sorted(e.reason for e in rows)
        assert reasons[0] == "Closing Date is not a date: 'next Tuesday'"
        assert reasons[1].startswith("row 3 (line") and "repeats Notice Identifier" in reasons[1]
        assert all(e.source == "contracts_finder_csv" and e.body for e in rows)
