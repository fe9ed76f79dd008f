"""The Contracts Finder spiders (OCDS search API and website CSV export), run as the product
runs them (their own process), against the real captures served from 127.0.0.1 by
demo.replay.contracts_finder, with faults scripted per request."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from demo.replay import Fault, ReplayServer
from demo.replay.contracts_finder import CF_CSV_CAPTURE, CF_SEARCH_CAPTURE, CfCsvSite, CfOcdsSite
from spiders.crawl import crawl
from spiders.middlewares import RetryAfterMiddleware
from spiders.sources.contracts_finder import ContractsFinderSpider

# Every release of the capture was published between 21 Oct 2022 15:49 and 22 Oct 10:01 (BST).
TWO_DAYS = {"updated_from": "2022-10-21T00:00:00", "updated_to": "2022-10-23T00:00:00"}
FAST = {"BIDBELL_BACKOFF_BASE": 0.2, "BIDBELL_RETRY_TIMES": 3}
CF = "https://www.contractsfinder.service.gov.uk/Notice/"


@pytest.fixture
def cf(fixtures_dir: Path) -> Iterator[ReplayServer]:
    with ReplayServer() as server:
        server.mount("/cf", CfOcdsSite(fixtures_dir, page_size=30))
        server.mount("/cf-empty", CfOcdsSite(fixtures_dir, page_size=30, empty_first_page=True))
        server.mount("/cf-csv", CfCsvSite(fixtures_dir))
        yield server


@pytest.fixture(scope="module")
def releases(fixtures_dir: Path) -> list[dict[str, Any]]:
    path = fixtures_dir / "contracts-finder" / CF_SEARCH_CAPTURE
    return list(json.loads(path.read_text(encoding="utf-8"))["releases"])


def run(server: ReplayServer, tmp: Path, prefix: str = "/cf", hours: float = 48, **kw: Any):
    settings = {**FAST, **kw.pop("settings", {})}
    args = {"base_url": server.url + prefix, "window_hours": hours, "limit": 100, **TWO_DAYS}
    return crawl("contracts_finder", tmp / "out.jsonl", {**args, **kw}, settings)


def lines(path: Path) -> list[dict[str, Any]]:
    return (
        [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []
    )


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_pages_through_the_cursor_with_the_configured_stages(cf, tmp_path, releases) -> None:
    outcome = run(cf, tmp_path)  # stages from sources.toml: "planning,tender"
    assert outcome.returncode == 0, outcome.log_path.read_text()
    wanted = [r for r in releases if {"planning", "tender", "tenderAmendment"} & set(r["tag"])]
    assert len(wanted) == 73  # 61 tender + 8 tenderAmendment + 4 planning in the capture
    notices = lines(outcome.notices_path)
    assert sorted(n["source_id"] for n in notices) == sorted(r["id"] for r in wanted)
    # 73 releases at 30 a page: 3 pages, the 2nd and 3rd through links.next's cursor
    assert len(cf.requests) == 3
    first = query(cf.requests[0])
    assert "cursor" not in first and all("cursor" in query(r) for r in cf.requests[1:])
    assert first["stages"] == "planning,tender" and first["limit"] == "100"
    # UK local time with the offset in effect (BST in October), as the API documents
    assert (first["publishedFrom"], first["publishedTo"]) == (
        "2022-10-21T00:00:00+01:00",
        "2022-10-23T00:00:00+01:00",
    )
    assert outcome.windows[0]["pages"] == 3 and outcome.windows[0]["status"] == "complete"
    by_id = {r["id"]: r for r in releases}
    for n in notices:
        release = by_id[n["source_id"]]
        assert n["payload"] == release and n["ocid"] == release["ocid"]
        assert n["source"] == "contracts_finder" and n["format"] == "ocds-release"
        # the notice's page: /Notice/<notice GUID>, the one its own documents link
        guid = n["source_id"].rsplit("-", 1)[0]
        assert n["notice_url"] == CF + guid
        assert n["notice_url"] in json.dumps(release)


def test_no_stages_asks_for_every_release(cf, tmp_path, releases) -> None:
    outcome = run(cf, tmp_path, stages="")
    assert outcome.returncode == 0
    assert len(lines(outcome.notices_path)) == len(releases) == 100
    assert "stages" not in query(cf.requests[0])


def test_winter_dates_carry_z() -> None:
    spider = ContractsFinderSpider(
        source="contracts_finder",
        base_url="https://cf.example",
        updated_from="2025-01-20T00:00:00",
        updated_to="2025-01-21T00:00:00",
        window_hours=24,
    )
    q = query(spider.window_url(spider.report.windows[0]))
    assert (q["publishedFrom"], q["publishedTo"]) == (
        "2025-01-20T00:00:00Z",
        "2025-01-21T00:00:00Z",
    )


def test_an_empty_page_with_a_next_link_is_followed(cf, tmp_path) -> None:
    # the real empty page CF served in January 2025 still had links.next
    outcome = run(cf, tmp_path, prefix="/cf-empty", stages="")
    assert outcome.returncode == 0, outcome.log_path.read_text()
    assert len(lines(outcome.notices_path)) == 100
    assert outcome.windows[0]["pages"] == 5  # the empty page, then 4 pages of 30


def test_403_waits_the_configured_time_then_retries(cf, tmp_path) -> None:
    cf.add_fault(Fault(match=lambda p, q: "cursor" not in q, status=403, body=b"Request forbidden"))
    started = time.monotonic()
    outcome = run(cf, tmp_path, settings={"BIDBELL_STATUS_WAITS": '{"403": 1.5}'})
    elapsed = time.monotonic() - started
    log = outcome.log_path.read_text()
    assert outcome.returncode == 0, log
    assert len(lines(outcome.notices_path)) == 73
    assert cf.requests[0] == cf.requests[1]  # the same page, asked again
    assert elapsed >= 1.5
    assert "HTTP 403" in log and "waiting 1.5s (the source's wait for this status)" in log


def test_the_403_wait_is_five_minutes_unless_configured() -> None:
    assert ContractsFinderSpider.status_waits == {403: 300.0}

    def waits(setting: dict[str, Any] | None) -> dict[int, float]:
        crawler: Any = SimpleNamespace(spider=ContractsFinderSpider)
        return RetryAfterMiddleware(crawler, 5, 5.0, 300.0, setting).status_waits()

    assert waits(None) == {403: 300.0}
    assert waits({"403": "0.5"}) == {403: 0.5}


def test_find_a_tender_still_gives_up_on_403_at_once(replay, tmp_path) -> None:
    replay.add_fault(Fault(match=lambda p, q: True, status=403, body=b"Forbidden", times=None))
    args = {"base_url": replay.url + "/fts", "window_hours": 24, "limit": 100}
    window = {"updated_from": "2026-10-06T00:00:00", "updated_to": "2026-10-07T00:00:00"}
    outcome = crawl("find_a_tender", tmp_path / "o.jsonl", {**args, **window}, FAST)
    assert outcome.returncode == 3
    assert len(replay.requests) == 1  # no retry, no wait: unchanged behaviour
    assert lines(outcome.errors_path)[0]["reason"] == "HTTP 403"


def test_malformed_page_is_reported_with_source_and_url(cf, tmp_path, releases) -> None:
    # 12-hour windows; the afternoon of 21 Oct has more than one page, its 2nd is truncated
    cf.add_fault(
        Fault(
            match=lambda p, q: "cursor" in q and q["publishedFrom"].startswith("2022-10-21T12"),
            truncate=150,
        )
    )
    outcome = run(cf, tmp_path, hours=12, stages="")
    assert outcome.returncode == 3
    errors = lines(outcome.errors_path)
    assert len(errors) == 1
    err = errors[0]
    assert err["source"] == "contracts_finder" and err["reason"].startswith("malformed page")
    assert "cursor=" in err["url"] and "publishedFrom=2022-10-21T12" in err["url"]
    assert len(err["body"]) == 150  # the raw payload is kept for inspection
    failed = [w for w in outcome.windows if w["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["start"].startswith("2022-10-21T11:00")  # UTC
    # the failed window's first page and every other window are stored
    uk = [datetime.fromisoformat(r["date"]) for r in releases]
    afternoon = sum(1 for d in uk if d.day == 21 and d.hour >= 12)
    assert afternoon > 30
    assert len(lines(outcome.notices_path)) == len(releases) - afternoon + 30
    log = outcome.log_path.read_text()
    assert "contracts_finder: malformed page" in log and err["url"] in log


def test_unknown_stage_fails_fast(cf, tmp_path) -> None:
    outcome = run(cf, tmp_path, stages="tender,bogus")
    assert outcome.returncode == 2
    assert "stages bogus not one of" in outcome.log_path.read_text()
    assert cf.requests == []


# --- the website's CSV export ---------------------------------------------------------------


def test_csv_export_yields_one_record_per_row(cf, tmp_path, fixtures_dir) -> None:
    outcome = crawl(
        "contracts_finder_csv", tmp_path / "csv.jsonl", {"base_url": cf.url + "/cf-csv"}, FAST
    )
    assert outcome.returncode == 0, outcome.log_path.read_text()
    assert cf.requests == ["/cf-csv/Search/GetCsvFile"]
    text = (fixtures_dir / "contracts-finder" / CF_CSV_CAPTURE).read_bytes().decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    notices = lines(outcome.notices_path)
    assert len(notices) == len(rows) == 500 and lines(outcome.errors_path) == []
    assert outcome.report["notices"] == 500 and outcome.report["complete"] is True
    for n, row in zip(notices, rows, strict=True):
        assert n["format"] == "cf-csv-row" and n["source"] == "contracts_finder_csv"
        assert n["payload"] == row  # raw text, CRLF inside fields kept
        # as published, some identifiers carry a CRLF and spaces first ("\r\n   MT219413")
        assert n["source_id"] == row["Notice Identifier"].strip()
    assert any("\r\n" in n["payload"]["Description"] for n in notices)


def test_csv_export_that_is_not_a_csv_is_reported(cf, tmp_path) -> None:
    # what a plain GET may get without a search in the session: a web page
    cf.add_fault(Fault(match=lambda p, q: True, status=200, body=b"<html><body>Search</body>"))
    outcome = crawl(
        "contracts_finder_csv", tmp_path / "csv.jsonl", {"base_url": cf.url + "/cf-csv"}, FAST
    )
    assert outcome.returncode == 3
    err = lines(outcome.errors_path)[0]
    assert err["source"] == "contracts_finder_csv" and err["url"].endswith("/Search/GetCsvFile")
    assert "not a Contracts Finder CSV export" in err["reason"]
    assert lines(outcome.notices_path) == []


def test_csv_export_without_a_needed_column_is_refused(cf, tmp_path, fixtures_dir) -> None:
    raw = (fixtures_dir / "contracts-finder" / CF_CSV_CAPTURE).read_bytes()
    head, rest = raw.split(b"\r\n", 1)
    renamed = head.replace(b'"Closing Date"', b'"Deadline"') + b"\r\n" + rest
    cf.add_fault(Fault(match=lambda p, q: True, status=200, body=renamed))
    outcome = crawl(
        "contracts_finder_csv", tmp_path / "csv.jsonl", {"base_url": cf.url + "/cf-csv"}, FAST
    )
    assert outcome.returncode == 3  # incomplete: nothing of the export was used
    (err,) = lines(outcome.errors_path)
    assert err["url"].endswith("/Search/GetCsvFile") and err["record"] is None
    assert "has no 'Closing Date' column" in err["reason"] and cf.url in err["reason"]
    assert err["body"] == head.replace(b'"Closing Date"', b'"Deadline"').decode() + "\r\n"
    assert lines(outcome.notices_path) == []  # not 500 notices without a deadline


def test_csv_export_cut_short_keeps_the_rows_before_the_cut(cf, tmp_path, fixtures_dir) -> None:
    raw = (fixtures_dir / "contracts-finder" / CF_CSV_CAPTURE).read_bytes()
    text = raw.decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    cut = raw.index(rows[250]["Description"].encode()) + 10  # inside row 251's description
    cf.add_fault(Fault(match=lambda p, q: True, truncate=cut))
    outcome = crawl(
        "contracts_finder_csv", tmp_path / "csv.jsonl", {"base_url": cf.url + "/cf-csv"}, FAST
    )
    assert [n["payload"] for n in lines(outcome.notices_path)] == rows[:250]
    (err,) = lines(outcome.errors_path)
    assert err["record"] == "row 251" and "ends inside a quoted field" in err["reason"]
    assert err["body"].endswith(rows[250]["Description"][:10])
