"""Normalisation of the real Contracts Finder captures: the OCDS search API, the old (2016)
OCDS format and the website's CSV export, field by field."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bidbell.records import RawError, RawNotice
from models.classify.uk_regions import ENGLAND, regions_from_names
from models.formats.contracts_finder_csv import normalise_cf_csv_row
from models.formats.fields import NormaliseError, NoticeFields
from models.formats.ocds import normalise_release
from models.formats.text import clean_text
from spiders.files import read_file

CSV_2020 = "cf_search_export_csv_2020-04-16_open_notices_part1_even_rows.csv"
SEARCH_2022 = "cf_ocds_search_2022-10-22_publishedTo_limit100.json"


@pytest.fixture(scope="module")
def cf_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "contracts-finder"


@pytest.fixture(scope="module")
def releases(cf_dir: Path) -> list[dict[str, Any]]:
    return list(json.loads((cf_dir / SEARCH_2022).read_text(encoding="utf-8"))["releases"])


@pytest.fixture(scope="module")
def ocds(releases) -> dict[str, NoticeFields]:
    return {r["id"]: normalise_release("contracts_finder", r) for r in releases}


@pytest.fixture(scope="module")
def rows(cf_dir: Path) -> list[dict[str, str]]:
    text = (cf_dir / CSV_2020).read_bytes().decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.fixture(scope="module")
def csv_notices(cf_dir: Path) -> dict[str, NoticeFields]:
    out = {}
    for rec in read_file("contracts_finder_csv", "contracts_finder_csv", cf_dir / CSV_2020):
        assert isinstance(rec, RawNotice), rec
        out[rec.source_id] = normalise_cf_csv_row("contracts_finder_csv", rec.payload)
    return out


@pytest.fixture(scope="module")
def legacy(cf_dir: Path) -> dict[str, NoticeFields]:
    out = {}
    for path in sorted((cf_dir / "legacy-2016-ocds").glob("*.json")):
        (release,) = json.loads(path.read_text(encoding="utf-8"))["releases"]
        # key: what follows the GUID, e.g. "kent-9rfl-2qgfaf", "2015-s-8-9487"
        out[path.stem[len("ocds-b5fd17-") + 37 :]] = normalise_release("contracts_finder", release)
    return out


# --- text ------------------------------------------------------------------------------------


def test_mojibake_is_repaired_and_line_breaks_made_plain(releases) -> None:
    # None of the shared captures carries mojibake (checked with ftfy over every string),
    # so it is made here the way it happens: a real CF description's UTF-8 bytes read as
    # Windows-1252 ("•" -> "â€¢", "£" -> "Â£").
    (avon,) = [r for r in releases if r["id"].startswith("2acf9d65")]
    real = avon["tender"]["description"]
    assert "•\t" in real and "\r\n" in real
    garbled = real.encode("utf-8").decode("cp1252")
    assert "â€¢" in garbled
    assert clean_text(garbled) == clean_text(real)
    assert "\r" not in clean_text(real) and "\n•\tA helpdesk" in clean_text(real)
    assert clean_text("the supplierâ€™s bid, Â£5,000") == "the supplier\u2019s bid, £5,000"


def test_real_text_is_left_as_published(releases, rows) -> None:
    # ftfy's other fixes are off: right text is never "corrected" (curly quotes, the Welsh
    # "â", "Crèche", HTML entities in attachment names stay as published)
    texts = [r["tender"]["description"] for r in releases] + [
        v for row in rows for v in row.values()
    ]
    for text in texts:
        assert clean_text(text) == text.replace("\r\n", "\n").replace("\r", "\n").strip()
    assert clean_text("ymgymryd â gwaith") == "ymgymryd â gwaith"
    assert clean_text("the College\u2019s needs") == "the College\u2019s needs"


# --- the OCDS search API (2022) ----------------------------------------------------------------


def test_search_release_fields(ocds) -> None:
    n = ocds["2acf9d65-b523-4e42-a279-2277f43ad19c-583170"]  # Avon Fire & Rescue Service
    assert n.ocid.startswith("ocds-b5fd17-") and n.buyer_name == "Avon Fire & Rescue Service"
    assert (n.value_min, n.value_amount, n.value_currency) == (2500000, 4000000, "GBP")
    assert (n.sme_suitable, n.vcse_suitable) == (True, False)
    assert n.deadline == datetime(2022, 11, 21, 23, 59, 59, tzinfo=UTC)  # "...Z" in GMT
    assert n.stage == "tender" and "\r" not in n.description


def test_suitability_flags_are_read_for_every_release(ocds, releases) -> None:
    for r in releases:
        n = ocds[r["id"]]
        assert (n.sme_suitable, n.vcse_suitable) == (
            r["tender"]["suitability"]["sme"],
            r["tender"]["suitability"]["vcse"],
        )
    assert Counter((n.sme_suitable, n.vcse_suitable) for n in ocds.values()) == {
        (True, False): 52,
        (True, True): 31,
        (False, False): 17,
    }


def test_deadlines_are_aware_and_in_the_offset_published(ocds, releases) -> None:
    for r in releases:
        end = (r["tender"].get("tenderPeriod") or {}).get("endDate")
        n = ocds[r["id"]]
        if end is None:
            assert n.deadline is None
            continue
        assert n.deadline is not None and n.deadline.tzinfo is not None
        assert n.deadline == datetime.fromisoformat(end.replace("Z", "+00:00"))
    # 23:59:59 BST is 22:59:59 UTC
    assert ocds["c3e5344a-741a-4f7e-92af-f401b5c8209a-583186"].deadline == datetime(
        2022, 10, 7, 22, 59, 59, tzinfo=UTC
    )


def test_region_names_become_nuts_codes(ocds) -> None:
    assert ocds["c6d70d85-651d-4508-a8a0-d974bf2e4c39-583163"].regions == ["UKE"]
    assert ocds["330953d1-5645-4615-8060-27fc82c79f73-583147"].regions == ENGLAND


# --- the old (2016) OCDS format ----------------------------------------------------------------


def test_legacy_2016_releases(legacy) -> None:
    assert len(legacy) == 7
    kent = legacy["kent-9rfl-2qgfaf"]
    assert kent.buyer_name == "Kent County Council" and kent.title.startswith("SS1464")
    assert kent.buyer_postcode == "ME14 1XQ"  # buyer.address.postalCode "ME141XQ"
    assert (kent.value_amount, kent.value_min, kent.value_currency) == (None, 578229, "GBP")
    assert (kent.sme_suitable, kent.vcse_suitable) == (False, False)  # xClassifications
    assert kent.cpv_codes == ["15000000"]  # wrong as published, kept
    assert kent.published_at == datetime(2014, 12, 17, 16, 45, 11, tzinfo=UTC)
    postcodes = {n.buyer_name: n.buyer_postcode for n in legacy.values()}
    assert postcodes["Medway Council"] == "ME4 4TR"
    assert postcodes["Shepway District Council"] == "CT20 2QY"
    assert postcodes["Commercial Services"] is None  # all-null address (kentps)
    for n in legacy.values():
        assert n.value_min and n.value_amount is None
        assert n.sme_suitable is False and n.vcse_suitable is False
        # tenderPeriod held the anticipated contract dates (Kent: 2015-04-01..2017-03-31)
        assert n.deadline is None
        assert n.stage == "cancelled"  # tender.status "unsuccessful": closed, no award


# --- the website's CSV export (2020) -----------------------------------------------------------


def test_csv_rows_are_read_whole(csv_notices, rows) -> None:
    assert len(csv_notices) == len(rows) == 500
    assert Counter(n.stage for n in csv_notices.values()) == {
        "tender": 429,  # Contract
        "pipeline": 44,  # Pipeline
        "early_engagement": 27,  # PreProcurement
    }
    for n in csv_notices.values():
        assert n.ocid == f"bidbell-cf-{n.source_id}"
        assert n.published_at is not None and n.published_at.tzinfo is not None
        assert n.deadline is None or n.deadline.tzinfo is not None
        assert "\r" not in n.title + n.description


def test_csv_kent_and_medway_rows(csv_notices) -> None:
    kent = [n for n in csv_notices.values() if n.buyer_name == "Kent County Council"]
    assert sorted(n.source_id for n in kent) == [
        "KENT001-DN455421-37264578",
        "KENT001-DN455447-64717365",
    ]
    fish = csv_notices["KENT001-DN455447-64717365"]
    assert fish.title == "SC19053 - Fish & Eel Passage - River Stour"
    assert fish.regions == ["UKJ"] and fish.buyer_postcode == "ME14 1XQ"
    assert (fish.value_min, fish.value_amount, fish.value_currency) == (90000, 100000, "GBP")
    assert fish.cpv_codes == ["45247220"] and fish.stage == "tender"
    assert (fish.sme_suitable, fish.vcse_suitable, fish.is_subcontract) == (True, False, False)
    # Closing Date 17/04/2020 with no time: 23:59:59 UK time (BST)
    assert fish.deadline == datetime(2020, 4, 17, 22, 59, 59, tzinfo=UTC)
    weather = csv_notices["KENT001-DN455421-37264578"]
    assert (weather.value_min, weather.value_amount) == (None, 90000)  # Value High 0
    medway = csv_notices["MEDWAY001-DN469318-01855197"]
    assert medway.buyer_name == "Medway Council" and medway.buyer_postcode == "ME4 4TR"
    assert (medway.value_min, medway.value_amount) == (None, 5000000)  # low = high
    assert medway.url.startswith("https://procontract.due-north.com/Advert?advertId=fea0aec6")
    assert medway.deadline == datetime(2020, 4, 20, 22, 59, 59, tzinfo=UTC)


def test_csv_subcontracts_have_their_parent(csv_notices, rows) -> None:
    yes = [r for r in rows if r["Is sub-contract"] == "YES"]
    assert len(yes) == 12
    for r in yes:
        n = csv_notices[r["Notice Identifier"].strip()]
        assert n.is_subcontract is True
        assert n.parent_reference and n.parent_reference == r["Parent Reference"].strip()
    charging = csv_notices["tender_205996/802922"]  # Highways England Free-Flow Charging B
    assert charging.parent_reference == "tender_205996/784573"
    assert sum(1 for n in csv_notices.values() if n.is_subcontract) == 13  # + supply chain


def test_csv_supply_chain_row_is_subcontract_work(csv_notices) -> None:
    n = csv_notices["GC31-03.2"]  # a prime contractor's supply-chain opportunity (DWP)
    assert n.buyer_name == "THE GROWTH COMPANY LIMITED"
    assert n.is_subcontract is True and n.parent_reference is None
    assert n.stage == "early_engagement"
    assert n.url == "https://www.surveymonkey.co.uk/r/7KS3VTR"


def test_csv_suitability_and_values(csv_notices, rows) -> None:
    assert Counter(n.sme_suitable for n in csv_notices.values()) == {True: 412, False: 88}
    assert Counter(n.vcse_suitable for n in csv_notices.values()) == {False: 373, True: 127}
    roads = csv_notices["tender_237176/850550"]  # Value Low 8000000, Value High 0
    assert (roads.value_min, roads.value_amount) == (None, 8000000)
    assert roads.deadline is None  # Closing Date 01/01/2001: CF's "no closing date"
    assert sum(1 for r in rows if r["Closing Date"] == "01/01/2001") == 7
    nothing = [n for r, n in zip(rows, csv_notices.values(), strict=True) if
               r["Value Low"] in ("0", "") and r["Value High"] in ("0", "")]  # fmt: skip
    assert nothing and all(n.value_amount is None and n.value_currency is None for n in nothing)


def test_csv_regions(csv_notices, rows) -> None:
    by_region = {r["Region"]: csv_notices[r["Notice Identifier"].strip()] for r in rows}
    assert by_region["London"].regions == ["UKI"]
    assert by_region["Yorkshire and The Humber"].regions == ["UKE"]
    assert by_region["North West,London"].regions == ["UKD", "UKI"]
    assert (
        by_region["Any region"].regions == [] and by_region["Any region,North West"].regions == []
    )
    assert by_region["Scotland"].regions == ["UKM"] and by_region[""].regions == []
    assert regions_from_names(["Wales", "Northern Ireland", "Channel Islands"]) == [
        "UKL",
        "UKN",
        "CHANNEL ISLANDS",  # no NUTS code: kept as written, never matches a UK code
    ]


def test_csv_closing_time_and_bad_values(rows) -> None:
    row = dict(rows[0], **{"Closing Date": "31/01/2022", "Closing Time": "12:00"})
    n = normalise_cf_csv_row("contracts_finder_csv", row)
    assert n.deadline == datetime(2022, 1, 31, 12, 0, tzinfo=UTC)  # GMT
    with pytest.raises(NormaliseError, match="Closing Date is not a date"):
        normalise_cf_csv_row("s", dict(rows[0], **{"Closing Date": "soon"}))
    with pytest.raises(NormaliseError, match="Value High is not a number"):
        normalise_cf_csv_row("s", dict(rows[0], **{"Value High": "lots"}))
    with pytest.raises(NormaliseError, match="no Notice Identifier"):
        normalise_cf_csv_row("s", dict(rows[0], **{"Notice Identifier": " "}))


def test_bad_csv_rows_become_errors_naming_the_row(cf_dir: Path, tmp_path: Path) -> None:
    raw = (cf_dir / CSV_2020).read_bytes().decode("utf-8")
    header, *records = list(csv.reader(io.StringIO(raw, newline="")))[:4]
    records[1][0] = ""  # no identifier
    records[2] = records[2][:10]  # a truncated record
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header, *records])
    path = tmp_path / "export.csv"
    path.write_bytes(out.getvalue().encode("utf-8"))
    recs = list(read_file("contracts_finder_csv", "contracts_finder_csv", path))
    assert [r.kind for r in recs] == ["notice", "error", "error"]
    errors = [r for r in recs if isinstance(r, RawError)]
    assert [e.record for e in errors] == ["row 2", "row 3"]
    assert "has no Notice Identifier" in errors[0].reason
    assert "has 10 fields; the header has 42" in errors[1].reason
    assert all(e.source == "contracts_finder_csv" and e.body for e in errors)
