"""Other publishers' records in the store, on SQLite and on PostgreSQL: the real Public
Contracts Scotland and Sell2Wales captures (every record stored, fields checked on real
examples), Sell2Wales sub-contract notices, and the listing-row and feed-entry formats on
their CONSTRUCTED fixtures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from scrapy.http import HtmlResponse, Request, TextResponse
from sqlmodel import Session, func, select

from bidbell.ids import feed_ocid, stable_id
from bidbell.records import RawNotice
from demo.replay.feed import FOLDER as FEED_FOLDER
from demo.replay.listing import FOLDER as LISTING_FOLDER
from models.formats import normalise
from models.formats.feed import normalise_feed_entry
from models.formats.listing import normalise_listing_row
from models.store.store import store_records
from models.store.tables import IngestError, Notice, Opportunity
from spiders.files import read_file
from spiders.sources.feed import FeedSpider
from spiders.sources.listing import ListingSpider
from spiders.sources.ocds_monthly import OcdsMonthlySpider

NOW = datetime(2025, 2, 25, 12, 0, tzinfo=UTC)
CAPTURES = {
    "public_contracts_scotland": "scotland-pcs",
    "sell2wales": "wales-sell2wales",
}


def capture(fixtures_dir: Path, source: str) -> Path:
    [path] = sorted((fixtures_dir / CAPTURES[source]).glob("*.jsonl"))
    return path


def import_capture(session: Session, fixtures_dir: Path, source: str) -> tuple[Any, list]:
    records = list(read_file(source, "ocds_monthly", capture(fixtures_dir, source)))
    assert all(r.kind == "notice" for r in records), [r for r in records if r.kind == "error"]
    result = store_records(session, [r.model_dump() for r in records], now=NOW)
    session.commit()
    return result, records


def opp(session: Session, ocid: str) -> Opportunity:
    return session.exec(select(Opportunity).where(Opportunity.ocid == ocid)).one()


def count(session: Session, model: Any, source: str | None = None) -> int:
    q = select(func.count()).select_from(model)
    if source is not None:
        q = q.where(model.source == source)
    return session.exec(q).one()


@pytest.mark.parametrize("source", sorted(CAPTURES))
def test_every_record_of_a_capture_is_stored(engine, fixtures_dir, source) -> None:
    lines = [x for x in capture(fixtures_dir, source).read_text().splitlines() if x.strip()]
    with Session(engine) as s:
        result, records = import_capture(s, fixtures_dir, source)
        assert len(lines) == len(records) == 45
        assert (result.received, result.inserted, result.rejected) == (45, 45, 0)
        assert result.opportunities_new == 45  # one procurement per release here
        assert count(s, Notice, source) == 45 and count(s, Opportunity) == 45
        assert count(s, IngestError) == 0
        for o in s.exec(select(Opportunity)).all():
            assert o.title and o.buyer_name and o.cpv_codes and o.regions, o.ocid
            assert o.deadline is not None and o.deadline.tzinfo is not None
            assert o.stage == "tender" and o.sources == [source]
    with Session(engine) as s:  # again: nothing changes
        result, _ = import_capture(s, fixtures_dir, source)
        assert (result.inserted, result.updated, result.unchanged) == (0, 0, 45)


def test_public_contracts_scotland_fields(engine, fixtures_dir) -> None:
    with Session(engine) as s:
        import_capture(s, fixtures_dir, "public_contracts_scotland")
        o = opp(s, "ocds-r6ebe6-0000581860")  # ng homes, Glasgow: electrical inspections
        assert (
            o.title == "Five Year Electrical Inspection Contract, Various Addresses, North Glasgow"
        )
        assert (o.buyer_name, o.buyer_postcode, o.buyer_region) == ("ng homes", "G21 4LS", "UKM82")
        # "2019-05-29T12:00:00Z" is noon UK time (BST), the usual deadline: 11:00 UTC
        assert o.deadline == datetime(2019, 5, 29, 11, 0, tzinfo=UTC)
        assert o.cpv_codes == ["50711000"] and o.regions == ["UKM82"]
        assert o.value_amount is None and o.value_band == "not_stated"
        assert o.url == (
            "https://www.publiccontractsscotland.gov.uk/search/show/search_view.aspx?ID=APR352786"
        )
        n = s.exec(select(Notice).where(Notice.ocid == o.ocid)).one()
        assert n.source_id == "ocds-r6ebe6-0000581860-APR352786"  # PCS releases have no id
        edinburgh = opp(s, "ocds-r6ebe6-0000581503")  # University of Edinburgh: media buying
        assert (edinburgh.value_amount, edinburgh.value_currency) == (1_500_000, "GBP")
        assert edinburgh.cpv_codes == ["79341400", "79341000"]
        # the largest framework: 83 lots, each kept with its own value where stated
        big = max(s.exec(select(Opportunity)).all(), key=lambda x: len(x.lots))
        assert len(big.lots) == 83
        assert {lot["id"] for lot in big.lots} == {str(i) for i in range(1, 84)}


def test_sell2wales_fields(engine, fixtures_dir) -> None:
    with Session(engine) as s:
        import_capture(s, fixtures_dir, "sell2wales")
        o = opp(s, "ocds-kuma6s-148440")  # Swansea: labour-only boiler installation
        assert o.title == "Contract for the Labour only domestic boiler installation"
        assert (o.buyer_name, o.buyer_region) == ("City & County of Swansea", "UKL18")
        # published as 0.01 GBP: a token for "no value", not a one-penny contract
        assert o.value_amount is None and o.value_band == "not_stated"
        assert o.deadline == datetime(2025, 3, 24, 12, 0, tzinfo=UTC)  # noon GMT
        assert o.cpv_codes[:2] == ["50000000", "44621220"] and len(o.cpv_codes) == 8
        assert o.regions == ["UKL18"] and o.is_subcontract is None
        assert o.url.startswith("https://www.sell2wales.gov.wales/search/show/search_view.aspx")
        eqa = opp(s, "ocds-kuma6s-147915")  # NHS Wales: EQA material, six lots
        assert eqa.deadline == datetime(2025, 3, 31, 11, 0, tzinfo=UTC)  # noon BST (from 30 Mar)
        assert [lot["title"] for lot in eqa.lots] == [f"Lot {i}" for i in range(1, 7)]
        valued = [x for x in s.exec(select(Opportunity)).all() if x.value_amount]
        assert len(valued) == 22 and all(x.value_currency == "GBP" for x in valued)


def test_a_sell2wales_sub_contract_notice_is_flagged(engine, fixtures_dir) -> None:
    spider = OcdsMonthlySpider(
        source="sell2wales",
        base_url="https://api.sell2wales.gov.wales",
        updated_from="2025-02-01T00:00:00",
        updated_to="2025-03-01T00:00:00",
        notice_types="2,54",
        subcontract_notice_types="54,55,56",
    )
    records = [
        r for r in read_file("sell2wales", "ocds_monthly", capture(fixtures_dir, "sell2wales"))
    ]
    assert all(isinstance(r, RawNotice) for r in records)
    sub = spider.stamp(records[1], "54")  # as if it came from noticeType=54
    plain = spider.stamp(records[2], "2")
    with Session(engine) as s:
        store_records(s, [sub.model_dump(), plain.model_dump()], now=NOW)
        s.commit()
        flagged = opp(s, sub.ocid or "")
        assert flagged.is_subcontract is True
        assert "sub-contract work under a prime contractor" in flagged.fit_reasons
        assert opp(s, plain.ocid or "").is_subcontract is None


def listing_records() -> list[RawNotice]:
    """The constructed prime's two pages, read by the listing spider's own parser."""
    spider = ListingSpider(
        source="prime_example",
        base_url="https://www.stourside-civils.example",
        path="/supply-chain/",
        container="table#packages",
        row="table#packages > tbody > tr.package",
        title="td.title > a",
        link="td.title > a::attr(href)",
        description="td.title div.summary",
        value="td.value",
        deadline="td.deadline",
        published="td.posted",
        id_param="ref",
        prime="Stourside Civil Engineering Ltd",
        parent_reference="KCC-HT-2025-117",
        regions="UKJ4",
    )
    out: list[RawNotice] = []
    for page, name in enumerate(["supply_chain_page1.html", "supply_chain_page2.html"]):
        url = f"https://www.stourside-civils.example/supply-chain/?page={page + 1}"
        response = HtmlResponse(
            url,
            body=(LISTING_FOLDER / name).read_bytes(),
            encoding="utf-8",
            request=Request(url, meta={"page": page}),
        )
        out.extend(r for r in spider.parse_page(response) if isinstance(r, RawNotice))
    return out


def test_listing_rows_normalise_and_store(engine) -> None:
    records = listing_records()
    assert len(records) == 9
    by_id = {r.source_id: normalise_listing_row("prime_example", r.payload) for r in records}
    d = by_id["SCE-A28-DR-004"]
    assert d.ocid == "bidbell-prime_example-SCE-A28-DR-004"
    assert d.title == "Highway drainage: gully replacement and CCTV survey"
    assert (d.value_amount, d.value_min, d.value_currency) == (65_000, 40_000, "GBP")
    assert d.deadline == datetime(2026, 3, 20, 17, 0, tzinfo=UTC)  # "Friday 20th March 2026 at 5pm"
    # "Posted 18 Feb 2026": a date alone is the start of that UK day, never in the future
    assert d.published_at == datetime(2026, 2, 18, 0, 0, tzinfo=UTC)
    assert d.buyer_name == "Stourside Civil Engineering Ltd"
    assert (d.is_subcontract, d.parent_reference, d.regions) == (True, "KCC-HT-2025-117", ["UKJ4"])
    assert d.stage == "tender" and d.url.endswith("package.aspx?ref=SCE-A28-DR-004&lang=en")
    assert by_id["SCE-A28-RS-005"].value_amount == 1_200_000  # "£1.2m"
    assert by_id["SCE-A28-RS-005"].deadline == datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    assert by_id["SCE-A28-LN-007"].value_amount is None  # "TBC"
    # a date without a time: the end of that day, UK time (BST from 29 March)
    assert by_id["SCE-A28-CE-006"].deadline == datetime(2026, 3, 31, 22, 59, 59, tzinfo=UTC)
    assert by_id["SCE-A28-CE-006"].value_amount == 12_000  # "Up to £12k"
    assert "Chapter 8 trained operatives" in by_id["SCE-A28-TM-001"].description
    assert stable_id("https://p.example/jobs/view.php?job=77&x=1") == "view.php-77-1"
    with Session(engine) as s:
        r = store_records(s, [x.model_dump() for x in records], now=NOW)
        s.commit()
        assert (r.received, r.inserted, r.rejected, r.opportunities_new) == (9, 9, 0, 9)
        o = opp(s, "bidbell-prime_example-SCE-A28-CE-006")
        assert o.is_subcontract is True and o.work_in_kent is True
        assert o.deadline is not None and o.deadline.tzinfo is not None
        assert s.exec(select(Notice.format).distinct()).all() == ["listing-row"]


def feed_records(name: str, url: str) -> list[RawNotice]:
    spider = FeedSpider(source="feed_example", base_url=url)
    response = TextResponse(
        url,
        body=(FEED_FOLDER / name).read_bytes(),
        headers={"Content-Type": "application/xml", "ETag": '"abc"'},
        request=Request(url),
    )
    return [r for r in spider.parse_feed(response) if isinstance(r, RawNotice)]


def test_feed_entries_normalise_and_store(engine) -> None:
    rss = feed_records("opportunities_rss20.xml", "https://eastbridge.example/rss.xml")
    atom = feed_records("opportunities_atom.xml", "https://mvht.example/atom.xml")
    assert (len(rss), len(atom)) == (4, 3)
    g = normalise("feed-entry", "feed_example", rss[0].payload)
    assert g.ocid == feed_ocid("feed_example", "EBC-2026-031") == rss[0].ocid
    assert (
        g.ocid.startswith("bidbell-feed_example-")
        and len(g.ocid) == len("bidbell-feed_example-") + 20
    )
    assert g.title == "Grounds maintenance at three community centres"
    assert g.description.startswith("Grass cutting, hedge trimming")
    assert "<p>" not in g.description and "Closing date: 20/03/2026 12:00" in g.description
    assert g.published_at == datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
    assert g.url == "https://procurement.eastbridge.example/opportunities/EBC-2026-031"
    assert g.value_amount is None and g.value_currency is None  # a feed states no value
    assert g.deadline == datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
    assert (g.cpv_codes, g.regions) == (["77314000"], ["UKJ45"])
    assert g.buyer_name == "Eastbridge Borough Council" and g.stage == "tender"
    no_guid = normalise_feed_entry("feed_example", rss[3].payload)
    assert no_guid.source_id == "https://procurement.eastbridge.example/opportunities/EBC-2026-025"
    a = normalise_feed_entry("feed_example", atom[0].payload)
    assert a.source_id == "tag:mvht.example,2026:tender-118"
    assert a.url == "https://www.mvht.example/tenders/118" and a.regions == ["UKJ41"]
    assert a.deadline == datetime(2026, 4, 1, 11, 0, tzinfo=UTC)  # 12:00 BST
    assert normalise_feed_entry("feed_example", atom[2].payload).published_at == datetime(
        2026, 2, 26, 12, 0, tzinfo=UTC
    )  # no <published>: <updated>
    with Session(engine) as s:
        r = store_records(s, [x.model_dump() for x in rss + atom], now=NOW)
        s.commit()
        assert (r.received, r.inserted, r.rejected) == (7, 7, 0)
        o = opp(s, g.ocid)
        assert o.value_band == "not_stated" and "value not stated" in o.fit_reasons
        assert o.url == g.url and o.sources == ["feed_example"]
