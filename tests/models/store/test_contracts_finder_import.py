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

from models.formats.contracts_finder_csv import normalise_cf_csv_row
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


# --- a Contracts Finder CSV export that does not lose data silently ---------------------------

CSV_2020 = "cf_search_export_csv_2020-04-16_open_notices_part1_even_rows.csv"


def export_rows(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
    return out.getvalue().encode("utf-8")


def import_file(engine, path: Path):
    """What ``bidbell import`` does with one file: (store result, errors kept)."""
    notices, errors = [], []
    for rec in read_file("contracts_finder_csv", "contracts_finder_csv", path):
        (notices if rec.kind == "notice" else errors).append(rec.model_dump())
    with Session(engine) as s:
        r = store_records(s, notices, now=NOW)
        kept = store_errors(s, errors)
        s.commit()
    return r, kept


def test_a_renamed_column_stores_nothing_and_says_which(engine, fixtures_dir, tmp_path) -> None:
    raw = (fixtures_dir / CF / CSV_2020).read_bytes()
    head, rest = raw.split(b"\r\n", 1)
    path = tmp_path / "renamed.csv"
    path.write_bytes(head.replace(b'"Closing Date"', b'"Closing date"') + b"\r\n" + rest)
    r, kept = import_file(engine, path)
    assert (r.received, kept) == (0, 1)  # not 500 notices without a deadline
    with Session(engine) as s:
        assert count(s, Notice, "contracts_finder_csv") == 0
        (err,) = s.exec(select(IngestError)).all()
        assert err.record is None and err.url == path.resolve().as_uri()
        assert "no 'Closing Date' column (perhaps renamed: 'Closing Date' as 'Closing date')" in (
            err.reason
        )
        assert str(path) in err.reason and err.body.startswith('"Notice Identifier"')


# The rows stored below: the first 100 real rows of the export, written back as the website
# writes them (the reader's own tests take all 500; storing is the slow part here).
STORED = 100


@pytest.fixture(scope="module")
def real_rows(fixtures_dir) -> tuple[list[str], list[list[str]]]:
    raw = (fixtures_dir / CF / CSV_2020).read_bytes().decode("utf-8")
    header, *rows = csv.reader(io.StringIO(raw, newline=""))
    return header, [list(r) for r in rows[:STORED]]


def test_an_oversized_row_costs_only_itself(engine, real_rows, tmp_path) -> None:
    header, rows = real_rows
    rows = [list(r) for r in rows]
    rows[9][header.index("Description")] = ("word " * 20 + "\r\n") * 100_000  # 10 MB
    path = tmp_path / "big.csv"
    path.write_bytes(export_rows(header, rows))
    r, kept = import_file(engine, path)
    assert (r.received, r.inserted, r.rejected, kept) == (STORED - 1, STORED - 1, 0, 1)
    with Session(engine) as s:
        assert count(s, Notice, "contracts_finder_csv") == STORED - 1
        (err,) = s.exec(select(IngestError)).all()
        assert (
            err.record == "row 10" and "is 10,2" in err.reason and "bytes, over the" in err.reason
        )
        assert rows[9][0].strip() in err.reason
        assert 65_536 < len(err.body) < 70_000 and "word word" in err.body


def test_a_stray_windows_1252_byte_stores_every_pound_sign(engine, real_rows, tmp_path) -> None:
    header, rows = real_rows
    good = export_rows(header, rows)
    at = good.index("£".encode())
    path = tmp_path / "stray.csv"
    path.write_bytes(good[:at] + b"\xa3" + good[at + 2 :])  # one "£" as a Windows-1252 byte
    r, kept = import_file(engine, path)
    assert (r.received, r.inserted, r.rejected, kept) == (STORED, STORED, 0, 0)
    published = [dict(zip(header, row, strict=True)) for row in rows]
    with Session(engine) as s:
        payloads = s.exec(select(Notice.payload).order_by(Notice.id)).all()
        assert payloads == published  # every row as published, the stray byte's row too
        texts = s.exec(select(Opportunity.title, Opportunity.description)).all()
    assert not any("Â" in t + d for t, d in texts)
    clean = [normalise_cf_csv_row("contracts_finder_csv", row) for row in published]
    pounds = sum((n.title + n.description).count("£") for n in clean)
    assert sum((t + d).count("£") for t, d in texts) == pounds > 5


def test_a_nul_in_a_row_costs_that_row_only(engine, real_rows, tmp_path) -> None:
    # PostgreSQL cannot hold NUL in text or JSON: one such row must not lose the import
    header, rows = real_rows
    rows = [list(r) for r in rows]
    rows[2][header.index("Description")] += "\x00 and after"
    path = tmp_path / "nul.csv"
    path.write_bytes(export_rows(header, rows))
    r, kept = import_file(engine, path)
    assert (r.received, r.inserted, r.rejected, kept) == (STORED - 1, STORED - 1, 0, 1)
    with Session(engine) as s:
        assert count(s, Notice, "contracts_finder_csv") == STORED - 1
        (err,) = s.exec(select(IngestError)).all()
        assert err.record == "row 3" and "holds a NUL byte" in err.reason
        assert "\\x00 and after" in err.body
