"""Size bands by contract type: the threshold that applies (works, light-touch, central or
sub-central goods and services), what had to be inferred to choose it, a value stated only
as a minimum; checked on the rules and on real notices of every captured source."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from models.classify import (
    applicable_threshold,
    band_for,
    band_text,
    classify_opportunity,
    money,
    size_band,
    value_words,
)
from models.classify.bands import LIGHT_TOUCH_CPV_PREFIXES, Threshold
from models.formats import normalise
from models.formats.fields import NoticeFields
from models.store.merge import merge_notices
from models.store.queries import opportunity_json
from models.store.store import store_records
from models.store.tables import Opportunity
from notifiers.feeds import build_feed
from notifiers.render import value_text
from spiders.files import read_file
from tests.models.captures import capture_records

NOW = datetime(2026, 10, 6, 18, 0, tzinfo=UTC)


def threshold(**kw) -> Threshold:
    args = {"main_category": None, "light_touch": None, "cpv_codes": [], "buyer_type": None}
    return applicable_threshold(**{**args, "buyer_name": "", **kw})


def test_the_threshold_follows_the_contract_type() -> None:
    works = threshold(main_category="works", buyer_type="sub_central")
    assert (works.kind, works.amount, works.notes) == ("works", 5_193_000, ())
    # works is read from the CPV division only when no category is published
    inferred = threshold(cpv_codes=["45233100", "71000000"], buyer_type="sub_central")
    assert inferred.kind == "works"
    assert inferred.notes == (
        "works inferred from CPV 45233100: no procurement category published",
    )
    assert threshold(main_category="services", cpv_codes=["45233100"]).kind == "sub_central"
    # light touch: the notice's specialRegime, else the main CPV code
    assert threshold(light_touch=True, main_category="services").amount == 663_540
    social = threshold(cpv_codes=["85311000"], main_category="services")
    assert social.kind == "light_touch" and social.notes == (
        "light-touch inferred from CPV 85311000: no regime published",
    )
    assert threshold(cpv_codes=["85311000"], main_category="goods").kind == "sub_central"
    # the main (first) code decides, not any code
    assert threshold(cpv_codes=["72000000", "80000000"]).kind == "sub_central"
    # the buyer: as published, else a central-government name, else taken as sub-central
    assert threshold(buyer_type="central").amount == 135_018
    assert threshold(buyer_type="sub_central").amount == 207_720
    for name in (
        "Ministry of Defence, Weapons, Other", "DEPARTMENT FOR EDUCATION", "Home Office",
        "Department of Health and Social Care", "Crown Commercial Service",
        "Foreign Commonwealth and Development Office", "HM Revenue & Customs",
    ):  # fmt: skip
        t = threshold(buyer_name=name)
        assert (t.kind, t.buyer_notes) == (
            "central",
            ("central government inferred from the buyer's name",),
        ), name
    for name in (
        "Kent County Council",
        "Natural England",
        "NHS ENGLAND",
        "Health Education England",
    ):
        t = threshold(buyer_name=name)
        assert (t.kind, t.buyer_notes) == (
            "sub_central",
            ("buyer type not published: taken as sub-central",),
        ), name


def test_the_bands_move_with_the_threshold() -> None:
    works = threshold(main_category="works", buyer_type="sub_central")
    central = threshold(buyer_type="central")
    light = threshold(light_touch=True, buyer_type="sub_central")
    # a £1m works contract is below the works threshold, not above any threshold
    assert band_for(1_000_000, works) == "below_threshold"
    assert [band_for(v, works) for v in (5_192_999, 5_193_000)] == [
        "below_threshold", "above_threshold",
    ]  # fmt: skip
    # central government: publication from £12,000, threshold £135,018
    assert [band_for(v, central) for v in (11_999, 12_000, 135_017, 135_018)] == [
        "below_publication", "below_threshold", "below_threshold", "above_threshold",
    ]  # fmt: skip
    assert [band_for(v, light) for v in (663_539, 663_540)] == [
        "below_threshold", "above_threshold",
    ]  # fmt: skip
    size = size_band(1_000_000, None, "GBP", [], threshold=works)
    assert (size.band, size.basis) == ("below_threshold", "works threshold £5,193,000")
    assert band_text(size.band, size.basis) == "below the works threshold £5,193,000"
    small = size_band(
        25_000, None, "GBP", [], threshold=threshold(buyer_name="Kent County Council")
    )
    assert small.basis == (
        "local-authority publication threshold £30,000 (buyer type not published: taken as "
        "sub-central)"
    )
    # the works threshold is the same for every buyer: no need to say how the buyer was read
    assert size_band(9e6, None, "GBP", [], threshold=threshold(main_category="works")).basis == (
        "works threshold £5,193,000"
    )
    # lots keep their own band, against the contract's threshold
    lots = [{"value_amount": v, "value_currency": "GBP"} for v in (1_500_000, 2_500_000)]
    framework = size_band(9_000_000, None, "GBP", lots, threshold=works)
    assert (framework.band, framework.lot_band) == ("above_threshold", "below_threshold")


def test_a_value_stated_only_as_a_minimum() -> None:
    # banded on the minimum: the contract is worth at least that
    size = size_band(None, None, "GBP", [], minimum=578_229)
    assert size.band == "above_threshold"
    assert size.basis == (
        "sub-central goods and services threshold £207,720 (only a minimum published: at "
        "least £578,229)"
    )
    assert size_band(None, None, "EUR", [], minimum=578_229).band == "not_stated"
    # shown as a minimum, to the pound (rounding a minimum up would overstate it)
    assert value_words(None, "GBP", minimum=40_676) == "from £40,676"
    assert value_text(None, "GBP", minimum=40_676) == "from £40,676"
    assert value_words(100_000, "GBP", minimum=60_000) == "£60,000 to £100,000"
    assert value_words(None, "GBP", gross=253_478) == "£253k"  # only the gross figure
    assert value_words(2_772_000, "GBP", gross=3_326_400) == "£2.77m"
    assert value_words(None, None) == "value not stated"
    assert value_words(1_200, "EUR") == "1,200 EUR"


def test_money_keeps_three_figures_in_plain_digits_at_every_size() -> None:
    # frameworks are published at billions: never "£3.6e+03m"
    assert money(850) == "£850"
    assert money(45_400) == "£45k"
    assert money(999_400) == "£999k"
    assert money(999_999) == "£1m"  # not "£1000k"
    assert money(2_772_000) == "£2.77m"
    assert money(999_999_999) == "£1bn"  # not "£1e+03m"
    assert money(3_600_000_000) == "£3.6bn"
    assert money(12_345_678_901) == "£12.3bn"
    assert money(1_234_000_000_000) == "£1,234bn"
    assert value_words(3_600_000_000, "GBP") == "£3.6bn"


def test_the_light_touch_codes_are_cpv_codes() -> None:
    """Every shipped prefix is the start of a real CPV 2008 code (a typo would match nothing)."""
    cpv = Path(__file__).resolve().parents[3] / "models" / "classify" / "data"
    codes = [line.split(",")[0][:8] for line in (cpv / "cpv_2008_codes_en.csv").read_text(
        encoding="utf-8-sig").splitlines()[1:]]  # fmt: skip
    for prefix in LIGHT_TOUCH_CPV_PREFIXES:
        assert any(c.startswith(prefix) for c in codes), prefix


@pytest.fixture(scope="module")
def captured(fixtures_dir) -> dict[str, list[NoticeFields]]:
    """Every captured notice, normalised and grouped by OCID."""
    by: dict[str, list[NoticeFields]] = defaultdict(list)
    for r in capture_records(fixtures_dir):
        n = normalise(r["format"], r["source"], r["payload"])
        by[n.ocid].append(n)
    return by


def classified(captured, ocid: str) -> dict:
    notices = captured[ocid]
    merged = merge_notices(notices)
    return {**merged, **classify_opportunity(merged, [n.stage for n in notices])}


# (source, OCID, what it is, band, band_basis); each changed from the single £207,720 rule
# unless said. Values as published; the gross figure decides where there is one.
REAL = [
    ("find_a_tender", "ocds-h6vhtk-06d285",
     "PCC Nottinghamshire 'Mentoring in Education', specialRegime lightTouch, £253,478 gross",
     "below_threshold", "light-touch services threshold £663,540"),
    ("find_a_tender", "ocds-h6vhtk-078219",
     "Central Bedfordshire 'Aldbanks', specialRegime lightTouch, £3,326,400 gross (unchanged)",
     "above_threshold", "light-touch services threshold £663,540"),
    ("contracts_finder", "ocds-b5fd17-4c1388f0-e064-4276-a349-2280a72e2e03",
     "Barnet highways maintenance, mainProcurementCategory works, £600,000",
     "below_threshold",
     "works threshold £5,193,000"),
    ("contracts_finder", "ocds-b5fd17-244d4fd6-9193-4531-845e-63514b559d25",
     "Barnsley digital campus, works, £9m to £10m (unchanged)",
     "above_threshold", "works threshold £5,193,000"),
    ("contracts_finder_csv", "bidbell-cf-Minor Road Resurfacing 2020",
     "Reading road resurfacing, £1.5m, no category: works from CPV 45233210",
     "below_threshold",
     "works threshold £5,193,000 (works inferred from CPV 45233210: no procurement category "
     "published)"),
    ("public_contracts_scotland", "ocds-r6ebe6-0000579394",
     "Clyde Valley Housing Association, works, £5,000,000",
     "below_threshold", "works threshold £5,193,000"),
    ("sell2wales", "ocds-kuma6s-148149",
     "Wrexham municipal engineering works, £6,000,000 (unchanged)",
     "above_threshold", "works threshold £5,193,000"),
    ("public_contracts_scotland", "ocds-r6ebe6-0000581436",
     "Registers of Scotland, TED_CA_TYPE 'Ministry or any other national...', services "
     "£150,000", "above_threshold",
     "central-government goods and services threshold £135,018"),
    ("sell2wales", "ocds-kuma6s-148399",
     "Police & Crime Commissioner for South Wales, TED_CA_TYPE 'Ministry...', vehicle "
     "cleaning £400,000 (band unchanged, now against £135,018)", "above_threshold",
     "central-government goods and services threshold £135,018"),
    ("sell2wales", "ocds-kuma6s-148227",
     "Welsh Government, TED_CA_TYPE 'Ministry...', services CPV 80000000, £370,000",
     "below_threshold",
     "light-touch services threshold £663,540 (light-touch inferred from CPV 80000000: no "
     "regime published)"),
    ("contracts_finder", "ocds-b5fd17-26e066a9-8761-451c-b9f1-1107dd471566",
     "Ministry of Justice, no buyer type published, £30,000", "below_threshold",
     "central-government goods and services threshold £135,018 (central government inferred "
     "from the buyer's name)"),
    ("contracts_finder", "ocds-b5fd17-7d83414b-5882-4b3a-b990-96aa8f830b96",
     "General Dental Council, services, CPV 85100000, £100,000 to £500,000",
     "below_threshold",
     "light-touch services threshold £663,540 (light-touch inferred from CPV 85100000: no "
     "regime published)"),
    ("contracts_finder", "ocds-b5fd17-2d13960d-adc8-11e6-9901-0019b9f3037b",
     "Kent County Council 2016, minValue £578,229 and no value (was not_stated)",
     "above_threshold",
     "sub-central goods and services threshold £207,720 (buyer type not published: taken as "
     "sub-central; only a minimum published: at least £578,229)"),
    ("contracts_finder", "ocds-b5fd17-2d44aae7-adc8-11e6-9901-0019b9f3037b",
     "Medway Council 2016, minValue £16,666 and no value (was not_stated)",
     "below_publication",
     "local-authority publication threshold £30,000 (buyer type not published: taken as "
     "sub-central; only a minimum published: at least £16,666)"),
]  # fmt: skip


@pytest.mark.parametrize(("source", "ocid", "what", "band", "basis"), REAL)
def test_real_notices_are_banded_against_their_threshold(
    captured, source, ocid, what, band, basis
) -> None:
    c = classified(captured, ocid)
    assert (c["value_band"], c["band_basis"]) == (band, basis), what
    said = {"below_threshold": f"below the {basis}", "above_threshold": f"at or above the {basis}"}
    if band in said:
        assert said[band] in c["fit_reasons"], what


def test_the_2016_minimum_only_notices_are_shown_stored_and_exported(engine, fixtures_dir) -> None:
    """Contracts Finder's 2016-17 releases carry tender.minValue and a null tender.value."""
    paths = sorted((fixtures_dir / "contracts-finder" / "legacy-2016-ocds").glob("*.json"))
    recs = [
        r.model_dump() for p in paths for r in read_file("contracts_finder", "contracts_finder", p)
    ]
    with Session(engine) as s:
        store_records(s, recs, now=NOW)
        s.commit()
        opps = {o.ocid: o for o in s.exec(select(Opportunity))}
    assert len(opps) == 7
    # every one states only a minimum: none is "value not stated" any more
    assert all(o.value_amount is None and o.value_min for o in opps.values())
    assert {o.value_band for o in opps.values()} == {
        "above_threshold", "below_threshold", "below_publication",
    }  # fmt: skip
    assert all("only a minimum published" in (o.band_basis or "") for o in opps.values())
    kent = opps["ocds-b5fd17-2d13960d-adc8-11e6-9901-0019b9f3037b"]
    assert value_text(kent.value_amount, kent.value_currency, minimum=kent.value_min) == (
        "from £578,229"
    )
    data = opportunity_json(kent)
    assert (data["value"], data["value_min"], data["value_max"]) == (None, 578_229, None)
    assert data["value_text"] == "from £578,229" and data["value_band"] == "above_threshold"
    assert data["band_basis"] == kent.band_basis
    feed, _updated = build_feed(
        "rss", list(opps.values()), title="Bidbell", description="test",
        page_url="http://localhost/", self_url="http://localhost/rss",
    )  # fmt: skip
    feed = feed.decode()
    assert "from £578,229" in feed and "from £16,666" in feed
    assert "value not stated" not in feed


def test_opportunities_json_carries_the_minimum_and_the_maximum(env, fixtures_dir) -> None:
    """`bidbell opportunities --json` on real Contracts Finder notices: 2016 minimum-only
    ones and a 2022 range."""
    from typer.testing import CliRunner

    from cli.main import app

    folder = fixtures_dir / "contracts-finder"
    files = [*sorted((folder / "legacy-2016-ocds").glob("*.json")),
             folder / "cf_ocds_search_2022-10-22_publishedTo_limit100.json"]  # fmt: skip
    runner = CliRunner()
    r = runner.invoke(app, ["import", "--source", "contracts_finder", *map(str, files)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["opportunities", "--json"], catch_exceptions=False)
    rows = {x["ocid"]: x for x in map(json.loads, r.output.splitlines())}
    medway = rows["ocds-b5fd17-2d44aae7-adc8-11e6-9901-0019b9f3037b"]
    assert (medway["value"], medway["value_min"], medway["value_max"]) == (None, 16_666, None)
    assert medway["value_text"] == "from £16,666"
    assert medway["value_band"] == "below_publication"
    assert medway["band_basis"].startswith("local-authority publication threshold £30,000")
    dental = rows["ocds-b5fd17-7d83414b-5882-4b3a-b990-96aa8f830b96"]  # £100,000 to £500,000
    assert (dental["value"], dental["value_min"], dental["value_max"]) == (
        500_000, 100_000, 500_000,
    )  # fmt: skip
    assert dental["value_text"] == "£100,000 to £500,000"
    single = next(x for x in rows.values() if x["value"] and x["value_min"] is None)
    assert single["value_max"] is None and single["value_text"].startswith("£")
