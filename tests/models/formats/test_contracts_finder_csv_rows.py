"""The Contracts Finder CSV reader (spider's file reader + format reader) on real rows
mutated by the test: whatever a row holds, reading gives a RawNotice or a RawError and
normalising gives NoticeFields or a NormaliseError, never another exception; the rows
beside a mutated one come out as published. And the spider's required/optional column lists
are exactly the columns the format reader reads."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bidbell.records import RawError, RawNotice
from demo.replay.contracts_finder import CF_CSV_CAPTURE
from models.formats.contracts_finder_csv import normalise_cf_csv_row
from models.formats.fields import NormaliseError, NoticeFields
from spiders.sources.contracts_finder_csv import (
    KEPT_BYTES,
    MAX_RECORD_BYTES,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    ContractsFinderCsvSpider,
)

SOURCE = "contracts_finder_csv"
SUBSET = 30  # rows of the real export around the mutated one (kept small: many examples)


@pytest.fixture(scope="module")
def table(fixtures_dir: Path) -> tuple[list[str], list[list[str]]]:
    raw = (fixtures_dir / "contracts-finder" / CF_CSV_CAPTURE).read_bytes().decode("utf-8")
    header, *rows = csv.reader(io.StringIO(raw, newline=""))
    return header, rows


class ReadColumns(dict):
    """A row that notes which columns the reader asks for."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.asked: set[str] = set()

    def get(self, key: Any, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        self.asked.add(key)
        return super().__getitem__(key)


def test_the_required_columns_are_the_ones_the_reader_reads(table) -> None:
    header, rows = table
    asked: set[str] = set()
    for r in rows:
        row = ReadColumns(zip(header, r, strict=True))
        normalise_cf_csv_row(SOURCE, row)
        asked |= row.asked
    # every column read is one the spider requires (or allows to be absent)...
    assert asked == set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    # ...every required one is in the real 2020 export, the optional one is not (2021 on)
    assert set(REQUIRED_COLUMNS) <= set(header) and not set(OPTIONAL_COLUMNS) & set(header)


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "1e400", "9" * 400, "lots"])
def test_a_value_that_is_not_a_finite_number_is_refused_by_name(table, text) -> None:
    header, rows = table
    row = dict(zip(header, rows[0], strict=True), **{"Value High": text})
    with pytest.raises(NormaliseError, match=r"^Value High is not a number"):
        normalise_cf_csv_row(SOURCE, row)


def outcome(source: str, payload: Any) -> NoticeFields | NormaliseError:
    try:
        return normalise_cf_csv_row(source, payload)
    except NormaliseError as exc:
        return exc


ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
VALUES = st.one_of(
    ANY_TEXT,
    st.just(""),
    st.sampled_from(
        [
            "01/01/2001",
            "31/02/2026",
            "29/02/2024 25:61",
            "2026-13-01T00:00:00Z",
            "1e400",
            "-5",
            "0",
            "£1,000",
            "YES",
            "Any region",
            "Nationwide",
        ]
    ),
    st.builds(
        lambda s, n: s * n, st.text('x\r\n,"é', min_size=1, max_size=3), st.integers(1, 200_000)
    ),
    st.none(),
    st.integers(),
    st.lists(st.text(max_size=3), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 499),
    st.dictionaries(st.sampled_from(REQUIRED_COLUMNS + OPTIONAL_COLUMNS), VALUES, min_size=1),
)
def test_any_field_values_normalise_or_are_refused(table, index, changes) -> None:
    header, rows = table
    row: dict[str, Any] = dict(zip(header, rows[index], strict=True), **changes)
    result = outcome(SOURCE, row)
    assert isinstance(result, NoticeFields | NormaliseError)
    if isinstance(result, NormaliseError):
        assert str(result) and len(str(result)) < 1000  # a reason, not the payload again


def mutated_export(header: list[str], rows: list[list[str]], at: int, data: st.DataObject):
    """The rows written as the website writes them, row ``at`` mutated in one of the ways
    outside data goes wrong: text of any kind, huge or empty fields, missing or extra
    fields, other encodings, stray bytes."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for r in rows[:at]:
        writer.writerow(r)
    before = out.getvalue().encode("utf-8")
    row = list(rows[at])
    kind = data.draw(st.sampled_from(["fields", "count", "encoding", "bytes"]), label="kind")
    if kind == "fields":
        for column in data.draw(st.lists(st.sampled_from(header), min_size=1, max_size=4)):
            row[header.index(column)] = data.draw(
                st.one_of(
                    ANY_TEXT,
                    st.just(""),
                    st.builds(
                        lambda s, n: s * n,
                        st.text('x\r\n,"é', min_size=1, max_size=3),
                        st.integers(1, 700_000),
                    ),
                )
            )
    elif kind == "count":
        n = data.draw(st.integers(0, len(header) + 5))
        row = (row + [""] * n)[:n]
    mid = io.StringIO()
    csv.writer(mid, lineterminator="\r\n").writerow(row)
    middle = mid.getvalue().encode("utf-8")
    if kind == "encoding":  # the row's text in another encoding, the file's line end after it
        middle = (
            mid.getvalue()[:-2].encode(
                data.draw(st.sampled_from(["cp1252", "latin-1", "utf-16-le", "mac-roman"])),
                "replace",
            )
            + b"\r\n"
        )
    elif kind == "bytes":  # stray bytes (no quote: one opens a field that swallows the rest)
        stray = data.draw(st.binary(min_size=1, max_size=8).filter(lambda b: b'"' not in b))
        pos = data.draw(st.integers(0, len(middle) - 2))  # before the row's own line end
        # not just before a field's opening quote: that damage can cost the rows after it
        # (CSV cannot resynchronise; the reader's module documents it)
        opens = middle[pos : pos + 1] == b'"' and (pos == 0 or middle[pos - 1 : pos] == b",")
        assume(not opens)
        middle = middle[:pos] + stray + middle[pos:]
    after = io.StringIO()
    csv.writer(after, lineterminator="\r\n").writerows(rows[at + 1 :])
    return before + middle + after.getvalue().encode("utf-8")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 499 - SUBSET), st.integers(0, SUBSET - 1), st.data())
def test_a_mutated_row_never_costs_the_rows_beside_it(table, start, at, data) -> None:
    header, all_rows = table
    rows = all_rows[start : start + SUBSET]
    body = mutated_export(header, rows, at, data)
    records = list(ContractsFinderCsvSpider.records_from_bytes(body, "file:///m.csv", SOURCE))
    assert all(isinstance(r, RawNotice | RawError) for r in records)
    notices = [r for r in records if isinstance(r, RawNotice)]
    payloads = [n.payload for n in notices]
    for i, r in enumerate(rows):  # every untouched row, as published
        if i != at:
            assert dict(zip(header, r, strict=True)) in payloads
    for e in records:
        if isinstance(e, RawError):  # a rejection names the row and says why
            assert e.record and e.record.startswith("row ") and e.reason
            # kept whole up to MAX_RECORD_BYTES, an oversized row only its start (a NUL is
            # kept as the 4 characters \x00), behind the header line
            most = KEPT_BYTES if "bytes are kept" in e.reason else MAX_RECORD_BYTES
            assert len(e.body) <= 4 * (most + len(",".join(header)) + 2)
    for n in notices:
        assert isinstance(outcome(SOURCE, n.payload), NoticeFields | NormaliseError)
