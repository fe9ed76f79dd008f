"""Normalising ProContract adverts ("procontract-advert"): the CONSTRUCTED portal pages
(demo/constructed/procontract; no capture of ProContract exists), read by the
spider's own page readers, become notices with values, aware UTC dates, CPV and regions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from demo.replay.procontract import CONSTRUCTED_DIR
from models.formats import normalise
from models.formats.fields import NormaliseError, NoticeFields
from models.formats.procontract import parse_value, region_codes
from spiders.sources.procontract import ProContractSpider

IDS = [f"b1dbe11a-0000-4000-8000-0000000000a{i}" for i in range(1, 9)]


def payloads() -> dict[str, dict[str, Any]]:
    """advertId -> the payload the spider yields for it (listing row + advert page)."""
    out = {}
    for page in ("opportunities_page_1.html", "opportunities_page_2.html"):
        listing = ProContractSpider.read_listing((CONSTRUCTED_DIR / page).read_text())
        for advert_id, row in listing.rows:
            html = (CONSTRUCTED_DIR / f"advert_{advert_id}.html").read_text()
            advert = ProContractSpider.read_advert(html)
            assert advert is not None
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


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_every_constructed_advert_normalises(notices) -> None:
    assert sorted(notices) == IDS
    for advert_id, n in notices.items():
        assert n.source_id == advert_id and n.stage == "tender"
        assert n.title and n.buyer_name and n.description
        assert n.deadline is not None and n.deadline.tzinfo is not None
        assert n.published_at is not None and n.published_at < n.deadline
        assert n.cpv_codes and all(len(c) == 8 and c.isdigit() for c in n.cpv_codes)


def test_grounds_maintenance_range_value_and_district_region(notices) -> None:
    n = notices[IDS[0]]
    assert n.ocid == f"bidbell-procontract-{IDS[0]}"  # the page shows no OCID
    assert (n.value_amount, n.value_min, n.value_currency) == (210000.0, 150000.0, "GBP")
    assert n.deadline == utc(2026, 11, 5, 12, 0)  # 12:00 GMT
    assert n.published_at == utc(2026, 10, 1, 8, 0)  # 09:00 BST
    assert n.cpv_codes == ["77313000", "77310000", "77314000"]
    assert n.buyer_name == "Maidstone Borough Council"
    assert n.buyer_region == "UKJ45"  # configured UKJ4, made precise: Mid Kent
    assert n.regions == ["UKJ45", "UKJ4"] and n.buyer_postcode == "ME14 1ZZ"
    assert (n.sme_suitable, n.vcse_suitable) == (True, False)


def test_small_consultancy_and_care_contract(notices) -> None:
    consultancy = notices[IDS[1]]
    assert consultancy.value_amount == 8000.0 and consultancy.value_min is None
    assert consultancy.deadline == utc(2026, 10, 23, 11, 0)  # 12:00 BST
    assert consultancy.buyer_name == "Folkestone & Hythe District Council"
    assert consultancy.buyer_region == "UKJ44" and consultancy.vcse_suitable is True
    care = notices[IDS[2]]
    assert care.value_amount == 45000.0 and care.cpv_codes[0] == "85311000"
    assert care.deadline == utc(2026, 11, 6, 17, 0)
    assert care.buyer_region == "UKJ4"  # the county council: Kent as configured
    assert care.regions == ["UKJ44"]  # Canterbury, Thanet, Dover: East Kent


def test_framework_with_lots_keeps_its_published_ocid(notices) -> None:
    n = notices[IDS[3]]
    assert n.ocid == "ocds-h6vhtk-0b1d04"
    assert n.value_amount == 1500000.0
    assert [(lot["id"], lot["title"], lot["value_amount"]) for lot in n.lots] == [
        ("1", "Roofing repairs and replacement", 600000.0),
        ("2", "Electrical works", 500000.0),
        ("3", "Painting and decorating", 400000.0),
    ]
    assert all(lot["value_currency"] == "GBP" for lot in n.lots)
    assert n.regions == ["UKJ4", "UKJ41"]  # Kent, Medway


def test_no_value_shown_is_no_value(notices) -> None:
    n = notices[IDS[6]]
    assert (n.value_amount, n.value_min, n.value_currency) == (None, None, None)
    assert n.buyer_region == "UKJ44" and n.regions == ["UKJ44"]  # Thanet


def test_listing_row_or_feed_item_alone() -> None:
    row = payloads()[IDS[5]]["listing"]
    n = normalise(
        "procontract-advert",
        "kent_business_portal",
        {"advert_id": IDS[5], "listing": row, "advert_skipped": "robots.txt"},
    )
    assert n.title == "Town Centre CCTV Maintenance and Repair"
    assert n.buyer_name == "Dartford Borough Council" and n.buyer_region == "UKJ43"
    assert n.value_amount == 25000.0 and n.deadline == utc(2026, 11, 9, 12, 0)
    assert n.cpv_codes == [] and n.regions == []
    feed = {
        "title": "Supported Living Care - Short Breaks Pilot",
        "published": "Mon, 05 Oct 2026 08:00:00 GMT",
        "summary": "A one-year pilot of short breaks.",
    }
    f = normalise("procontract-advert", "kcc", {"advert_id": IDS[2], "feed": feed})
    assert f.published_at == utc(2026, 10, 5, 8, 0) and f.description == feed["summary"]
    assert f.deadline is None and f.buyer_region is None


@pytest.mark.parametrize(
    ("text", "amount", "minimum"),
    [
        ("£50,000", 50000.0, None),
        ("£10,000 - £25,000", 25000.0, 10000.0),
        ("£10,000 to £25,000", 25000.0, 10000.0),
        ("£8k", 8000.0, None),
        ("£1.2m", 1200000.0, None),
        ("Up to £25,000", 25000.0, None),
        ("£40,000 a year for 3 years", 40000.0, None),
        ("GBP 12,500.50", 12500.5, None),
        ("50000", 50000.0, None),
        ("Not specified", None, None),
        ("", None, None),
        (None, None, None),
    ],
)
def test_parse_value(text, amount, minimum) -> None:
    assert parse_value(text) == (amount, minimum)


def test_region_names() -> None:
    assert region_codes(["Kent", "Medway", "South East"]) == ["UKJ4", "UKJ41", "UKJ"]
    assert region_codes(["Tunbridge Wells", "Tonbridge and Malling"]) == ["UKJ46"]
    assert region_codes(["Swale; Gravesham", "UKJ45", "United Kingdom"]) == [
        "UKJ43",
        "UKJ45",
        "UK",
    ]
    assert region_codes(["Atlantis"]) == []


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
