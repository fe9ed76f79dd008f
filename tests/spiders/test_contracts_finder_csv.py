"""Reading Contracts Finder's CSV export (spiders.sources.contracts_finder_csv), file by file
as ``bidbell import`` does, on the real export of 2020-04-16 mutilated by each test: a file
without a column the reader needs is refused whole; a stray Windows-1252 byte costs only
its own character; an oversized row is rejected with its body and the size it had, and the
rows after it are read; memory stays bounded by one row, not by the file."""

from __future__ import annotations

import csv
import io
import logging
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bidbell.records import RawError, RawNotice
from demo.replay.contracts_finder import CF_CSV_CAPTURE
from spiders.files import read_file
from spiders.sources.contracts_finder_csv import (
    ID_COLUMN,
    KEPT_BYTES,
    MAX_RECORD_BYTES,
    ContractsFinderCsvSpider,
    parse_record,
    split_records,
)

SOURCE = "contracts_finder_csv"
HEADER_ONLY_2021 = "cf_search_export_csv_2021-08-28_header_only_empty_result.csv"


@pytest.fixture(scope="module")
def raw(fixtures_dir: Path) -> bytes:
    return (fixtures_dir / "contracts-finder" / CF_CSV_CAPTURE).read_bytes()


@pytest.fixture(scope="module")
def table(raw: bytes) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the real export, read by the csv module alone."""
    header, *rows = csv.reader(io.StringIO(raw.decode("utf-8"), newline=""))
    return header, rows


@pytest.fixture(scope="module")
def published(table) -> list[dict[str, str]]:
    """Every row as published: header -> raw text."""
    header, rows = table
    return [dict(zip(header, r, strict=True)) for r in rows]


def export(header: list[str], rows: list[list[str]]) -> bytes:
    """Rows written back as the website writes them (CRLF, quoted where needed, UTF-8)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
    return out.getvalue().encode("utf-8")


def read(tmp_path: Path, data: bytes, name: str = "export.csv"):
    """(notices, errors) of a file holding ``data``, read as ``bidbell import`` reads it."""
    path = tmp_path / name
    path.write_bytes(data)
    recs = list(read_file(SOURCE, SOURCE, path))
    assert all(isinstance(r, RawNotice | RawError) for r in recs)
    return [r for r in recs if isinstance(r, RawNotice)], [r for r in recs if r.kind == "error"]


def test_the_real_exports_read_whole(tmp_path, raw, published, fixtures_dir) -> None:
    notices, errors = read(tmp_path, raw)
    assert errors == [] and [n.payload for n in notices] == published
    assert len(notices) == 500
    empty = (fixtures_dir / "contracts-finder" / HEADER_ONLY_2021).read_bytes()
    assert read(tmp_path, empty) == ([], [])  # the 2021 header (with Closing Time), no rows


# --- the header: a file without a column the reader needs is refused whole -----------------


def rename(raw: bytes, old: str, new: str) -> bytes:
    """The export with one column renamed in its header line (the rows untouched)."""
    head, rest = raw.split(b"\r\n", 1)
    names = next(csv.reader([head.decode()]))
    assert old in names
    return export_header([new if n == old else n for n in names]) + rest


def export_header(names: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(names)
    return out.getvalue().encode()


@pytest.mark.parametrize(
    ("mutilate", "missing", "hint"),
    [
        (lambda raw, t: rename(raw, "Closing Date", "Closing date"), ["'Closing Date'"], True),
        (lambda raw, t: rename(raw, "Title", "Notice Title"), ["'Title'"], True),
        (
            lambda raw, t: rename(rename(raw, "Title", "Name"), "Value Low", "Lowest Value"),
            ["'Title'", "'Value Low'"],
            False,
        ),
        (  # the column dropped from the header and every row
            lambda raw, t: export(
                [h for h in t[0] if h != "Published Date"],
                [[v for h, v in zip(t[0], r, strict=True) if h != "Published Date"] for r in t[1]],
            ),
            ["'Published Date'"],
            False,
        ),
    ],
    ids=["closing-date-renamed", "title-renamed", "two-renamed", "published-date-dropped"],
)
def test_a_file_without_a_needed_column_is_refused(
    tmp_path, raw, table, mutilate, missing, hint
) -> None:
    data = mutilate(raw, table)
    notices, errors = read(tmp_path, data, "renamed.csv")
    assert notices == [] and len(errors) == 1  # nothing read: not 500 rows with blank fields
    err = errors[0]
    assert err.record is None and err.url.endswith("/renamed.csv")
    assert str(tmp_path / "renamed.csv") in err.reason  # names the file
    assert f"has no {', '.join(missing)} column" in err.reason
    assert "nothing was read from the file" in err.reason
    assert ("perhaps renamed" in err.reason) is hint
    assert err.body == data.split(b"\r\n", 1)[0].decode() + "\r\n"  # the header as read


def test_a_file_without_the_identifier_is_not_an_export(tmp_path, raw) -> None:
    notices, errors = read(tmp_path, rename(raw, ID_COLUMN, "Reference"))
    assert notices == [] and len(errors) == 1
    assert "not a Contracts Finder CSV export (no 'Notice Identifier' column" in errors[0].reason


def test_a_column_named_twice_is_refused(tmp_path, raw) -> None:
    notices, errors = read(tmp_path, rename(raw, "Contact Name", "Title"))
    assert notices == [] and len(errors) == 1
    assert "names the column(s) 'Title' more than once" in errors[0].reason


def test_an_empty_file_is_refused(tmp_path) -> None:
    notices, errors = read(tmp_path, b"", "empty.csv")
    assert notices == [] and len(errors) == 1 and "empty.csv is empty" in errors[0].reason


# --- decoding, record by record ---------------------------------------------------------------


def test_a_stray_windows_1252_byte_costs_only_its_own_character(
    tmp_path, raw, published, caplog
) -> None:
    pound = "£".encode()
    first = raw.index(pound)
    row = next(i for i, r in enumerate(published) if "£" in "".join(r.values()))
    # The same "£" as one Windows-1252 byte, as an old export or a hand edit writes it
    data = raw[:first] + b"\xa3" + raw[first + len(pound) :]
    # and a Windows-1252 right quote in a title further down
    title = published[300]["Title"].encode()
    at = data.index(title)
    data = data[:at] + b"\x92" + data[at:]
    with caplog.at_level(logging.WARNING):
        notices, errors = read(tmp_path, data)
    assert errors == [] and len(notices) == 500
    payloads = [n.payload for n in notices]
    assert payloads[:300] + payloads[301:] == published[:300] + published[301:]
    assert payloads[row] == published[row]  # the stray byte read as the "£" it was
    assert payloads[300]["Title"] == "\u2019" + published[300]["Title"]
    assert not any("Â" in v for p in payloads for v in p.values())  # no "Â£" anywhere
    assert sum(v.count("£") for p in payloads for v in p.values()) == sum(
        v.count("£") for p in published for v in p.values()
    )
    warned = [r.getMessage() for r in caplog.records if "Windows-1252" in r.getMessage()]
    assert warned and f"row {row + 1} (1)" in warned[0] and "row 301 (1)" in warned[0]


def test_a_whole_windows_1252_export_reads_as_published(tmp_path, table) -> None:
    # exports were not always UTF-8: the same rows as Windows-1252 bytes read the same
    header, rows = table
    kept = [r for r in rows if "".join(r).encode("cp1252", "ignore").decode("cp1252") == "".join(r)]
    text = export(header, kept).decode("utf-8")
    assert len(kept) > 450 and sum("£" in "".join(r) for r in kept) > 30
    notices, errors = read(tmp_path, text.encode("cp1252"))
    assert errors == [] and [list(n.payload.values()) for n in notices] == kept


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path, raw, published) -> None:
    notices, errors = read(tmp_path, b"\xef\xbb\xbf" + raw)
    assert errors == [] and [n.payload for n in notices] == published


# --- oversized rows, files cut short, memory --------------------------------------------------


def written(header: list[str], row: list[str]) -> bytes:
    """One row as the export writes it (its bytes after the header)."""
    return export(header, [row])[len(export(header, [])) :]


def oversized(table, index: int, field: str) -> tuple[bytes, bytes]:
    """(the export with row ``index``'s Description replaced by ``field``, that row's bytes)"""
    header, rows = table
    big = [list(r) for r in rows]
    big[index][header.index("Description")] = field
    return export(header, big), written(header, big[index])


@pytest.mark.parametrize(
    "field",
    [
        "x" * (2 * MAX_RECORD_BYTES),  # one field of 2 MiB on one line
        ("word " * 20 + "\r\n") * 100_000,  # 10 MB of lines in one quoted field
    ],
    ids=["2MiB-one-line", "10MB-with-line-breaks"],
)
def test_an_oversized_row_is_rejected_with_its_body(tmp_path, table, published, field) -> None:
    header, rows = table
    data, record = oversized(table, 4, field)
    notices, errors = read(tmp_path, data)
    assert [n.payload for n in notices] == published[:4] + published[5:]  # 499 kept
    assert len(errors) == 1
    err = errors[0]
    first = 2 + sum(written(header, r).count(b"\n") for r in rows[:4])  # line 1: header
    last = first + record.count(b"\n") - 1
    lines = f"line {first}" if first == last else f"lines {first}-{last}"
    assert err.record == "row 5"
    assert err.reason.startswith(
        f"row 5 ({lines}, Notice Identifier {rows[4][0].strip()!r}) "
        f"is {len(record):,} bytes, over the {MAX_RECORD_BYTES:,} bytes one row may take"
    )
    assert err.reason.endswith(f"(its first {KEPT_BYTES:,} bytes are kept)")
    head = export(header, []).decode()
    assert err.body == head + record[:KEPT_BYTES].decode("utf-8", "ignore")  # raw, bounded


def test_reading_holds_one_row_at_a_time_not_the_file(tmp_path, table) -> None:
    data, _ = oversized(table, 4, ("word " * 20 + "\r\n") * 100_000)
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    assert len(data) > 10 * MAX_RECORD_BYTES
    tracemalloc.start()
    try:
        kinds = [r.kind for r in read_file(SOURCE, SOURCE, path)]  # records not kept
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kinds.count("notice") == 499 and kinds.count("error") == 1
    assert peak < 3 * MAX_RECORD_BYTES, f"peak {peak:,} bytes for a {len(data):,}-byte file"


def test_a_file_cut_inside_a_quoted_field(tmp_path, raw, published) -> None:
    last = published[-1]["Description"].encode()
    cut = raw[: raw.rindex(last) + len(last) // 2]  # the download stopped mid-description
    notices, errors = read(tmp_path, cut)
    assert [n.payload for n in notices] == published[:-1]
    assert len(errors) == 1 and errors[0].record == "row 500"
    assert "ends inside a quoted field at the end of the file" in errors[0].reason


def test_the_spider_reads_a_response_body_the_same_way(raw, published) -> None:
    recs = list(ContractsFinderCsvSpider.records_from_bytes(raw, "http://x/GetCsvFile", SOURCE))
    assert [r.payload for r in recs if isinstance(r, RawNotice)] == published


# --- the record splitter agrees with the csv module -------------------------------------------

TOKENS = st.sampled_from(["a", "bc", "é", "£", ",", '"', '""', "\r\n", "\n", " "])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(st.text(st.sampled_from('a,"\r\n é')), max_size=5), max_size=6))
def test_split_records_of_what_csv_writes(rows: list[list[str]]) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    data = out.getvalue().encode()
    chunks = list(split_records(io.BytesIO(data)))
    assert b"".join(c.data for c in chunks) == data
    parsed = [parse_record(c.data.decode()) for c in chunks]
    assert parsed == list(csv.reader(io.StringIO(out.getvalue(), newline="")))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TOKENS, max_size=40).map("".join))
def test_split_records_of_any_text(text: str) -> None:
    """Any text (quotes anywhere, unbalanced, line feeds with or without CR): the records
    split from the bytes parse to what the csv module reads from the whole text."""
    data = text.encode()
    chunks = list(split_records(io.BytesIO(data)))
    assert b"".join(c.data for c in chunks) == data
    expected = list(csv.reader(io.StringIO(text, newline="")))
    got: list[list[str]] = []
    for c in chunks:
        got.extend(csv.reader(io.StringIO(c.data.decode(), newline="")))
    assert got == expected
    assert all(not c.open_quote for c in chunks[:-1])


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 200), st.lists(TOKENS, min_size=1, max_size=60).map("".join))
def test_split_records_whatever_the_read_size(read_size: int, text: str) -> None:
    """Pieces of any size (a line longer than a read) split the same as whole lines."""
    data = text.encode()
    whole = [c.data for c in split_records(io.BytesIO(data))]
    assert [c.data for c in split_records(io.BytesIO(data), read_size)] == whole
