"""Who is buying, placed in Kent: outward code -> district -> NUTS3 area, on the real buyers
of the shared captures (Contracts Finder OCDS 2016 and the CSV export name Kent councils and
their neighbours), and through the store on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

import models.classify as classify
from bench.captures import read_captures
from models.classify import kent_postcodes as kp
from models.store.store import store_records
from models.store.tables import Opportunity
from tests.models.captures import capture_records

NOW = datetime(2026, 10, 6, 18, 0, tzinfo=UTC)

# (buyer name, postcode) as published in the captures -> (buyer_area, its area code)
KENT_BUYERS = [
    ("Kent County Council", "ME14 1XQ", "Kent", "UKJ4"),
    ("Medway Council", "ME4 4TR", "Medway", "UKJ41"),
    ("Shepway District Council", "CT20 2QY", "Folkestone and Hythe", "UKJ44"),
    ("Thanet District Council", "CT9 1XZ", "Thanet", "UKJ44"),
    ("Canterbury City Council", "CT1 1YW", "Canterbury", "UKJ44"),
    ("ASHFORD BOROUGH COUNCIL", "TN23 1PL", "Ashford", "UKJ45"),
    ("Maidstone Borough Council", "ME15 6JQ", "Maidstone", "UKJ45"),
    # not councils: placed by postcode alone
    ("Natural England", "TN23 1HU", "Ashford", "UKJ45"),
    ("SALVATION ARMY HOUSING ASSOCIATION", "TN13 3NP", "Sevenoaks", "UKJ46"),
]
# Real buyers just outside Kent, in postcode areas that are partly Kent's
NOT_KENT_BUYERS = [
    ("In-tend Education Portal", "DA14 5AA"),  # Sidcup: London
    ("London Borough of Bromley", "BR1 3UH"),
    ("South London and Maudsley NHS Foundation Trust", "BR3 3BX"),
    ("SE Shared Services", "RH10 1UZ"),  # Crawley, West Sussex
]


@pytest.fixture(scope="module")
def buyers(fixtures_dir: Path) -> set[tuple[str, str | None]]:
    return {(n.buyer_name, n.buyer_postcode) for n in read_captures(fixtures_dir).values()}


@pytest.mark.parametrize(("name", "postcode", "area", "code"), KENT_BUYERS)
def test_real_kent_buyers_get_their_district(buyers, name, postcode, area, code) -> None:
    assert (name, postcode) in buyers  # as published
    assert kp.buyer_district(name, postcode) == area
    assert kp.area_code(area) == code
    assert classify.in_kent([], None, postcode, name)["buyer_in_kent"] is True


def test_kent_county_council_is_county_wide_though_its_postcode_is_maidstone() -> None:
    assert kp.kent_district("ME14 1XQ") == "Maidstone"
    assert kp.buyer_district("Kent County Council", "ME14 1XQ") == "Kent"
    assert kp.buyer_district("Medway Council", None) == "Medway"  # no postcode: the name
    assert kp.buyer_district("Folkestone & Hythe District Council", None) == (
        "Folkestone and Hythe"
    )


@pytest.mark.parametrize(("name", "postcode"), NOT_KENT_BUYERS)
def test_real_buyers_next_to_kent_are_not_kent(buyers, name, postcode) -> None:
    assert (name, postcode) in buyers
    assert kp.kent_district(postcode) is None
    assert kp.buyer_district(name, postcode) is None
    assert classify.in_kent([], None, postcode, name)["buyer_in_kent"] is False


def test_buyers_without_postcode_or_council_name_are_not_placed(buyers) -> None:
    # Real 2016 Kent notices whose buyer has no postcode and is not a council.
    for name in ("Tunbridge Wells Grammar School for Boys", "Commercial Services"):
        assert (name, None) in buyers
        assert kp.buyer_district(name, None) is None
    # The NUTS region alone: only UKJ41 is one district.
    assert kp.buyer_district("", None, "UKJ41") == "Medway"
    assert kp.buyer_district("", None, "UKJ45") is None
    assert classify.in_kent([], "UKJ45", None)["buyer_in_kent"] is True


def test_outcodes_beside_kent_are_not_kent() -> None:
    outside = [
        *(f"DA{i}" for i in (*range(5, 9), *range(14, 19))),
        *(f"BR{i}" for i in range(1, 8)),
        *(f"TN{i}" for i in (5, 6, 7, 16, *range(19, 23), *range(31, 41))),
        "RH7", "RH8", "RH19", "SE9", "ME99", "CT50",
    ]  # fmt: skip
    assert [o for o in outside if kp.kent_district(o) is not None] == []
    assert kp.kent_district("BR8 7AA") == "Sevenoaks"  # Swanley
    assert kp.kent_district("DA11") == "Gravesham" and kp.kent_district("ME2") == "Medway"


def test_postcode_forms() -> None:
    assert kp.outcode(" me14 1xq ") == "ME14"
    assert kp.outcode("CT11XZ") == "CT1"  # no space: the inward code is the last three
    assert kp.outcode("TN23") == "TN23"
    assert kp.outcode("Kent") is None and kp.outcode("") is None and kp.outcode(None) is None


def test_one_truth_for_districts_and_areas() -> None:
    assert classify.KENT_AREAS is kp.KENT_AREAS
    assert len(kp.DISTRICTS) == 13  # twelve KCC districts and Medway
    assert set(kp.OUTCODE_DISTRICT.values()) == set(kp.DISTRICTS)  # every one reachable
    assert kp.DISTRICT_AREA["Swale"] == "UKJ43" and kp.DISTRICT_AREA["Dover"] == "UKJ44"
    # every straddling outcode is named in the module docstring
    doc = kp.__doc__ or ""
    assert all(f"\n    {o} " in doc for o in kp.STRADDLING)
    assert kp.STRADDLING - set(kp.OUTCODE_DISTRICT) == {"TN16"}  # mostly Bromley


def test_store_writes_buyer_area(engine, fixtures_dir: Path) -> None:
    records = capture_records(fixtures_dir)
    with Session(engine) as s:
        store_records(s, records, now=NOW)
        s.commit()
        opps = list(s.exec(select(Opportunity)))
    by_buyer: dict[tuple[str, str | None], set[tuple[str | None, bool]]] = {}
    for o in opps:
        by_buyer.setdefault((o.buyer_name, o.buyer_postcode), set()).add(
            (o.buyer_area, o.buyer_in_kent)
        )
    for name, postcode, area, _code in KENT_BUYERS:
        assert by_buyer[(name, postcode)] == {(area, True)}, name
    assert by_buyer[("In-tend Education Portal", "DA14 5AA")] == {(None, False)}
    # buyer_area is who buys; areas stays where the work is (the CSV says "South East")
    kcc = next(o for o in opps if o.ocid == "bidbell-cf-KENT001-DN455447-64717365")
    assert kcc.areas == ["South East"] and not kcc.work_in_kent and kcc.buyer_area == "Kent"
    outside = [o for o in opps if not o.buyer_in_kent]
    assert len(outside) > 600 and all(o.buyer_area is None for o in outside)
