"""Property: on random profiles and the real captures as stored (SQLite and PostgreSQL), the
engine returns exactly the plain loop's matches: same opportunities, profiles and lots."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from matching import ProfileIndex, compile_rules, facts_from, join, match, plain_match
from models.classify.kent_postcodes import DISTRICTS
from models.classify.sectors import SECTORS
from models.store.store import store_records
from models.store.tables import Opportunity
from models.subscribers.criteria import Criteria
from tests.models.captures import capture_records

# Instants at which different captures are open: FTS (2026), CF CSV (April 2020),
# PCS (April 2019), Sell2Wales (February 2025)
NOWS = [
    datetime(2026, 10, 6, 18, 0, tzinfo=UTC),
    datetime(2020, 4, 16, 12, 0, tzinfo=UTC),
    datetime(2019, 4, 20, 12, 0, tzinfo=UTC),
    datetime(2025, 2, 10, 12, 0, tzinfo=UTC),
]
# Words and codes drawn from the captures themselves, so that profiles hit real notices
WORDS = [
    "cater", "school", "care", "support", "living", "service", "maintenance", "housing",
    "works", "framework", "clean", "transport", "software", "supply", "construction",
    "road", "youth", "health", "training", "waste", "repair", "lift", "parking", "bus",
]  # fmt: skip
CPV = ["85", "853", "8531", "45", "452", "4521", "72", "722", "90", "909", "55", "555",
       "79", "793", "60", "601", "71", "34", "50", "33", "80", "39"]  # fmt: skip
REGIONS = ["UK", "UKJ", "UKJ4", "UKJ45", "UKJ43", "UKH", "UKH25", "UKI", "UKM", "UKM75",
           "UKL", "UKL18", "UKE", "UKK", "UKD", "UKG"]  # fmt: skip
POSTCODES = ["ME14", "ME10", "CT1", "TN23", "RG1", "M1", "EH1", "SA1", "B11", "SW1A", "NG1"]

phrases = st.lists(st.sampled_from(WORDS), min_size=1, max_size=2).map(" ".join)
criteria = st.fixed_dictionaries(
    {},
    optional={
        "cpv_prefixes": st.lists(st.sampled_from(CPV), max_size=3),
        "keywords": st.lists(phrases, max_size=3),
        "sectors": st.lists(st.sampled_from(sorted(SECTORS)), max_size=2),
        "exclude_keywords": st.lists(st.sampled_from(WORDS), max_size=1),
        "exclude_cpv": st.lists(st.sampled_from(CPV), max_size=1),
        "min_value": st.sampled_from([None, 5_000, 50_000, 500_000]),
        "max_value": st.sampled_from([None, 100_000, 1_000_000, 20_000_000]),
        "value_not_stated": st.booleans(),
        "districts": st.lists(st.sampled_from(DISTRICTS), max_size=2),
        "regions": st.lists(st.sampled_from(REGIONS), max_size=2),
        "stages": st.lists(
            st.sampled_from(["early", "tender", "subcontract", "award"]), min_size=1, max_size=4
        ),
        "suitable_for": st.lists(st.sampled_from(["sme", "vcse"]), max_size=2),
        "min_fit_score": st.sampled_from([None, 50, 70, 85]),
        "min_days_left": st.sampled_from([None, 3, 14, 30]),
    },
)
radius = st.one_of(st.none(), st.tuples(st.sampled_from(POSTCODES), st.sampled_from([3, 10, 30])))


def _criteria(data: dict, around: tuple[str, int] | None) -> Criteria:
    data = dict(data)
    lo, hi = data.get("min_value"), data.get("max_value")
    if lo is not None and hi is not None and lo > hi:
        data["min_value"], data["max_value"] = hi, lo
    if set(data.get("sectors", [])) & set(data.get("exclude_sectors", [])):
        data.pop("exclude_sectors")
    if around is not None:
        data["postcode"], data["radius_miles"] = around
    return Criteria.model_validate(data)


# Hypothesis settings of the tests over the stored captures (a slow, function-scoped fixture)
SLOW: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
}


@pytest.fixture
def stored(engine, fixtures_dir):
    with Session(engine) as s:
        store_records(s, capture_records(fixtures_dir), now=NOWS[0])
        s.commit()
        opps = list(s.exec(select(Opportunity).where(col(Opportunity.canonical_id).is_(None))))
    assert len(opps) > 600
    return [facts_from(o) for o in opps]


def test_engine_equals_plain_loop_on_stored_captures(stored) -> None:
    @settings(
        max_examples=25,
        **SLOW,
    )
    @given(
        st.lists(st.tuples(criteria, radius), min_size=1, max_size=12),
        st.sampled_from(NOWS),
        st.integers(min_value=1, max_value=4),
        st.integers(min_value=2, max_value=5),
    )
    def check(profiles, now, shards, parts) -> None:
        nonlocal total
        rules = [
            compile_rules(i, 100 + i, _criteria(data, around))
            for i, (data, around) in enumerate(profiles, 1)
        ]
        index = ProfileIndex(rules, n_shards=shards)
        whole = match(stored, index, now)
        engine = {(m.opportunity_id, m.profile_id, m.lot) for m in whole}
        assert engine == set(plain_match(stored, rules, now))
        total += len(engine)
        # profile parts, each matched on its own as a worker would (pickled), joined
        split = [pickle.loads(pickle.dumps(p)) for p in index.split(parts)]
        assert sum(len(p) for p in split) == len(rules)
        assert join(match(stored, p, now) for p in split) == whole

    total = 0
    check()
    assert total > 0  # the random profiles did meet real notices


def test_index_updated_in_place_equals_plain_loop(stored) -> None:
    """Profiles changed and removed in a built index (postings merged and masked, not
    rebuilt), then matched: the plain loop's matches for the profiles as they now are."""

    @settings(
        max_examples=15,
        **SLOW,
    )
    @given(
        st.lists(st.tuples(criteria, radius), min_size=2, max_size=10),
        st.lists(st.tuples(criteria, radius), min_size=1, max_size=6),
        st.sets(st.integers(min_value=1, max_value=10), max_size=3),
        st.sampled_from(NOWS),
        st.integers(min_value=1, max_value=3),
    )
    def check(before, changes, removed, now, shards) -> None:
        nonlocal total
        rules = {
            i: compile_rules(i, 100 + i, _criteria(data, around))
            for i, (data, around) in enumerate(before, 1)
        }
        index = ProfileIndex(rules.values(), n_shards=shards)
        match(stored[:50], index, now)  # laid out once before the change
        # changes: ids 1.. replace existing profiles, the rest are new
        changed = [
            compile_rules(2 * i - 1, 100 + i, _criteria(data, around))
            for i, (data, around) in enumerate(changes, 1)
        ]
        gone = sorted(removed - {r.profile_id for r in changed})
        index.update(changed, removed=gone)
        rules.update({r.profile_id: r for r in changed})
        for pid in gone:
            rules.pop(pid, None)
        assert len(index) == len(rules)
        engine = {(m.opportunity_id, m.profile_id, m.lot) for m in match(stored, index, now)}
        assert engine == set(plain_match(stored, list(rules.values()), now))
        total += len(engine)

    total = 0
    check()
    assert total > 0
