"""The ProContract spider, run as the product runs it (its own process), against the
CONSTRUCTED portal pages (demo/constructed/procontract, built on the layout the scrapers of
the live site agree on; no capture of ProContract exists) served from 127.0.0.1, with faults
and robots.txt scripted per test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from demo.replay import Fault, ReplayServer
from demo.replay.procontract import CONSTRUCTED_DIR, KENT_PORTAL, ProContractSite
from spiders.base import SpiderConfigError
from spiders.crawl import CrawlOutcome, crawl
from spiders.listing_detail import LabelledDetail
from spiders.sources.procontract import AdvertPage, OpportunitiesGrid, ProContractSpider

IDS = [f"b1dbe11a-0000-4000-8000-{n:012d}" for n in range(1, 23)]
FRAMEWORK = IDS[3]  # Kent County Council's building works framework, £1.5m
# One request at a time, no waiting, one quick retry: the polite defaults would make each
# crawl take seconds (they are checked in test_polite_by_default).
FAST = {
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": "False",
    "BIDBELL_RETRY_TIMES": 1,
    "BIDBELL_BACKOFF_BASE": 0.1,
}


@pytest.fixture
def portal() -> Iterator[ReplayServer]:
    with ReplayServer() as server:
        server.mount("/kbp", ProContractSite())
        yield server


def run(
    server: ReplayServer,
    tmp: Path,
    state: dict[str, Any] | None = None,
    out: str = "out.jsonl",
    **args: Any,
) -> CrawlOutcome:
    spider_args = {"base_url": server.url + "/kbp", **args}
    if state is not None:
        spider_args["state"] = json.dumps(state)
    return crawl("kent_business_portal", tmp / out, spider_args, FAST)


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def advert_requests(server: ReplayServer) -> list[str]:
    return [r.split("advertId=")[1] for r in server.requests if "/Advert?" in r]


def page(name: str) -> str:
    return (CONSTRUCTED_DIR / name).read_text()


def test_every_advert_of_three_listing_pages_with_its_advert_page(portal, tmp_path) -> None:
    outcome = run(portal, tmp_path)
    assert outcome.returncode == 0, outcome.log_path.read_text()
    assert outcome.complete and outcome.report["errors"] == 0
    notices = lines(outcome.notices_path)
    assert sorted(n["source_id"] for n in notices) == IDS
    # robots.txt first, then the configured portal's listing page by page, then adverts
    assert portal.requests[0] == "/robots.txt"
    listing = [r for r in portal.requests if "/Opportunities/Index" in r]
    assert listing == [f"/kbp/Opportunities/Index?Page={n}&p={KENT_PORTAL}" for n in (1, 2, 3)]
    assert sorted(advert_requests(portal)) == IDS
    by_id = {n["source_id"]: n for n in notices}
    framework = by_id[FRAMEWORK]
    assert framework["format"] == "procontract-advert" and framework["ocid"] is None
    assert framework["notice_url"] == f"{portal.url}/kbp/Advert?advertId={FRAMEWORK}"
    assert framework["url"] == framework["notice_url"]  # the page the record was read from
    payload = framework["payload"]
    # the row as the grid shows it: dates without a time, the DN reference from the link
    assert payload["listing"] == {
        "title": "Minor Building Works Framework 2027",
        "buyer": "Kent County Council",
        "published": "01/10/2026",
        "deadline": "20/11/2026",
        "value": "£1,500,000.00",
        "reference": "DN700104",
    }
    advert = payload["advert"]
    assert advert["reference"] == "DN700104" and advert["value"] == "£1,500,000.00"
    assert advert["window"] == "01/10/2026 12:00 to 20/11/2026 12:00"
    assert (advert["contract_start"], advert["contract_end"]) == ("01/04/2027", "31/03/2031")
    assert advert["regions"] == ["Kent", "Medway"]
    assert advert["categories"][0] == "45000000-7 - Construction work"
    assert len(advert["categories"]) == 4
    assert advert["description"].count("\n\n") == 1  # two paragraphs, kept apart
    assert advert["contact_email"] == "infrastructure.procurement@buyer-04.example"
    assert [a["name"] for a in advert["attachments"]] == [
        "Framework Agreement.pdf",
        "Pricing Schedule.xlsx",
        "Selection Questionnaire.docx",
    ]
    assert advert["attachments"][0]["size"] == "1.2 MB"
    assert "other" not in advert  # every label on the page is a known one
    assert payload["config_region"] == "UKJ4"
    # N/A as the page says it; no categories where the buyer chose none
    assert by_id[IDS[0]]["payload"]["listing"]["value"] == "N/A"
    assert by_id[IDS[15]]["payload"]["advert"]["categories"] == []
    assert "attachments" not in by_id[IDS[2]]["payload"]["advert"]  # the page lists none
    state = outcome.report["state"]["adverts"]
    assert sorted(state) == IDS and all(len(h) == 20 for h in state.values())


def test_second_run_reads_no_advert_page_again_but_a_changed_row(portal, tmp_path) -> None:
    first = run(portal, tmp_path, out="first.jsonl")
    assert first.complete
    portal.requests.clear()
    second = run(portal, tmp_path, state=first.report["state"], out="second.jsonl")
    assert second.complete, second.log_path.read_text()
    assert advert_requests(portal) == []  # only robots.txt and the three listing pages
    assert len(portal.requests) == 4
    assert lines(second.notices_path) == []
    assert second.report["state"] == first.report["state"]
    assert "22 item(s) listed, 22 unchanged, 0 detail page(s) read" in (second.log_path.read_text())
    # the buyer moves a deadline: the row on page 2 says so, and only that advert is read
    body = page("opportunities_page_2.html").replace("13/11/2026", "20/11/2026").encode()
    portal.add_fault(
        Fault(match=lambda p, q: p.endswith("/Opportunities/Index") and q["Page"] == "2", body=body)
    )
    portal.requests.clear()
    third = run(portal, tmp_path, state=first.report["state"], out="third.jsonl")
    assert third.complete and advert_requests(portal) == [IDS[10]]
    (notice,) = lines(third.notices_path)
    assert notice["payload"]["listing"]["deadline"] == "20/11/2026"
    hashes = (first.report["state"]["adverts"], third.report["state"]["adverts"])
    assert hashes[0][IDS[10]] != hashes[1][IDS[10]]
    assert {k: v for k, v in hashes[0].items() if k != IDS[10]} == {
        k: v for k, v in hashes[1].items() if k != IDS[10]
    }


def test_robots_txt_is_obeyed(tmp_path) -> None:
    robots = f"User-agent: *\nDisallow: /kbp/Advert?advertId={IDS[5]}\n"
    with ReplayServer(robots_txt=robots) as server:
        server.mount("/kbp", ProContractSite())
        outcome = run(server, tmp_path)
        assert server.requests[0] == "/robots.txt"
        assert IDS[5] not in advert_requests(server) and len(advert_requests(server)) == 21
    assert outcome.complete, outcome.log_path.read_text()
    by_id = {n["source_id"]: n for n in lines(outcome.notices_path)}
    assert len(by_id) == 22
    # what the (allowed) listing says is kept; the disallowed page is not read
    skipped = by_id[IDS[5]]["payload"]
    assert skipped["advert_skipped"] == "robots.txt" and "advert" not in skipped
    assert skipped["listing"]["title"] == "Seafront Beach Hut Refurbishment"
    assert "/kbp/Opportunities/Index?Page=1" in by_id[IDS[5]]["url"]  # where it was read
    assert IDS[5] not in outcome.report["state"]["adverts"]  # asked again next time
    # a listing that robots.txt forbids is an error, not an empty portal
    with ReplayServer(robots_txt="User-agent: *\nDisallow: /kbp/Opportunities/\n") as server:
        server.mount("/kbp", ProContractSite())
        blocked = run(server, tmp_path, out="blocked.jsonl")
        assert server.requests == ["/robots.txt"]
    assert blocked.returncode == 3 and not blocked.complete
    (err,) = lines(blocked.errors_path)
    assert err["reason"] == "robots.txt forbids the listing page"
    assert "/kbp/Opportunities/Index?Page=1" in err["url"]


def test_changed_layout_is_reported_not_read_as_empty(tmp_path) -> None:
    with ReplayServer() as server:
        server.mount("/kbp", ProContractSite(changed_layout=True))
        outcome = run(server, tmp_path)
        assert advert_requests(server) == []
    assert outcome.returncode == 3 and not outcome.complete
    assert lines(outcome.notices_path) == []
    (err,) = lines(outcome.errors_path)
    assert err["source"] == "kent_business_portal"
    assert "/kbp/Opportunities/Index?Page=1" in err["url"]
    assert err["reason"] == "listing layout changed: no table#opportunitiesGrid on the page"
    assert err["status"] == 200 and 'class="opportunity-card"' in err["body"]  # raw HTML kept
    assert "listing layout changed" in outcome.log_path.read_text()


def test_a_grid_whose_rows_have_no_advert_links_is_a_layout_change(portal, tmp_path) -> None:
    first = run(portal, tmp_path, out="first.jsonl")
    html = page("opportunities_page_1.html").replace("/Advert?advertId=", "/Advert/View/")
    portal.add_fault(
        Fault(match=lambda p, q: p.endswith("/Opportunities/Index"), body=html.encode())
    )
    outcome = run(portal, tmp_path, state=first.report["state"], out="second.jsonl")
    assert outcome.returncode == 3 and not outcome.complete
    (err,) = lines(outcome.errors_path)
    assert err["reason"] == (
        "listing layout changed: 10 row(s) in table#opportunitiesGrid but no advertId link in any"
    )
    assert err["body"] == html and "Page=1" in err["url"]
    # what the last good run learnt is kept: nothing is read twice once the page is fixed
    assert outcome.report["state"] == first.report["state"]


def test_renamed_columns_and_row_classes_are_layout_changes() -> None:
    page1 = page("opportunities_page_1.html")
    renamed = OpportunitiesGrid.read(page1.replace(">Expression End<", ">Closing date<"))
    assert renamed.layout_error == (
        "table#opportunitiesGrid has no column 'Expression End' (its header row: Title | "
        "Buyer | Expression Start | Closing date | Estimated value)"
    )
    # the columns are read by their headers, not their places
    reordered = page1.replace(">Buyer<", ">@@<").replace(">Expression Start<", ">Buyer<")
    reordered = OpportunitiesGrid.read(reordered.replace(">@@<", ">Expression Start<"))
    assert reordered.rows[0][1]["buyer"] == "01/10/2026"
    classes = OpportunitiesGrid.read(page1.replace('class="gridrow', 'class="row'))
    assert classes.layout_error == (
        "10 row(s) in table#opportunitiesGrid but none is tr.gridrow, tr.gridrow_alternate "
        "or says 'There is no data available.'"
    )


def test_read_listing_reads_the_constructed_pages() -> None:
    page1 = OpportunitiesGrid.read(page("opportunities_page_1.html"))
    assert [i for i, _ in page1.rows] == IDS[:10] and page1.last_page == 3
    assert page1.rows[1][1] == {  # a gridrow_alternate row, as the gridrow ones
        "title": "Community Engagement Consultancy for the Town Centre Plan",
        "buyer": "Folkestone & Hythe District Council",
        "published": "02/10/2026",
        "deadline": "23/10/2026",
        "value": "£8,000.00",
        "reference": "DN700102",
    }
    page3 = OpportunitiesGrid.read(page("opportunities_page_3.html"))
    assert [i for i, _ in page3.rows] == IDS[20:] and page3.last_page == 3
    empty = OpportunitiesGrid.read(page("opportunities_empty.html"))
    assert empty.empty and empty.rows == [] and empty.layout_error is None
    # some rows readable, one not: that row is reported, the others kept
    mixed = OpportunitiesGrid.read(
        "<table id='opportunitiesGrid'><thead><tr><th>Title</th><th>Buyer</th>"
        "<th>Expression Start</th><th>Expression End</th><th>Estimated value</th></tr></thead>"
        f"<tbody><tr class='gridrow'><td><a href='/Advert?advertId={IDS[0].upper()}'>A</a></td>"
        "<td>B</td><td>01/10/2026</td></tr>"
        "<tr class='gridrow_alternate'><td>No link</td><td>B</td></tr></tbody></table>"
    )
    assert [i for i, _ in mixed.rows] == [IDS[0]] and mixed.bad_rows[0][0] == 2
    assert mixed.rows[0][1]["deadline"] == "" and mixed.rows[0][1]["reference"] == ""


def test_read_advert_keeps_unknown_labels_and_refuses_other_pages() -> None:
    html = page(f"advert_{IDS[0]}.html").replace(">Keywords<", ">Lots<")
    advert = AdvertPage.read(html)
    assert isinstance(advert, dict) and "keywords" not in advert
    assert advert["other"] == {"Lots": "Grounds maintenance, Parks, Grass cutting"}
    login = "<html><body><main><h1>Log in</h1><form>...</form></main></body></html>"
    assert AdvertPage.read(login) == "no 'Title' on the page"


def test_failed_advert_pages_are_reported_and_the_others_stored(portal, tmp_path) -> None:
    portal.add_fault(
        Fault(
            match=lambda p, q: q.get("advertId") == IDS[2],
            status=500,
            body=b"Internal Server Error",
            times=None,
        )
    )
    login = b"<html><body><h1>Your session has expired</h1></body></html>"
    portal.add_fault(Fault(match=lambda p, q: q.get("advertId") == IDS[8], body=login))
    outcome = run(portal, tmp_path)
    assert outcome.returncode == 3 and not outcome.complete
    notices = lines(outcome.notices_path)
    assert sorted(n["source_id"] for n in notices) == [i for i in IDS if i not in (IDS[2], IDS[8])]
    by_record = {e["record"]: e for e in lines(outcome.errors_path)}
    assert sorted(by_record) == sorted([IDS[2], IDS[8]])
    err = by_record[IDS[2]]
    assert (err["source"], err["status"]) == ("kent_business_portal", 500)
    assert err["reason"] == "HTTP 500" and err["body"] == "Internal Server Error"
    assert err["url"].endswith(f"/kbp/Advert?advertId={IDS[2]}")
    assert advert_requests(portal).count(IDS[2]) == 2  # tried, retried once, given up
    # a page that is not an advert (a login page, a redesign) is an error, page kept
    err = by_record[IDS[8]]
    assert err["reason"] == "detail page layout changed: no 'Title' on the page"
    assert err["body"] == login.decode()
    assert IDS[2] not in outcome.report["state"]["adverts"]
    assert IDS[8] not in outcome.report["state"]["adverts"]
    # next run: only the adverts that failed are read again
    portal.faults.clear()
    portal.requests.clear()
    again = run(portal, tmp_path, state=outcome.report["state"], out="again.jsonl")
    assert again.complete and sorted(advert_requests(portal)) == sorted([IDS[2], IDS[8]])


def test_listing_only_mode_and_page_cap(portal, tmp_path) -> None:
    outcome = run(portal, tmp_path, details="false", max_pages=1)
    assert outcome.complete, outcome.log_path.read_text()
    assert advert_requests(portal) == [] and "Page=2" not in " ".join(portal.requests)
    notices = lines(outcome.notices_path)
    assert sorted(n["source_id"] for n in notices) == IDS[:10]
    assert all(set(n["payload"]) == {"advert_id", "listing", "config_region"} for n in notices)
    assert all("/Opportunities/Index?Page=1" in n["url"] for n in notices)
    assert "stopped at page 1 (max_pages); the listing goes on to page 3" in (
        outcome.log_path.read_text()
    )


def test_a_portal_with_nothing_listed(portal, tmp_path) -> None:
    other = "00000000-1111-2222-3333-444444444444"
    outcome = run(portal, tmp_path, portal=other, region="UKJ44")
    assert outcome.complete, outcome.log_path.read_text()
    assert [r for r in portal.requests if "Opportunities" in r] == [
        f"/kbp/Opportunities/Index?Page=1&p={other}"
    ]
    assert lines(outcome.notices_path) == [] and lines(outcome.errors_path) == []
    assert outcome.report["state"] == {"adverts": {}}


def test_polite_by_default(portal, tmp_path) -> None:
    args = {"base_url": portal.url + "/kbp", "details": "false", "max_pages": 1}
    outcome = crawl("kent_business_portal", tmp_path / "o.jsonl", args)
    log = outcome.log_path.read_text()
    assert outcome.returncode == 0, log
    assert "'ROBOTSTXT_OBEY': True" in log  # although the project default is off (APIs)
    assert "'DOWNLOAD_DELAY': 1.0" in log and "'AUTOTHROTTLE_ENABLED': True" in log


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"mode": "rss"}, "unknown argument(s) mode"),
        ({"portal": ""}, "region needs portal"),  # the configured region, no portal
        ({"region": "Kent"}, "region must be a NUTS/ITL code"),
        ({"portal": "kbp"}, "portal must be a GUID"),
        ({"max_pages": 0}, "max_pages must be at least 1"),
        ({"max_page": 3}, "unknown argument(s) max_page"),
        ({"details": "maybe"}, "must be true or false"),
        ({"download_delay": -1}, "download_delay must not be negative"),
    ],
)
def test_incoherent_configuration_fails_fast(portal, tmp_path, args, message) -> None:
    outcome = run(portal, tmp_path, **args)
    assert outcome.returncode == 2
    assert message in outcome.log_path.read_text()
    assert portal.requests == []


class _BadDetail(LabelledDetail):
    block = "div.row"
    value = ".cell400["  # not a selector
    labels: ClassVar[dict[str, str]] = {"Title": "title"}
    list_fields = frozenset({"regions"})


class _BadGrid(OpportunitiesGrid):
    link_column = "name"


class _Incoherent(ProContractSpider):
    listing = _BadGrid
    detail = _BadDetail
    detail_path = ""


def test_an_incoherent_declaration_is_refused_before_any_request() -> None:
    with pytest.raises(SpiderConfigError) as caught:
        _Incoherent(source="x", base_url="https://procontract.example")
    message = str(caught.value)
    assert message.startswith("_Incoherent: listing: link_column 'name' is not one of the columns")
    assert "detail: fields regions have no label" in message
    assert "'.cell400[' is not a CSS selector" in message
    assert "a detail layout without detail_path and detail_param" in message
