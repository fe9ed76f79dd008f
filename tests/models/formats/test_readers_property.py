"""Property: every reader of outside data returns a record or a typed rejection with a
reason, never an unexpected exception; and a mutated record stored beside untouched real
records never costs them (SQLite and PostgreSQL).

Real records from the captures (OCDS releases of four publishers, Contracts Finder CSV
rows; a prime contractor's listing rows, feed entries and ProContract adverts from the
constructed pages, labelled so) are
mutated by Hypothesis: values replaced by wrong types, huge or empty strings, odd text
(NUL, lone surrogates, mojibake, U+FFFD), absurd numbers, deep nesting; keys removed.
"""

from __future__ import annotations

import copy
import csv
import io
import itertools
import json
from pathlib import Path
from typing import Any

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, func, select

from bidbell.settings import get_settings
from demo.replay.feed import FOLDER as FEED_FOLDER
from demo.replay.listing import FOLDER as LISTING_FOLDER
from models.formats import FORMATS, reader
from models.formats.fields import NormaliseError, NoticeFields
from models.store.store import store_records
from models.store.tables import IngestError, Notice
from spiders.config import load_sources
from spiders.sources.feed import entry_payload
from spiders.sources.listing import ListingSpider
from tests.models.formats.test_procontract_format import payloads as procontract_payloads


def _records(fixtures_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """(record format, payload) of real records from every kind of source."""
    out: list[tuple[str, dict[str, Any]]] = []
    for path in sorted((fixtures_dir / "find-a-tender").glob("*.json")):
        out += [("ocds-release", r) for r in json.loads(path.read_text())["releases"]]
    cf = fixtures_dir / "contracts-finder"
    search = json.loads((cf / "cf_ocds_search_2022-10-22_publishedTo_limit100.json").read_text())
    out += [("ocds-release", r) for r in search["releases"][:15]]
    for path in sorted((cf / "legacy-2016-ocds").glob("*.json")):
        out += [("ocds-release", r) for r in json.loads(path.read_text())["releases"]]
    for folder in ("scotland-pcs", "wales-sell2wales"):
        for path in sorted((fixtures_dir / folder).glob("*.jsonl")):
            lines = path.read_text().splitlines()[:10]
            out += [("ocds-proactis", json.loads(x)) for x in lines if x.strip()]
    csv_path = cf / "cf_search_export_csv_2020-04-16_open_notices_part1_even_rows.csv"
    text = csv_path.read_text(encoding="utf-8-sig")
    out += [("cf-csv-row", row) for row in itertools.islice(csv.DictReader(io.StringIO(text)), 15)]
    page = (LISTING_FOLDER / "supply_chain_page1.html").read_bytes()
    params = load_sources(get_settings().sources_file)["prime_example"].params
    rows = ListingSpider.records_from_bytes(page, "https://prime.example/", "prime", params)
    out += [("listing-row", r.payload) for r in rows if r.kind == "notice"]
    feed = feedparser.parse((FEED_FOLDER / "opportunities_rss20.xml").read_bytes())
    out += [("feed-entry", entry_payload(e, feed.feed)) for e in feed.entries]
    out += [("procontract-advert", p) for p in list(procontract_payloads().values())[:8]]
    return out


@pytest.fixture(scope="module")
def real_records(fixtures_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    records = _records(fixtures_dir)
    kinds = {fmt for fmt, _ in records}
    assert kinds == set(FORMATS), kinds  # every reader meets its records here
    return records


def _paths(value: Any, prefix: tuple[Any, ...] = (), depth: int = 0) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if depth >= 6:
        return out
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k), depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value[:5]):
            out += _paths(v, (*prefix, i), depth + 1)
    return out


def _deep(n: int) -> Any:
    v: Any = "bottom"
    for _ in range(n):
        v = [v]
    return v


ODD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "Grounds\x00maintenance",
        "\ud800 lone surrogate",
        "Â£45,000 â€“ mojibake",
        "\ufffd45,000",
        "x" * 200_000,
        "31/02/2026 25:61",
        "1e9999",
        "£" * 1000,
        "<script>alert(1)</script>",
        "\r\n\r\n",
    ]
)
WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**450), max_value=10**450),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    ODD_TEXT,
    st.just([]),
    st.just({}),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.just(_deep(150)),
    st.just(_deep(400)),
)


@st.composite
def mutated(draw: Any, records: list[tuple[str, dict[str, Any]]]) -> tuple[str, Any]:
    fmt, original = draw(st.sampled_from(records))
    record: Any = copy.deepcopy(original)
    if draw(st.integers(0, 20)) == 0:  # now and then the whole record is not an object
        return fmt, copy.deepcopy(draw(WRONG))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(record)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = record
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(draw(WRONG))  # shared values stay untouched
    return fmt, record


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_reader_returns_a_record_or_a_typed_rejection(data, real_records) -> None:
    fmt, record = data.draw(mutated(real_records))
    read = reader(fmt)  # the format's own function, without the safety net of normalise()
    try:
        fields = read("property", record)
    except NormaliseError as exc:
        assert str(exc), "a rejection says why"
        return
    assert isinstance(fields, NoticeFields)
    assert fields.ocid and fields.source_id


_SOURCES = itertools.count()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_mutated_record_never_costs_the_records_beside_it(data, engine, real_records) -> None:
    source = f"property-{next(_SOURCES)}"
    siblings = data.draw(
        st.lists(st.sampled_from(real_records), min_size=3, max_size=6, unique_by=id)
    )
    fmt, bad = data.draw(mutated(real_records))
    records = [
        {"source": source, "format": f, "url": "test", "fetched_at": "2026-12-01T00:00:00Z",
         "payload": p}
        for f, p in siblings
    ]  # fmt: skip
    position = data.draw(st.integers(0, len(records)))
    records.insert(
        position,
        {"source": source, "format": fmt, "url": "test", "fetched_at": "2026-12-01T00:00:00Z",
         "payload": bad},
    )  # fmt: skip
    with Session(engine) as s:
        result = store_records(s, records)
        s.commit()
        ids = set(s.exec(select(Notice.source_id).where(Notice.source == source)).all())
        errs = s.exec(
            select(func.count()).select_from(IngestError).where(IngestError.source == source)
        ).one()
    # every untouched real record is stored (a mutated copy with the same record id may
    # have replaced its twin: a later version of one record)
    good = {reader(f)("property", p).source_id for f, p in siblings}
    assert good <= ids, good - ids
    assert result.received == len(records)
    assert result.rejected <= 1 and result.rejected == errs
    assert len(ids) + result.rejected >= len(good)
