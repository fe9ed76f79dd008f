"""The one search (models.store.queries.search_opportunities) on the real captures as stored,
on SQLite (FTS5) and PostgreSQL (tsvector): the same answers on both, filters that mean
what the matcher's rules mean, and counts per filter value that add up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bidbell.clock import parse_iso
from matching.rules import category, compile_rules, facts_from, plain_match
from models.classify.kent_postcodes import DISTRICTS
from models.store.queries import (
    AREA_CHOICES,
    Search,
    parse_text_query,
    search_opportunities,
)
from models.store.tables import Opportunity
from models.subscribers.criteria import Criteria
from tests.web.conftest import AS_OF

NOW = parse_iso(AS_OF)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, seeded_sqlite: Path) -> Iterator[Engine]:
    from models.store.db import make_engine

    url = (
        f"sqlite:///{seeded_sqlite}"
        if request.param == "sqlite"
        else request.getfixturevalue("seeded_postgres")
    )
    engine = make_engine(url)
    yield engine
    engine.dispose()


def find(engine: Engine, now: datetime = NOW, **filters: Any) -> list[Opportunity]:
    with Session(engine) as s:
        page = search_opportunities(s, Search(per_page=10_000, **filters), now)
        assert page.total == len(page.items)
        return page.items


def canonical(engine: Engine) -> list[Opportunity]:
    with Session(engine) as s:
        return list(s.exec(select(Opportunity).where(col(Opportunity.canonical_id).is_(None))))


def titles(rows: list[Opportunity]) -> set[str]:
    return {o.title for o in rows}


def test_full_text_stems_phrases_or_and_not(store: Engine) -> None:
    cater = find(store, q="cater")
    assert cater and all("cater" in (o.title + o.description + o.buyer_name).lower() for o in cater)
    assert any("Catering" in o.title for o in cater)  # "cater" finds catering (stems)
    phrase = find(store, q='"grounds maintenance"')
    assert phrase and all(
        "grounds maintenance" in " ".join((o.title + " " + o.description).lower().split())
        for o in phrase
    )
    both = find(store, q="grounds maintenance")  # all words, anywhere
    assert titles(phrase) <= titles(both)
    either = find(store, q="software OR catering")
    assert titles(find(store, q="software")) | titles(find(store, q="catering")) == titles(either)
    cleaning = find(store, q="cleaning")
    without = find(store, q="cleaning -school")
    assert titles(without) < titles(cleaning)
    assert not any("school" in (o.title + o.description + o.buyer_name).lower() for o in without)
    # only a word to leave out: everything else
    assert len(find(store, q="-cleaning")) == len(canonical(store)) - len(cleaning)


def test_relevance_puts_title_matches_first(store: Engine) -> None:
    rows = find(store, q="catering")
    first_without = next(i for i, o in enumerate(rows) if "catering" not in o.title.lower())
    assert all("catering" not in o.title.lower() for o in rows[first_without:])


def test_the_same_answers_on_both_databases(seeded_sqlite: Path, seeded_postgres: str) -> None:
    from models.store.db import make_engine

    lite, pg = make_engine(f"sqlite:///{seeded_sqlite}"), make_engine(seeded_postgres)
    try:
        for filters in (
            {"q": "cater"},
            {"q": '"supported living" OR residential'},
            {"q": "services -cleaning", "open_only": True},
            {"sectors": ["Social care and health"], "areas": ["UKH"]},
            {"areas": ["Swale", "UKJ4"], "stages": ["tender"]},
            {"bands": ["under_10k", "below_publication"], "suitable_for": ["vcse"]},
            {"closing_within": 365, "sources": ["contracts_finder_csv"]},
            {"subcontract_only": True},
        ):
            a = [o.ocid for o in find(lite, **filters)]
            b = [o.ocid for o in find(pg, **filters)]
            assert sorted(a) == sorted(b), filters
            with Session(lite) as s1, Session(pg) as s2:
                f1 = search_opportunities(s1, Search(**filters), NOW, facets=True).facets
                f2 = search_opportunities(s2, Search(**filters), NOW, facets=True).facets
            assert f1 == f2, filters
    finally:
        lite.dispose()
        pg.dispose()


def test_areas_mean_what_the_matcher_means(store: Engine) -> None:
    """A district or region filter finds exactly what matching.rules.area_ok accepts (the
    matcher also keeps notices that name no place at all; so does the search)."""
    from matching.rules import area_ok

    rows = canonical(store)
    facts = [(o, facts_from(o)) for o in rows]
    for area in [*DISTRICTS, "UKJ4", "UKJ43", "UKH", "UKM8", "UK"]:
        c = Criteria.model_validate(
            {"districts": [area]} if area in DISTRICTS else {"regions": [area]}
        )
        rules = compile_rules(1, 1, c)
        expected = {o.ocid for o, f in facts if area_ok(rules, f)}
        assert {o.ocid for o in find(store, areas=[area])} == expected, area


def test_stages_mean_what_the_matcher_means(store: Engine) -> None:
    rows = canonical(store)
    for stage in ("early", "tender", "subcontract", "award"):
        expected = {o.ocid for o in rows if category(o.stage, o.is_subcontract) == stage}
        assert expected, stage
        assert {o.ocid for o in find(store, stages=[stage])} == expected


def test_open_and_closing_within(store: Engine) -> None:
    rows = canonical(store)
    open_rows = find(store, open_only=True)
    assert {o.ocid for o in open_rows} == {
        o.ocid for o in rows if facts_from(o).live(NOW) and o.stage != "award"
    }
    soon = find(store, closing_within=365)
    assert soon and all(o.deadline is not None and 0 < (o.deadline - NOW).days <= 365 for o in soon)


def test_alert_me_about_this_search_matches_what_the_search_finds(store: Engine) -> None:
    """Search -> criteria (what "alert me about this search" saves) -> the matcher's plain
    loop finds the same open opportunities as the search."""
    rows = canonical(store)
    facts = [facts_from(o) for o in rows]
    for filters in (
        {"sectors": ["Social care and health"], "areas": ["UKH"]},
        {"sectors": ["Construction and building works"], "stages": ["early"]},
        {"areas": ["Maidstone"], "suitable_for": ["sme"]},
    ):
        search = Search(open_only=True, **filters)
        criteria, _notes = search.to_criteria()
        matched = {
            fid for fid, _pid, _lot in plain_match(facts, [compile_rules(1, 1, criteria)], NOW)
        }
        assert {o.id for o in find(store, open_only=True, **filters)} == matched, filters
    # what cannot carry over exactly is said
    _c, notes = Search(
        bands=["not_stated"], closing_within=30, sources=["sell2wales"]
    ).to_criteria()
    assert [n.split(":")[0] for n in notes] == ["size", "closing within", "source"]
    c, notes = Search(q='"one two three four five six seven" care -"a b c d e f g"').to_criteria()
    assert (c.keywords, c.exclude_keywords) == (["care"], [])
    assert notes[0].startswith("keywords: an alert's phrase has at most 6 words")
    c, notes = Search(bands=["under_10k", "below_publication"]).to_criteria()
    assert (c.min_value, c.max_value, c.value_not_stated) == (None, 30_000, False)
    assert "£30,000" in notes[0]


def test_counts_per_filter_value_add_up(store: Engine) -> None:
    with Session(store) as s:
        page = search_opportunities(s, Search(open_only=True), NOW, facets=True)
    facets = page.facets
    assert sum(n for _, n in facets["bands"]) == page.total
    for sector, n in facets["sectors"][:5]:
        assert len(find(store, open_only=True, sectors=[sector])) == n
    for area, n in facets["areas"]:
        assert len(find(store, open_only=True, areas=[area])) == n, area
    assert [a for a, _ in facets["areas"]] == [a for a, _ in AREA_CHOICES]


def test_bad_filters_are_refused_naming_the_field() -> None:
    from pydantic import ValidationError

    for bad, field in (
        ({"sectors": ["Knitting"]}, "sectors"),
        ({"areas": ["Narnia"]}, "areas"),
        ({"areas": ["within 10 miles of ME10"]}, "areas"),
        ({"bands": ["huge"]}, "bands"),
        ({"closing_within": 0}, "closing_within"),
        ({"sources": ["Drop Table"]}, "sources"),
    ):
        with pytest.raises(ValidationError) as exc:
            Search.model_validate(bad)
        assert exc.value.errors()[0]["loc"][0] == field


def test_text_query_reading() -> None:
    q = parse_text_query('care "supported living" OR respite -children -"day centre"')
    assert q.groups == (("care",), ("supported living", "respite"))
    assert q.exclude == ("children", "day centre")
    assert not parse_text_query('  "" - ( ) ')
