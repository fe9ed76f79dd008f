"""Each profile criterion on real notices from the captures. Every check runs the engine
AND the plain loop (matching.rules.plain_match) and requires them to agree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from matching import ProfileIndex, compile_rules, join, match, plain_match
from matching.rules import Facts
from models.subscribers.criteria import read_criteria

FTS_NOW = datetime(2026, 10, 6, 18, 0, tzinfo=UTC)  # just after the newest FTS capture
CSV_NOW = datetime(2020, 4, 16, 12, 0, tzinfo=UTC)  # the day of the CF CSV export
PCS_NOW = datetime(2019, 4, 20, 12, 0, tzinfo=UTC)  # inside the PCS captures' window

ALDBANKS = "094476-2026"  # FTS: Central Bedfordshire, supported living, CPV 85311000, UKH25
AL_FURQAN = "BIP486189597"  # CF CSV: "Al-Furqan Primary School ~ Catering Tender", no value
BRADCAT = "BRADCAT"  # CF CSV: "Primary School Catering", £108k
RENTS = "MAIDSTONE001-DN468946-81571034"  # Maidstone BC housing rents system, £70k, ME15
WEATHER = "KENT001-DN455421-37264578"  # Kent County Council (ME14 1XQ), deadline 17 Apr 2020
THANET = "THANET001-DN469955-13605923"  # Thanet DC cashless parking, CT9, £310k
SUB_EARLY = "GC31-03.2"  # DWP supply chain (Growth Company), early engagement, subcontract
FRAMEWORK = "ocds-r6ebe6-0000579577-APR350679"  # Edinburgh housing works, £130m, 16 lots


def run(facts: dict[str, Facts], now: datetime, **criteria: Any) -> set[str]:
    """Source ids the profile matches; the engine and the plain loop must agree."""
    rules = compile_rules(1, 1, read_criteria(criteria))
    engine = {(m.opportunity_id, m.lot) for m in match(facts.values(), ProfileIndex([rules]), now)}
    plain = {(o, lot) for o, _, lot in plain_match(facts.values(), [rules], now)}
    assert engine == plain
    by_id = {f.id: sid for sid, f in facts.items()}
    return {by_id[o] for o, _ in engine}


def reasons(facts: dict[str, Facts], sid: str, now: datetime, **criteria: Any) -> list[str]:
    rules = compile_rules(1, 1, read_criteria(criteria))
    (m,) = match([facts[sid]], ProfileIndex([rules]), now)
    return m.reasons


def test_cpv_prefix_with_reasons_and_days_left(facts) -> None:
    assert run(facts, FTS_NOW, cpv_prefixes=["853"]) == {ALDBANKS}
    why = reasons(facts, ALDBANKS, FTS_NOW, cpv_prefixes=["853"])
    assert "CPV 85311000 is within your code 853" in why
    assert "29 days left to respond" in why  # 6 Oct 18:00 -> 5 Nov 12:00
    # a full code is read as its level: 85000000 is the whole health division
    division = run(facts, FTS_NOW, cpv_prefixes=["85000000"])
    assert ALDBANKS in division and division == run(facts, FTS_NOW, cpv_prefixes=["85"])
    assert ALDBANKS not in run(facts, FTS_NOW, cpv_prefixes=["852"])


def test_keywords_match_word_stems_in_order(facts) -> None:
    cater = run(facts, CSV_NOW, keywords=["cater"])
    assert {AL_FURQAN, BRADCAT} <= cater  # "Catering" in their titles
    assert run(facts, CSV_NOW, keywords=["caterpillar"]) == set()
    assert BRADCAT in run(facts, CSV_NOW, keywords=["primary schools catering"])
    assert ALDBANKS in run(facts, FTS_NOW, keywords=["supported living"])
    assert ALDBANKS not in run(facts, FTS_NOW, keywords=["living supported"])  # order counts
    why = reasons(facts, AL_FURQAN, CSV_NOW, keywords=["caterers"])
    assert 'mentions "cater"' in why and "value not stated" in why


def test_excluded_words_sectors_and_codes(facts) -> None:
    cater = run(facts, CSV_NOW, keywords=["cater"])
    no_school = run(facts, CSV_NOW, keywords=["cater"], exclude_keywords=["school"])
    assert AL_FURQAN in cater and AL_FURQAN not in no_school
    assert BRADCAT not in no_school
    assert no_school < cater
    health = run(facts, FTS_NOW, sectors=["Social care and health"])
    assert ALDBANKS in health
    assert ALDBANKS not in run(
        facts, FTS_NOW, sectors=["Social care and health"], exclude_cpv=["8531"]
    )
    everything = run(facts, FTS_NOW)
    assert ALDBANKS in everything
    assert ALDBANKS not in run(facts, FTS_NOW, exclude_sectors=["Social care and health"])


def test_sectors_by_name(facts) -> None:
    food = run(facts, CSV_NOW, sectors=["Food and catering"])
    assert food and all("Food and catering" in facts[s].sectors for s in food)
    assert food == {s for s in run(facts, CSV_NOW) if "Food and catering" in facts[s].sectors}


def test_value_range_and_value_not_stated(facts) -> None:
    small = run(facts, CSV_NOW, keywords=["cater"], max_value=110_000)
    assert AL_FURQAN in small  # no value stated: kept by default, and said
    assert BRADCAT in small  # £108k
    strict = run(facts, CSV_NOW, keywords=["cater"], max_value=110_000, value_not_stated=False)
    assert AL_FURQAN not in strict and BRADCAT in strict
    assert BRADCAT not in run(facts, CSV_NOW, keywords=["cater"], max_value=100_000)
    assert run(facts, FTS_NOW, cpv_prefixes=["85"], min_value=2e6, max_value=3e6) == {ALDBANKS}
    assert run(facts, FTS_NOW, cpv_prefixes=["85"], max_value=1e6) == set()


def test_lots_name_the_lot_that_fits(facts) -> None:
    f = facts[FRAMEWORK]
    assert f.value is not None and f.value > 100e6 and len(f.lots) == 16
    cheapest = min((lot for lot in f.lots if lot.value is not None), key=lambda x: x.value or 0)
    limit = cheapest.value or 0
    rules = compile_rules(1, 1, read_criteria({"max_value": limit}))
    (m,) = [m for m in match([f], ProfileIndex([rules]), PCS_NOW)]
    first_fit = next(lot for lot in f.lots if lot.value is not None and lot.value <= limit)
    assert (m.lot, m.lot_id) == (first_fit.index, first_fit.id)
    assert any(r.startswith(f"lot {first_fit.index}: ") for r in m.reasons)
    assert plain_match([f], [rules], PCS_NOW) == [(f.id, 1, first_fit.index)]
    # the whole framework fits a profile without a value limit: no lot named
    (m,) = match([f], ProfileIndex([compile_rules(1, 1, read_criteria({}))]), PCS_NOW)
    assert m.lot == 0 and m.lot_id is None


def test_districts(facts) -> None:
    maidstone = run(facts, CSV_NOW, districts=["Maidstone"])
    assert RENTS in maidstone  # the buyer is Maidstone Borough Council
    assert WEATHER in maidstone  # Kent County Council buys for every district
    assert THANET not in maidstone  # Thanet's buyer, work "in the South East" only
    assert all(facts[s].buyer_area in ("Maidstone", "Kent") for s in maidstone)
    assert THANET in run(facts, CSV_NOW, districts=["Thanet"])
    assert RENTS not in run(facts, CSV_NOW, districts=["Thanet"])


def test_regions_contain_each_other(facts) -> None:
    assert ALDBANKS in run(facts, FTS_NOW, cpv_prefixes=["85"], regions=["UKH"])
    assert ALDBANKS in run(facts, FTS_NOW, cpv_prefixes=["85"], regions=["TLH25"])
    assert ALDBANKS not in run(facts, FTS_NOW, cpv_prefixes=["85"], regions=["UKJ4"])
    # a South East notice covers Mid Kent for a region profile
    assert THANET in run(facts, CSV_NOW, regions=["UKJ45"])


def test_postcode_and_radius(facts) -> None:
    near = run(facts, CSV_NOW, postcode="ME14 1AA", radius_miles=10)
    assert {RENTS, WEATHER} <= near  # ME15 and ME14
    assert THANET not in near  # CT9, about 35 miles
    assert THANET in run(facts, CSV_NOW, postcode="ME14", radius_miles=40)
    why = reasons(facts, RENTS, CSV_NOW, postcode="ME14", radius_miles=10)
    assert any(r.startswith("the buyer (ME15) is") and "miles from ME14" in r for r in why)


def test_stages(facts) -> None:
    default = run(facts, CSV_NOW)
    assert SUB_EARLY in default  # early + tender + subcontract by default
    assert SUB_EARLY in run(facts, CSV_NOW, stages=["subcontract"])
    assert SUB_EARLY not in run(facts, CSV_NOW, stages=["early", "tender"])
    tenders_only = run(facts, CSV_NOW, stages=["tender"])
    assert all(facts[s].category == "tender" for s in tenders_only) and RENTS in tenders_only
    awards = run(facts, FTS_NOW, stages=["award"])
    assert awards and all(facts[s].category == "award" for s in awards)
    assert ALDBANKS not in awards


def test_suitable_for_sme_or_vcse(facts) -> None:
    sme = run(facts, CSV_NOW, suitable_for=["sme"])
    vcse = run(facts, CSV_NOW, suitable_for=["vcse"])
    assert RENTS in sme and RENTS in vcse  # marked suitable for both
    assert THANET in sme and THANET not in vcse
    assert all(facts[s].sme for s in sme) and all(facts[s].vcse for s in vcse)
    assert run(facts, CSV_NOW, suitable_for=["sme", "vcse"]) == sme | vcse


def test_lowest_fit_score(facts) -> None:
    assert facts[RENTS].fit_score >= 80 > facts[THANET].fit_score
    fit = run(facts, CSV_NOW, min_fit_score=80)
    assert RENTS in fit and THANET not in fit
    assert all(facts[s].fit_score >= 80 for s in fit)


def test_fewest_days_left(facts) -> None:
    assert WEATHER in run(facts, CSV_NOW, min_days_left=1)  # 17 Apr 23:59 BST: 1 day
    assert WEATHER not in run(facts, CSV_NOW, min_days_left=2)
    assert RENTS in run(facts, CSV_NOW, min_days_left=14)  # 4 May


def test_closed_notices_are_not_matched(facts) -> None:
    later = datetime(2020, 4, 18, tzinfo=UTC)
    assert WEATHER not in run(facts, later)  # its deadline has passed


@pytest.mark.parametrize("shards", [1, 3, 8])
def test_shards_each_match_on_their_own(facts, shards: int) -> None:
    profiles = [
        compile_rules(i, i, read_criteria({"cpv_prefixes": [f"{i % 90 + 10}"]}))
        for i in range(1, 2001)
    ]
    got = match(facts.values(), ProfileIndex(profiles, n_shards=shards), FTS_NOW)
    want = plain_match(facts.values(), profiles, FTS_NOW)
    assert {(m.opportunity_id, m.profile_id, m.lot) for m in got} == set(want)
    assert {m.profile_id for m in got if m.opportunity_id == facts[ALDBANKS].id} == {
        i for i in range(1, 2001) if i % 90 + 10 == 85
    }


def test_index_updates_on_profile_change(facts) -> None:
    index = ProfileIndex([compile_rules(1, 1, read_criteria({"cpv_prefixes": ["853"]}))])
    assert {m.opportunity_id for m in match(facts.values(), index, FTS_NOW)} == {facts[ALDBANKS].id}
    index.update([compile_rules(1, 1, read_criteria({"cpv_prefixes": ["72"]}))])
    assert len(index) == 1
    assert facts[ALDBANKS].id not in {
        m.opportunity_id for m in match(facts.values(), index, FTS_NOW)
    }
    index.update([], removed=[1])
    assert len(index) == 0 and match(facts.values(), index, FTS_NOW) == []


def test_profile_parts_are_independent(facts) -> None:
    profiles = [
        compile_rules(i, i, read_criteria({"cpv_prefixes": [f"{i % 90 + 10}"]}))
        for i in range(1, 501)
    ]
    whole = match(facts.values(), ProfileIndex(profiles), FTS_NOW)
    # each part built from every profile keeps only its own (as a worker loading all rows)
    parts = [ProfileIndex(profiles, part=(i, 3)) for i in range(3)]
    assert [len(p) for p in parts] == [
        sum(1 for r in profiles if r.profile_id % 3 == i) for i in range(3)
    ]
    assert join(match(facts.values(), p, FTS_NOW) for p in parts) == whole
    # a change reaches only the part that owns the profile
    changed = compile_rules(3, 3, read_criteria({"cpv_prefixes": ["853"]}))
    for p in parts:
        p.update([changed])
    assert [len(p) for p in parts] == [166, 167, 167]  # 3 replaced in part 0, not added
    assert parts[0].rule(3) == changed and parts[1].rule(3) is None
    with pytest.raises(ValueError):
        ProfileIndex(part=(3, 3))
