"""The matcher's rules, on opportunities normalised from the real captures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from matching.engine import OpportunityView, ProfileIndex, ProfileSpec, match
from models.formats.ocds import normalise_release

NOW = datetime(2026, 10, 6, 18, 0, tzinfo=UTC)


@pytest.fixture
def opps(fts_releases) -> dict[str, OpportunityView]:
    out = {}
    for i, r in enumerate(fts_releases, 1):
        n = normalise_release("find_a_tender", r)
        out[n.source_id] = OpportunityView(
            id=i,
            title=n.title,
            description=n.description,
            cpv_codes=n.cpv_codes,
            regions=n.regions,
            buyer_region=n.buyer_region,
            value_amount=n.value_amount,
            value_currency=n.value_currency,
            stage=n.stage,
            deadline=n.deadline,
        )
    return out


def matched(opps, *profiles: ProfileSpec, now: datetime = NOW) -> set[tuple[int, str]]:
    ids = {v.id: k for k, v in opps.items()}
    return {
        (m.profile_id, ids[m.opportunity_id])
        for m in match(opps.values(), ProfileIndex(profiles), now)
    }


ALDBANKS, HARROGATE = "094476-2026", "032703-2026"


def test_cpv_prefix_matches_and_gives_reasons(opps) -> None:
    p = ProfileSpec(1, 10, cpv_prefixes=["853"])
    ms = match(opps.values(), ProfileIndex([p]), NOW)
    assert [(m.profile_id, m.opportunity_id) for m in ms] == [(1, opps[ALDBANKS].id)]
    assert "CPV 85311000 is within your code 853" in ms[0].reasons
    assert "29 days left to respond" in ms[0].reasons  # 6 Oct 18:00 -> 5 Nov 12:00


def test_keyword_phrase_matches_on_word_boundaries(opps) -> None:
    assert matched(opps, ProfileSpec(1, 1, keywords=["Supported Living"])) == {(1, ALDBANKS)}
    assert matched(opps, ProfileSpec(1, 1, keywords=["live"])) == set()  # only "living"


def test_closed_and_awarded_notices_are_not_alerted(opps) -> None:
    everything = ProfileSpec(1, 1)  # no topic filter: every topic
    # Harrogate closed on 8 May; the other three are award notices
    assert matched(opps, everything) == {(1, ALDBANKS)}
    april = datetime(2026, 4, 20, tzinfo=UTC)
    assert (1, HARROGATE) in matched(opps, everything, now=april)


def test_value_range(opps) -> None:
    assert matched(opps, ProfileSpec(1, 1, cpv_prefixes=["85"], max_value=1_000_000)) == set()
    assert matched(
        opps, ProfileSpec(1, 1, cpv_prefixes=["85"], min_value=2_000_000, max_value=3_000_000)
    ) == {(1, ALDBANKS)}


def test_value_not_stated_is_kept_and_said() -> None:
    o = OpportunityView(
        id=1, title="Grounds maintenance", cpv_codes=["77310000"], value_amount=None
    )
    ms = match([o], ProfileIndex([ProfileSpec(1, 1, cpv_prefixes=["77"], max_value=50_000)]), NOW)
    assert len(ms) == 1 and "value not stated" in ms[0].reasons


def test_lot_values_make_a_big_contract_small(opps) -> None:
    o = OpportunityView(
        id=1,
        title="Framework",
        cpv_codes=["45000000"],
        value_amount=2_000_000,
        lot_values=[50_000, 60_000],
    )
    p = ProfileSpec(1, 1, cpv_prefixes=["45"], max_value=100_000)
    assert len(match([o], ProfileIndex([p]), NOW)) == 1


def test_regions_contain_each_other(opps) -> None:
    assert matched(opps, ProfileSpec(1, 1, cpv_prefixes=["85"], regions=["UKH"])) == {(1, ALDBANKS)}
    assert matched(opps, ProfileSpec(1, 1, cpv_prefixes=["85"], regions=["UKJ4"])) == set()
    o = OpportunityView(id=7, title="South East wide", cpv_codes=["85000000"], regions=["UKJ"])
    kent = ProfileSpec(2, 2, cpv_prefixes=["85"], regions=["UKJ45"])
    assert len(match([o], ProfileIndex([kent]), NOW)) == 1  # the work covers Mid Kent too


def test_many_profiles_only_the_right_ones(opps) -> None:
    profiles = [ProfileSpec(i, i, cpv_prefixes=[f"{i % 90 + 10}"]) for i in range(1, 2001)]
    got = {pid for pid, _ in matched(opps, *profiles)}
    assert got == {i for i in range(1, 2001) if i % 90 + 10 == 85}
