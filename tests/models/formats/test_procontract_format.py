"""Normalising ProContract adverts ("procontract-advert"): the CONSTRUCTED portal pages
(demo/constructed/procontract; no capture of ProContract exists), read by the spider's own
layout readers, and the field values of four REAL adverts
(../shared/fixtures/procontract/real_advert_fields_2026-07.json, as a third-party scraper
read them from the live advert pages), read by the same field readers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bidbell.clock import UK
from demo.replay.procontract import CONSTRUCTED_DIR
from models.formats import normalise
from models.formats.fields import NormaliseError, NoticeFields
from models.formats.procontract import (
    budget_in,
    cpv_codes,
    parse_value,
    read_window,
    region_codes,
)
from spiders.sources.procontract import AdvertPage, OpportunitiesGrid

IDS = [f"b1dbe11a-0000-4000-8000-{n:012d}" for n in range(1, 23)]


def payloads() -> dict[str, dict[str, Any]]:
    """advertId -> the payload the spider yields for it (listing row + advert page)."""
    out = {}
    for n in (1, 2, 3):
        listing = OpportunitiesGrid.read(
            (CONSTRUCTED_DIR / f"opportunities_page_{n}.html").read_text()
        )
        for advert_id, row in listing.rows:
            advert = AdvertPage.read((CONSTRUCTED_DIR / f"advert_{advert_id}.html").read_text())
            assert isinstance(advert, dict)
            out[advert_id] = {
                "advert_id": advert_id,
                "listing": row,
                "advert": advert,
                "config_region": "UKJ4",
            }
    return out


@pytest.fixture(scope="module")
def notices() -> dict[str, NoticeFields]:
    return {
        i: normalise("procontract-advert", "kent_business_portal", p) for i, p in payloads().items()
    }


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, s: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, s, tzinfo=UTC)


def test_every_constructed_advert_normalises(notices) -> None:
    assert sorted(notices) == IDS
    for advert_id, n in notices.items():
        assert n.source_id == advert_id and n.stage == "tender"
        assert n.ocid == f"bidbell-procontract-{advert_id}"  # the pages show no OCID
        assert n.title and n.buyer_name and n.description and n.buyer_postcode
        assert n.deadline is not None and n.published_at is not None
        assert n.published_at < n.deadline
        assert n.references == [f"DN7001{advert_id[-2:]}"]
        assert all(len(c) == 8 and c.isdigit() for c in n.cpv_codes)
        assert n.regions and all(r.startswith("UKJ4") for r in n.regions)


def test_the_advert_window_gives_times_in_uk_local_time(notices) -> None:
    grounds = notices[IDS[0]]
    assert grounds.published_at == utc(2026, 10, 1, 8, 0)  # 09:00 BST
    assert grounds.deadline == utc(2026, 11, 5, 12, 0)  # 12:00 GMT
    consultancy = notices[IDS[1]]
    assert consultancy.deadline == utc(2026, 10, 23, 11, 0)  # 12:00 BST
    care = notices[IDS[2]]
    assert care.deadline == utc(2026, 11, 6, 17, 0)


def test_a_listing_row_alone_closes_at_the_end_of_its_day() -> None:
    """Without the advert page only the listing's dates (no time) are known: a deadline of
    20/11/2026 is open until 23:59:59 that day in the UK; published 01/10/2026 is 00:00."""
    row = payloads()[IDS[3]]["listing"]
    n = normalise(
        "procontract-advert",
        "kent_business_portal",
        {"advert_id": IDS[3], "listing": row, "advert_skipped": "robots.txt"},
    )
    assert n.deadline == datetime(2026, 11, 20, 23, 59, 59, tzinfo=UK)
    assert n.deadline == utc(2026, 11, 20, 23, 59, 59)  # GMT
    assert n.published_at == datetime(2026, 10, 1, 0, 0, tzinfo=UK)
    assert n.published_at == utc(2026, 9, 30, 23, 0)  # BST
    assert n.title == "Minor Building Works Framework 2027"
    assert n.buyer_name == "Kent County Council" and n.value_amount == 1500000.0
    assert n.references == ["DN700104"]  # the listing link's title attribute
    assert n.cpv_codes == [] and n.regions == []
    # in British Summer Time the end of the day is 22:59:59 UTC
    bst = dict(row, deadline="16/10/2026")
    n = normalise("procontract-advert", "kbp", {"advert_id": IDS[3], "listing": bst})
    assert n.deadline == utc(2026, 10, 16, 22, 59, 59)


def test_values_stated_na_and_in_the_description(notices) -> None:
    framework = notices[IDS[3]]
    assert (framework.value_amount, framework.value_min, framework.value_currency) == (
        1500000.0,
        None,
        "GBP",
    )
    assert notices[IDS[8]].value_amount == 192000.0  # "£192,000.00"
    grounds = notices[IDS[0]]  # N/A in the listing and on the page, nothing in the text
    assert (grounds.value_amount, grounds.value_min, grounds.value_currency) == (None, None, None)
    # N/A, but the description states a budget, its "£" arrived as U+FFFD
    windows = notices[IDS[6]]
    assert (windows.value_amount, windows.value_min, windows.value_currency) == (
        85000.0,
        60000.0,
        "GBP",
    )
    assert "is £60,000 to £85,000 (exc. VAT)" in windows.description
    assert "\ufffd" not in windows.description
    ventilation = notices[IDS[18]]  # "The estimated value of the works is £240,000"
    assert (ventilation.value_amount, ventilation.value_min) == (240000.0, None)
    # a sum in the text that is not a budget is not the value
    grant = notices[IDS[17]]  # "Grants of up to £20,000"
    assert grant.value_amount is None


def test_cpv_regions_and_buyer(notices) -> None:
    grounds = notices[IDS[0]]
    assert grounds.cpv_codes == ["77313000", "77310000", "77314000"]
    assert grounds.buyer_name == "Maidstone Borough Council"
    assert grounds.buyer_region == "UKJ45"  # configured UKJ4, made precise: Mid Kent
    assert grounds.regions == ["UKJ45"] and grounds.buyer_postcode == "ME15 6ZZ"
    framework = notices[IDS[3]]
    assert framework.regions == ["UKJ4", "UKJ41"]  # Kent, Medway
    assert framework.buyer_region == "UKJ4"  # the county council: Kent as configured
    assert notices[IDS[15]].cpv_codes == []  # no categories chosen
    assert notices[IDS[4]].buyer_region == "UKJ43"  # Dartford: Kent Thames Gateway


# --- the four real adverts -----------------------------------------------------------------
@pytest.fixture(scope="module")
def real(fixtures_dir: Path) -> list[dict[str, Any]]:
    path = fixtures_dir / "procontract" / "real_advert_fields_2026-07.json"
    return json.loads(path.read_text())["notices"]


def real_payload(r: dict[str, Any]) -> dict[str, Any]:
    """A real advert's field values as the spider's AdvertPage would give them. The scraper
    kept the window's two ends apart and the Categories' codes without their names; they are
    put back as the page writes them ('... to ...', one entry per category)."""
    return {
        "advert_id": r["advertId"],
        "advert": {
            "reference": r["ref"],
            "title": r["title"],
            "buyer": r["buyer"],
            "description": r["description"],
            "regions": [r["region"]],
            "value": r["estimatedValue"],
            "keywords": r["keywords"],
            "categories": r["cpv"],
            "contract_start": r["startDate"],
            "contract_end": r["endDate"],
            "window": f"{r['opens']} to {r['closes']}",
        },
    }


def test_four_real_adverts_through_the_same_field_readers(real) -> None:
    got = {r["ref"]: normalise("procontract-advert", "procontract", real_payload(r)) for r in real}
    assert sorted(got) == ["DN817372", "DN820023", "DN822404", "DN822782"]
    for r in real:
        n = got[r["ref"]]
        assert n.source_id == r["advertId"] and n.references == [r["ref"]]
        assert n.ocid == f"bidbell-procontract-{r['advertId']}"
        assert n.title == r["title"] and n.description == r["description"]
        assert n.buyer_name == r["buyer"]
        assert n.cpv_codes == [c.split("-")[0] for c in r["cpv"]]
    # DN820023, Bournemouth Christchurch and Poole: 01/07/2026 15:00 to 31/07/2026 14:00 BST
    bcp = got["DN820023"]
    assert bcp.published_at == utc(2026, 7, 1, 14, 0)
    assert bcp.deadline == utc(2026, 7, 31, 13, 0)
    assert bcp.cpv_codes == ["44221000", "45421100", "45421130", "45421132", "45421140"]
    assert (bcp.value_amount, bcp.value_currency) == (None, None)  # "N/A"
    # "Herefordshire, County of": a name with a comma is read whole; names we have no code
    # for are dropped, not guessed
    assert bcp.regions == []
    be_one = got["DN817372"]
    assert be_one.regions == ["UKD"]  # "North West (England)"
    assert be_one.cpv_codes == [] and be_one.value_amount is None
    assert be_one.deadline == utc(2026, 8, 5, 11, 0)
    hereford = got["DN822782"]
    assert hereford.regions == [] and hereford.cpv_codes == ["50700000", "50800000"]
    assert hereford.published_at == utc(2026, 7, 21, 11, 0)
    # DN822404: Estimated value N/A, the budget in the description
    wight = got["DN822404"]
    assert (wight.value_amount, wight.value_min, wight.value_currency) == (
        125000.0,
        75000.0,
        "GBP",
    )
    assert wight.deadline == utc(2026, 8, 28, 13, 0) and wight.cpv_codes == ["45000000"]
    assert wight.regions == []  # "Isle of Wight": no code of ours


@pytest.mark.parametrize(
    ("text", "amount", "minimum"),
    [
        ("£50,000", 50000.0, None),
        ("£192,000.00", 192000.0, None),
        ("£10,000 - £25,000", 25000.0, 10000.0),
        ("£10,000 to £25,000", 25000.0, 10000.0),
        ("\ufffd8,000.00", 8000.0, None),
        ("£8k", 8000.0, None),
        ("£1.2m", 1200000.0, None),
        ("GBP 12,500.50", 12500.5, None),
        ("50000", 50000.0, None),
        ("N/A", None, None),
        ("€40,000", None, None),
        ("", None, None),
        (None, None, None),
    ],
)
def test_parse_value(text, amount, minimum) -> None:
    assert parse_value(text) == (amount, minimum)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "The estimated overall budget for this Tender is £75,000 to £125,000 (exc. VAT ).",
            (125000.0, 75000.0),
        ),
        ("Budget: \ufffd45,000", (45000.0, None)),
        ("The contract value is estimated at £2m over four years.", (2000000.0, None)),
        ("Call-off values are expected to range from £5,000 to £100,000.", (None, None)),
        ("Grants of up to £20,000 for each group.", (None, None)),
        ("The budget is set in the 2027 financial year.", (None, None)),
        ("", (None, None)),
    ],
)  # fmt: skip
def test_budget_in_the_description(text, expected) -> None:
    assert budget_in(text) == expected


def test_window_cpv_and_region_readers() -> None:
    assert read_window("10/07/2026 12:00 to 05/08/2026 12:00") == (
        utc(2026, 7, 10, 11, 0),
        utc(2026, 8, 5, 11, 0),
    )
    assert read_window("10/07/2026 to 05/08/2026") == (
        utc(2026, 7, 9, 23, 0),
        utc(2026, 8, 5, 22, 59, 59),
    )
    assert read_window("N/A") == (None, None)
    assert cpv_codes(["45000000-7 - Construction work", "44221000-5", "Other", "123"]) == [
        "45000000",
        "44221000",
    ]
    assert region_codes(["Kent", "Medway", "South East (England)"]) == ["UKJ4", "UKJ41", "UKJ"]
    assert region_codes(["Tunbridge Wells", "Tonbridge and Malling"]) == ["UKJ46"]
    assert region_codes(["Swale; Gravesham", "UKJ45", "United Kingdom"]) == [
        "UKJ43",
        "UKJ45",
        "UK",
    ]
    assert region_codes(["Mid Kent, West Kent"]) == ["UKJ45", "UKJ46"]
    assert region_codes(["Atlantis", "Herefordshire, County of"]) == []


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("not a dict", "not an object"),
        ({"listing": {"title": "X"}}, "no advertId GUID"),
        ({"advert_id": "123", "listing": {"title": "X"}}, "no advertId GUID"),
        ({"advert_id": IDS[0], "listing": {"buyer": "Kent County Council"}}, "has no title"),
    ],
)
def test_unusable_records_are_refused_with_a_reason(payload, message) -> None:
    with pytest.raises(NormaliseError, match=message):
        normalise("procontract-advert", "kent_business_portal", payload)
