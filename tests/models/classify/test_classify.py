"""Classification rules: value text, size bands (UK thresholds 2026), sectors, areas, fit."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from models.classify import (
    DIVISION_SECTOR,
    SECTORS,
    area_labels,
    band_for,
    fit_for_small_bidders,
    in_kent,
    sectors_for,
    size_band,
)
from models.formats.text import parse_value_text
from models.store.store import store_records
from models.store.tables import Opportunity
from spiders.files import read_file


@pytest.mark.parametrize(
    ("text", "amount", "minimum", "per_year", "upper"),
    [
        ("£5k", 5_000, None, False, False),
        ("£50,000 - £100,000", 100_000, 50_000, False, False),
        ("up to £25,000 per annum", 25_000, None, True, True),
        ("Estimated value £2.5m over 4 years", 2_500_000, None, False, False),
        ("The estimated total value of the contract is £33,721 (excluding VAT).", 33_721,
         None, False, False),
    ],
)  # fmt: skip
def test_value_text(text, amount, minimum, per_year, upper) -> None:
    v = parse_value_text(text)
    assert v is not None
    assert (v.amount, v.minimum, v.per_year, v.upper_bound_only) == (
        amount,
        minimum,
        per_year,
        upper,
    )
    assert v.currency == "GBP"


def test_text_without_money_is_not_a_value() -> None:
    assert parse_value_text("Contract reference 2026/54, lot 3") is None
    assert parse_value_text("") is None


def test_bands_use_the_2026_thresholds() -> None:
    # goods and services of a sub-central buyer (a council): publication at £30,000,
    # threshold £207,720 (both inclusive of VAT)
    assert [band_for(v) for v in (None, 9_999, 10_000, 29_999, 30_000, 207_719, 207_720)] == [
        "not_stated", "under_10k", "below_publication", "below_publication", "below_threshold",
        "below_threshold", "above_threshold",
    ]  # fmt: skip
    # thresholds include VAT: the gross figure decides (Harrogate: £33,721 net, £40,465 gross)
    harrogate = size_band(33_721, 40_465.2, "GBP", [])
    assert (harrogate.band, harrogate.lot_band) == ("below_threshold", None)
    assert harrogate.basis == "sub-central goods and services threshold £207,720"
    # a £2m framework in £50k lots is a small-bidder opportunity
    lots = [{"value_amount": 50_000, "value_currency": "GBP"}] * 40
    framework = size_band(2_000_000, None, "GBP", lots)
    assert (framework.band, framework.lot_band) == ("above_threshold", "below_threshold")


def test_every_cpv_division_has_exactly_one_sector(fixtures_dir) -> None:
    data = json.loads((fixtures_dir / "cpv" / "cpv_divisions_2digit.json").read_text())
    divisions = {d["code"] for d in data["divisions"]}
    assert divisions == set(DIVISION_SECTOR)
    assert sum(len(v) for v in SECTORS.values()) == len(divisions)
    assert sectors_for(["85311000", "85100000", "09323000"]) == [
        "Social care and health", "Energy and utilities",
    ]  # fmt: skip


def test_areas_and_kent() -> None:
    assert area_labels(["UKJ45", "TLJ41", "UKH25"]) == [
        "Mid Kent (Ashford, Maidstone)", "Medway (Medway)", "East of England",
    ]  # fmt: skip
    assert in_kent(["UKJ44"], None, None) == {"work_in_kent": True, "buyer_in_kent": False}
    assert in_kent([], None, "ME14 1XQ")["buyer_in_kent"] is True
    # TN spans Kent and East Sussex: the outward code decides (models.formats.kent_postcodes)
    assert in_kent([], None, "TN1 1RS")["buyer_in_kent"] is True  # Tunbridge Wells
    assert in_kent([], None, "TN22")["buyer_in_kent"] is False  # Uckfield, East Sussex
    assert in_kent([], None, "DA7")["buyer_in_kent"] is False  # Bexleyheath, London


def test_fit_reasons_in_words() -> None:
    fit = fit_for_small_bidders(
        band="above_threshold", lot_band="below_threshold",
        band_basis="light-touch services threshold £663,540",
        lots=[{"value_amount": 40_000}, {"value_amount": 60_000}],
        sme_suitable=None, vcse_suitable=True,
        published_at=datetime(2026, 12, 10, tzinfo=UTC), deadline=datetime(2027, 1, 10, tzinfo=UTC),
        stage="tender", is_subcontract=False,
    )  # fmt: skip
    assert "at or above the light-touch services threshold £663,540" in fit.reasons
    assert "marked suitable for VCSE organisations" in fit.reasons
    assert "split into 2 lots, from £40k" in fit.reasons
    assert "31 days from publication to deadline" in fit.reasons
    assert "the response window runs over Christmas" in fit.reasons
    assert 0 <= fit.score <= 100
    short = fit_for_small_bidders(
        band="below_publication", lot_band=None, lots=[], sme_suitable=True, vcse_suitable=None,
        band_basis="local-authority publication threshold £30,000",
        published_at=datetime(2026, 3, 2, tzinfo=UTC), deadline=datetime(2026, 3, 16, tzinfo=UTC),
        stage="tender", is_subcontract=None,
    )  # fmt: skip
    assert (
        "only 14 days from publication to deadline" in short.reasons
        and "marked suitable for SMEs" in short.reasons
        and "£10k up to the local-authority publication threshold £30,000: small enough for a "
        "micro business"
        in short.reasons
    )


def test_stored_opportunities_are_classified(engine, fts_files) -> None:
    recs = [
        r.model_dump() for f in fts_files for r in read_file("find_a_tender", "find_a_tender", f)
    ]
    with Session(engine) as s:
        store_records(s, recs, now=datetime(2026, 10, 6, 18, 0, tzinfo=UTC))
        s.commit()
        by = {o.ocid: o for o in s.exec(select(Opportunity))}
    aldbanks, harrogate = by["ocds-h6vhtk-078219"], by["ocds-h6vhtk-067fb8"]
    # a light-touch notice (specialRegime): £3,326,400 gross against £663,540
    assert aldbanks.value_band == "above_threshold" and aldbanks.sectors == [
        "Social care and health"
    ]
    assert aldbanks.band_basis == "light-touch services threshold £663,540"
    assert aldbanks.areas == ["East of England"] and not aldbanks.work_in_kent
    assert (
        "29 days from publication to deadline" in aldbanks.fit_reasons
    )  # 6 Oct 17:59 BST -> 5 Nov 12:00 GMT
    assert harrogate.value_band == "below_threshold"
    assert harrogate.sectors == ["Energy and utilities", "Business and professional services"]
    award = by["ocds-h6vhtk-06e832"]
    assert award.value_band == "above_threshold"  # £256,378.74 awarded (gross)
