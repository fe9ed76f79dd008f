"""The listing spider (a prime contractor's supply-chain page, configured by selectors) run in
its own process against the CONSTRUCTED example prime's pages served from 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scrapy.http import HtmlResponse, Request

from demo.replay import ReplayServer
from demo.replay.listing import ListingSite
from spiders.crawl import crawl
from spiders.sources.listing import ListingSpider

NO_DELAY = {"download_delay": 0}


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.fixture
def site() -> ListingSite:
    return ListingSite()


@pytest.fixture
def server(site: ListingSite) -> Iterator[ReplayServer]:
    with ReplayServer() as s:
        s.mount("/prime-example", site)
        yield s


def run(server: ReplayServer, tmp: Path, name: str = "out.jsonl", **args: Any):
    return crawl(
        "prime_example",
        tmp / name,
        {"base_url": server.url + "/prime-example", **NO_DELAY, **args},
    )


def test_reads_every_row_of_both_pages(server, tmp_path) -> None:
    outcome = run(server, tmp_path)
    assert outcome.returncode == 0, outcome.log_path.read_text()
    # robots.txt first (obeyed), then page 1, then page 2 through the "next" link
    assert server.requests == [
        "/robots.txt",
        "/prime-example/supply-chain/",
        "/prime-example/supply-chain/?page=2",
    ]
    notices = lines(outcome.notices_path)
    ids = [n["source_id"] for n in notices]
    assert ids == [
        "SCE-A28-TM-001", "SCE-A28-VC-002", "SCE-A28-DR-004", "SCE-A28-RS-005",
        "SCE-A28-CE-006", "SCE-A28-LN-007", "SCE-A28-WF-008", "SCE-A28-SL-009",
        "SCE-A28-CL-010",
    ]  # fmt: skip
    assert all(n["format"] == "listing-row" for n in notices)
    assert all(n["ocid"] == f"bidbell-prime_example-{n['source_id']}" for n in notices)
    drainage = notices[2]["payload"]
    # id_param "ref" gives the id of a package.aspx?ref=... link; others: the last segment
    assert drainage["link"] == (
        "https://www.stourside-civils.example/supply-chain/package.aspx?ref=SCE-A28-DR-004&lang=en"
    )
    assert drainage["title"] == "Highway drainage: gully replacement and CCTV survey"
    assert drainage["value"] == "£40,000 - £65,000"
    assert drainage["deadline"] == "Friday 20th March 2026 at 5pm"
    assert drainage["description"].startswith("Replace 64 gullies and connections")
    assert drainage["prime"] == "Stourside Civil Engineering Ltd"
    assert drainage["parent_reference"] == "KCC-HT-2025-117" and drainage["regions"] == ["UKJ4"]
    assert notices[0]["notice_url"] == (
        "https://www.stourside-civils.example/supply-chain/packages/SCE-A28-TM-001"
    )
    # the row counts are remembered for the next run's layout check
    assert outcome.report["state"] == {"rows_per_page": [6, 3]}
    assert outcome.report["complete"] is True and not lines(outcome.errors_path)


def test_a_page_without_the_container_is_a_layout_change(server, site, tmp_path) -> None:
    site.layout = "changed"
    outcome = run(server, tmp_path, state=json.dumps({"rows_per_page": [6, 3]}))
    assert outcome.returncode == 3 and outcome.report["complete"] is False
    [err] = lines(outcome.errors_path)
    assert err["reason"] == "layout changed: no 'table#packages' on the page"
    assert "opportunity-cards" in err["body"]  # the page is kept for whoever fixes the selectors
    assert lines(outcome.notices_path) == []
    assert outcome.report["state"] == {}  # the remembered counts are not overwritten


def test_rows_gone_from_a_page_that_had_rows_is_a_layout_change(server, site, tmp_path) -> None:
    site.layout = "changed"
    # without a container selector, only the remembered row count can tell
    outcome = run(server, tmp_path, container="", state=json.dumps({"rows_per_page": [6, 3]}))
    assert outcome.returncode == 3
    [err] = lines(outcome.errors_path)
    assert err["reason"] == (
        "layout changed: row selector 'table#packages > tbody > tr.package' matched nothing "
        "on page 1, which had 6 row(s) last time"
    )
    # on a first run an empty page is just an empty page
    first = run(server, tmp_path, name="first.jsonl", container="")
    assert first.returncode == 0 and lines(first.notices_path) == []
    assert first.report["state"] == {"rows_per_page": [0]}


def test_robots_txt_is_obeyed(tmp_path) -> None:
    with ReplayServer(robots_txt="User-agent: *\nDisallow: /prime-example/\n") as s:
        s.mount("/prime-example", ListingSite())
        outcome = run(s, tmp_path)
        assert s.requests == ["/robots.txt"]  # the listing itself was never asked for
    assert outcome.returncode == 3
    [err] = lines(outcome.errors_path)
    assert "Forbidden by robots.txt" in err["reason"]


def test_politeness_settings_and_bad_configuration(server, tmp_path) -> None:
    assert ListingSpider.custom_settings["ROBOTSTXT_OBEY"] is True
    args = {"base_url": "https://prime.example", "row": "tr", "title": "td a"}
    assert ListingSpider(**args).download_delay == 5.0  # per host, by default
    assert ListingSpider(**args, download_delay="0.5").download_delay == 0.5
    outcome = run(server, tmp_path, row="tr[[")
    assert outcome.returncode == 2 and "row selector 'tr[[' is invalid" in (
        outcome.log_path.read_text()
    )
    outcome = run(server, tmp_path, title="")
    assert outcome.returncode == 2 and "row and title selectors are required" in (
        outcome.log_path.read_text()
    )
    assert server.requests == []


def test_relative_links_are_resolved_against_the_page() -> None:
    spider = ListingSpider(
        source="prime_example", base_url="https://prime.example", row="li", title="a"
    )
    url = "https://prime.example/work/supply-chain/?page=3"
    html = b"""<ul><li><a href="jobs/view.php?job=77">Fencing</a></li>
               <li><a href="/tenders/T-9/">Scaffolding</a></li><li>No link here</li></ul>"""
    page = HtmlResponse(url, body=html, encoding="utf-8", request=Request(url, meta={"page": 0}))
    records = list(spider.parse_page(page))
    assert [(r.source_id, r.payload["link"]) for r in records[:2]] == [
        ("view.php-77", "https://prime.example/work/supply-chain/jobs/view.php?job=77"),
        ("T-9", "https://prime.example/tenders/T-9/"),
    ]
    assert records[2].kind == "error" and records[2].reason == "row without a link"
    assert records[2].record == "page 1 row 3" and "No link here" in records[2].body
