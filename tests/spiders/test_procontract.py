"""The ProContract spider, run as the product runs it (its own process), against the
CONSTRUCTED portal pages (demo/constructed/procontract: no capture of ProContract
exists) served from 127.0.0.1, with faults and robots.txt scripted per test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo.replay import Fault, ReplayServer
from demo.replay.procontract import CONSTRUCTED_DIR, ProContractSite
from spiders.crawl import CrawlOutcome, crawl
from spiders.sources.procontract import ProContractSpider

IDS = [f"b1dbe11a-0000-4000-8000-0000000000a{i}" for i in range(1, 9)]
KCC = [IDS[2], IDS[3], IDS[7]]  # the Kent County Council adverts, also in its RSS feed
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
    name: str = "kent_business_portal",
    state: dict[str, Any] | None = None,
    out: str = "out.jsonl",
    **args: Any,
) -> CrawlOutcome:
    spider_args = {"base_url": server.url + "/kbp", **args}
    if state is not None:
        spider_args["state"] = json.dumps(state)
    return crawl(name, tmp / out, spider_args, FAST)


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def advert_requests(server: ReplayServer) -> list[str]:
    return [r.split("advertId=")[1] for r in server.requests if "/Advert?" in r]


def test_all_adverts_from_two_listing_pages_with_details(portal, tmp_path) -> None:
    outcome = run(portal, tmp_path)
    assert outcome.returncode == 0, outcome.log_path.read_text()
    assert outcome.complete and outcome.report["errors"] == 0
    notices = lines(outcome.notices_path)
    assert sorted(n["source_id"] for n in notices) == IDS
    # robots.txt first, then the listing (the configured portal's) page by page, then adverts
    assert portal.requests[0] == "/robots.txt"
    listing = [r for r in portal.requests if "/Opportunities/Index" in r]
    assert listing == [
        f"/kbp/Opportunities/Index?Page={n}&p=8691483f-2f3d-e711-80e1-005056b64545" for n in (1, 2)
    ]
    assert sorted(advert_requests(portal)) == IDS
    by_id = {n["source_id"]: n for n in notices}
    framework = by_id[IDS[3]]
    assert framework["format"] == "procontract-advert"
    assert framework["notice_url"] == f"{portal.url}/kbp/Advert?advertId={IDS[3]}"
    assert framework["ocid"] == "ocds-h6vhtk-0b1d04"  # the page shows one
    payload = framework["payload"]
    assert payload["listing"] == {
        "title": "Minor Building Works Framework 2027 (3 Lots)",
        "buyer": "Kent County Council",
        "published": "06/10/2026 12:00",
        "deadline": "20/11/2026 12:00",
        "value": "£1,500,000",
    }
    advert = payload["advert"]
    assert advert["reference"] == "DN700104" and advert["value"] == "£1,500,000"
    assert advert["regions"] == ["Kent", "Medway"]
    assert advert["categories"][0] == "45000000 - Construction work"
    assert advert["lots"][1] == {"lot": "2", "title": "Electrical works", "value": "£500,000"}
    assert advert["contact_email"] == "infrastructure.procurement@kent-cc.example"
    assert advert["description"].count("\n\n") == 1  # two paragraphs, kept apart
    assert payload["config_region"] == "UKJ4"
    assert by_id[IDS[0]]["ocid"] is None  # no OCID shown: the normaliser makes one
    assert by_id[IDS[6]]["payload"]["listing"]["value"] == ""  # shown blank, kept blank
    state = outcome.report["state"]["adverts"]
    assert sorted(state) == IDS and all(len(h) == 20 for h in state.values())


def test_second_run_reads_no_advert_page_again(portal, tmp_path) -> None:
    first = run(portal, tmp_path, out="first.jsonl")
    assert first.complete
    portal.requests.clear()
    second = run(portal, tmp_path, state=first.report["state"], out="second.jsonl")
    assert second.complete, second.log_path.read_text()
    assert advert_requests(portal) == []  # only robots.txt and the two listing pages
    assert len(portal.requests) == 3
    assert lines(second.notices_path) == []
    assert second.report["state"] == first.report["state"]
    # a row that changed since (here: its remembered hash differs) is read again, alone
    portal.requests.clear()
    changed = json.loads(json.dumps(first.report["state"]))
    changed["adverts"][IDS[4]] = "0" * 20
    third = run(portal, tmp_path, state=changed, out="third.jsonl")
    assert third.complete and advert_requests(portal) == [IDS[4]]
    assert [n["source_id"] for n in lines(third.notices_path)] == [IDS[4]]
    assert third.report["state"] == first.report["state"]


def test_robots_txt_is_obeyed(tmp_path) -> None:
    robots = f"User-agent: *\nDisallow: /kbp/Advert?advertId={IDS[6]}\n"
    with ReplayServer(robots_txt=robots) as server:
        server.mount("/kbp", ProContractSite())
        outcome = run(server, tmp_path)
        assert server.requests[0] == "/robots.txt"
        assert IDS[6] not in advert_requests(server) and len(advert_requests(server)) == 7
    assert outcome.complete, outcome.log_path.read_text()
    by_id = {n["source_id"]: n for n in lines(outcome.notices_path)}
    assert len(by_id) == 8
    # what the (allowed) listing says is kept; the disallowed page is not read
    skipped = by_id[IDS[6]]["payload"]
    assert skipped["advert_skipped"] == "robots.txt" and "advert" not in skipped
    assert skipped["listing"]["title"] == "Seafront Beach Hut Refurbishment"
    assert IDS[6] not in outcome.report["state"]["adverts"]  # asked again next time
    # a listing that robots.txt forbids is an error, not an empty portal
    with ReplayServer(robots_txt="User-agent: *\nDisallow: /kbp/Opportunities/\n") as server:
        server.mount("/kbp", ProContractSite())
        blocked = run(server, tmp_path, out="blocked.jsonl")
        assert server.requests == ["/robots.txt"]
    assert blocked.returncode == 3 and not blocked.complete
    (err,) = lines(blocked.errors_path)
    assert err["reason"] == "robots.txt forbids the listing page"
    assert "/kbp/Opportunities/Index?Page=1" in err["url"]


def test_rss_mode_with_a_conditional_get(portal, tmp_path) -> None:
    first = run(portal, tmp_path, name="kent_county_council", out="first.jsonl")
    assert first.complete, first.log_path.read_text()
    assert [r for r in portal.requests if "/rss" in r] == ["/kbp/Opportunities/rss?site=10072"]
    notices = lines(first.notices_path)
    assert sorted(n["source_id"] for n in notices) == sorted(KCC)
    feed_item = next(n for n in notices if n["source_id"] == IDS[2])["payload"]["feed"]
    assert feed_item["title"] == "Supported Living Care - Short Breaks Pilot"
    assert feed_item["published"] == "Mon, 05 Oct 2026 08:00:00 GMT"
    assert all("advert" in n["payload"] for n in notices)
    # the advert links point at the live portal: the spider builds its own URL from base_url
    assert sorted(advert_requests(portal)) == sorted(KCC)
    feed_state = first.report["state"]["feed"]
    assert feed_state["etag"].startswith('"') and feed_state["last_modified"].endswith("GMT")

    portal.requests.clear()
    portal.request_headers.clear()
    second = run(
        portal, tmp_path, name="kent_county_council", state=first.report["state"], out="b.jsonl"
    )
    assert second.complete and lines(second.notices_path) == []
    assert portal.requests == ["/robots.txt", "/kbp/Opportunities/rss?site=10072"]
    sent = portal.request_headers[1]
    assert sent["If-None-Match"] == feed_state["etag"]
    assert sent["If-Modified-Since"] == feed_state["last_modified"]
    assert "feed not modified since the last run" in second.log_path.read_text()
    assert second.report["state"] == first.report["state"]


def test_rss_validators_wait_until_every_item_is_read(portal, tmp_path) -> None:
    portal.add_fault(
        Fault(match=lambda p, q: q.get("advertId") == IDS[3], status=500, body=b"", times=None)
    )
    first = run(portal, tmp_path, name="kent_county_council", out="first.jsonl")
    assert first.returncode == 3 and len(lines(first.notices_path)) == 2
    # no new validators: a 304 next time would hide the advert that failed
    assert first.report["state"]["feed"] == {}
    assert IDS[3] not in first.report["state"]["adverts"]
    portal.faults.clear()
    portal.requests.clear()
    second = run(
        portal, tmp_path, name="kent_county_council", state=first.report["state"], out="b.jsonl"
    )
    assert second.complete and advert_requests(portal) == [IDS[3]]
    assert second.report["state"]["feed"]["etag"]


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
    assert err["reason"] == "listing layout changed: no #opportunitiesGrid table on the page"
    assert err["status"] == 200 and 'class="opportunity-card"' in err["body"]  # raw HTML kept
    assert "listing layout changed" in outcome.log_path.read_text()


def test_a_grid_whose_rows_have_no_advert_links_is_a_layout_change(portal, tmp_path) -> None:
    first = run(portal, tmp_path, out="first.jsonl")
    grid = (
        b"<html><body><table id='opportunitiesGrid'><tbody>"
        b"<tr><td>Grounds Maintenance Services</td><td>Maidstone Borough Council</td></tr>"
        b"<tr><td>Fire Station Cleaning</td><td>Kent Fire and Rescue Service</td></tr>"
        b"</tbody></table></body></html>"
    )
    portal.add_fault(Fault(match=lambda p, q: p.endswith("/Opportunities/Index"), body=grid))
    outcome = run(portal, tmp_path, state=first.report["state"], out="second.jsonl")
    assert outcome.returncode == 3 and not outcome.complete
    (err,) = lines(outcome.errors_path)
    assert err["reason"] == (
        "listing layout changed: 2 row(s) in #opportunitiesGrid but no advert link in any"
    )
    assert err["body"] == grid.decode() and "Page=1" in err["url"]
    # what the last good run learnt is kept: nothing is read twice once the page is fixed
    assert outcome.report["state"] == first.report["state"]


def test_a_500_on_one_advert_is_reported_and_the_others_stored(portal, tmp_path) -> None:
    portal.add_fault(
        Fault(
            match=lambda p, q: q.get("advertId") == IDS[2],
            status=500,
            body=b"Internal Server Error",
            times=None,
        )
    )
    outcome = run(portal, tmp_path)
    assert outcome.returncode == 3 and not outcome.complete
    notices = lines(outcome.notices_path)
    assert sorted(n["source_id"] for n in notices) == [i for i in IDS if i != IDS[2]]
    (err,) = lines(outcome.errors_path)
    assert (err["source"], err["status"], err["record"]) == ("kent_business_portal", 500, IDS[2])
    assert err["reason"] == "HTTP 500" and err["body"] == "Internal Server Error"
    assert err["url"].endswith(f"/kbp/Advert?advertId={IDS[2]}")
    assert advert_requests(portal).count(IDS[2]) == 2  # tried, retried once, given up
    assert IDS[2] not in outcome.report["state"]["adverts"]
    # next run: only the advert that failed is read again
    portal.faults.clear()
    portal.requests.clear()
    again = run(portal, tmp_path, state=outcome.report["state"], out="again.jsonl")
    assert again.complete and advert_requests(portal) == [IDS[2]]


def test_listing_only_mode_and_page_cap(portal, tmp_path) -> None:
    outcome = run(portal, tmp_path, details="false", max_pages=1)
    assert outcome.complete, outcome.log_path.read_text()
    assert advert_requests(portal) == [] and "Page=2" not in " ".join(portal.requests)
    notices = lines(outcome.notices_path)
    assert sorted(n["source_id"] for n in notices) == IDS[:5]
    assert all(set(n["payload"]) == {"advert_id", "listing", "config_region"} for n in notices)
    assert "stopped at page 1 (max_pages)" in outcome.log_path.read_text()


def test_polite_by_default(portal, tmp_path) -> None:
    outcome = crawl("kent_county_council", tmp_path / "o.jsonl", {"base_url": portal.url + "/kbp"})
    log = outcome.log_path.read_text()
    assert outcome.complete, log
    assert "'ROBOTSTXT_OBEY': True" in log  # although the project default is off (APIs)
    assert "'DOWNLOAD_DELAY': 1.0" in log and "'AUTOTHROTTLE_ENABLED': True" in log


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"mode": "rss", "site": ""}, "mode rss needs the site id"),
        ({"mode": "api"}, "mode must be listing or rss"),
        ({"region": "Kent"}, "region must be a NUTS/ITL code"),
        ({"portal": "kbp"}, "portal must be a GUID"),
        ({"max_pages": 0}, "max_pages must be at least 1"),
        ({"max_page": 3}, "unknown argument(s) max_page"),
        ({"download_delay": -1}, "download_delay must not be negative"),
    ],
)
def test_incoherent_configuration_fails_fast(portal, tmp_path, args, message) -> None:
    outcome = run(portal, tmp_path, **args)
    assert outcome.returncode == 2
    assert message in outcome.log_path.read_text()
    assert portal.requests == []


def test_read_listing_reads_the_constructed_pages() -> None:
    page1 = ProContractSpider.read_listing(
        (CONSTRUCTED_DIR / "opportunities_page_1.html").read_text()
    )
    assert [i for i, _ in page1.rows] == IDS[:5] and page1.next_page == 2
    assert page1.rows[1][1]["buyer"] == "Folkestone & Hythe District Council"
    page2 = ProContractSpider.read_listing(
        (CONSTRUCTED_DIR / "opportunities_page_2.html").read_text()
    )
    assert [i for i, _ in page2.rows] == IDS[5:] and page2.next_page is None
    empty = ProContractSpider.read_listing(
        (CONSTRUCTED_DIR / "opportunities_empty.html").read_text()
    )
    assert empty.rows == [] and empty.layout_error is None and empty.next_page is None
    message_row = ProContractSpider.read_listing(
        "<table id='opportunitiesGrid'><tbody><tr><td colspan='5'>No opportunities found"
        "</td></tr></tbody></table>"
    )
    assert message_row.rows == [] and message_row.layout_error is None
    # some rows readable, one not: that row is reported, the others kept
    mixed = ProContractSpider.read_listing(
        "<table id='opportunitiesGrid'><tbody>"
        f"<tr><td><a href='/Advert?advertId={IDS[0]}'>A</a></td><td>B</td></tr>"
        "<tr><td>No link</td><td>B</td></tr></tbody></table>"
    )
    assert [i for i, _ in mixed.rows] == [IDS[0]] and mixed.bad_rows[0][0] == 2
