"""The Find a Tender spider, run as the product runs it (its own process), against the real
captures served from 127.0.0.1 by demo.replay, with faults scripted per request."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from demo.replay import Fault, ReplayServer
from spiders.crawl import crawl

OCT6 = {"updated_from": "2026-10-06T00:00:00", "updated_to": "2026-10-07T00:00:00"}
ALL = {"updated_from": "2026-04-10T00:00:00", "updated_to": "2026-10-07T00:00:00"}
FAST = {"BIDBELL_BACKOFF_BASE": 0.2, "BIDBELL_RETRY_TIMES": 3}


def run(server: ReplayServer, tmp: Path, window: dict[str, str], hours: float = 24, **kw: Any):
    args = {"base_url": server.url + "/fts", "window_hours": hours, "limit": 100, **window}
    return crawl("find_a_tender", tmp / "out.jsonl", args, {**FAST, **kw})


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_pages_through_the_cursor(replay: ReplayServer, tmp_path: Path, fts_releases) -> None:
    outcome = run(replay, tmp_path, OCT6)
    assert outcome.returncode == 0, outcome.log_path.read_text()
    notices = lines(outcome.notices_path)
    oct6 = [r for r in fts_releases if r["date"].startswith("2026-10-06")]
    assert len(oct6) == 4
    assert sorted(n["source_id"] for n in notices) == sorted(r["id"] for r in oct6)
    # 4 releases at 2 per page: the second page was reached through links.next's cursor
    assert len(replay.requests) == 2
    assert "cursor=" not in replay.requests[0] and "cursor=" in replay.requests[1]
    assert "updatedFrom=2026-10-06T00%3A00%3A00" in replay.requests[0]
    assert outcome.windows[0]["pages"] == 2 and outcome.windows[0]["status"] == "complete"
    # records are kept exactly as published
    by_id = {r["id"]: r for r in oct6}
    for n in notices:
        assert n["payload"] == by_id[n["source_id"]]
        assert n["source"] == "find_a_tender" and n["ocid"] == by_id[n["source_id"]]["ocid"]


def test_splits_the_range_into_windows_in_uk_local_time(replay, tmp_path) -> None:
    outcome = run(
        replay,
        tmp_path,
        {"updated_from": "2026-10-06T12:00:00", "updated_to": "2026-10-06T21:00:00"},
        hours=3,
    )
    assert outcome.returncode == 0
    queries = [parse_qs(urlsplit(r).query) for r in replay.requests]
    firsts = sorted((q["updatedFrom"][0], q["updatedTo"][0]) for q in queries if "cursor" not in q)
    assert firsts == [
        ("2026-10-06T12:00:00", "2026-10-06T15:00:00"),
        ("2026-10-06T15:00:00", "2026-10-06T18:00:00"),
        ("2026-10-06T18:00:00", "2026-10-06T21:00:00"),
    ]
    assert len(lines(outcome.notices_path)) == 4


def test_429_with_retry_after_waits_as_told(replay, tmp_path) -> None:
    replay.add_fault(
        Fault(
            match=lambda p, q: "cursor" not in q,
            status=429,
            headers={"Retry-After": "2"},
            body=b"Too many requests",
        )
    )
    started = time.monotonic()
    outcome = run(replay, tmp_path, OCT6)
    elapsed = time.monotonic() - started
    assert outcome.returncode == 0
    assert len(lines(outcome.notices_path)) == 4
    assert len(replay.requests) == 3  # the 429, its retry, the cursor page
    assert replay.requests[0] == replay.requests[1]
    assert elapsed >= 2.0  # honoured Retry-After: 2 (the backoff base here is 0.2 s)
    assert "waiting 2.0s (Retry-After)" in outcome.log_path.read_text()


def test_429_and_503_without_retry_after_back_off(replay, tmp_path) -> None:
    replay.add_fault(Fault(match=lambda p, q: "cursor" not in q, status=429, body=b"", times=1))
    replay.add_fault(Fault(match=lambda p, q: "cursor" in q, status=503, body=b"", times=2))
    outcome = run(replay, tmp_path, OCT6)
    log = outcome.log_path.read_text()
    assert outcome.returncode == 0, log
    assert len(lines(outcome.notices_path)) == 4
    assert "waiting 0.2s (backoff) before retry 1/3" in log
    assert "waiting 0.4s (backoff) before retry 2/3" in log  # exponential


def test_gives_up_after_the_retries_and_reports_the_window(replay, tmp_path) -> None:
    replay.add_fault(
        Fault(
            match=lambda p, q: q.get("updatedFrom", "").startswith("2026-10-06"),
            status=503,
            body=b"Service Unavailable",
            times=None,
        )
    )
    outcome = run(replay, tmp_path, ALL)
    assert outcome.returncode == 3  # partial
    failed = [w for w in outcome.windows if w["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["error"] == "HTTP 503"
    # every other window still delivered its records (the April notice)
    assert [n["source_id"] for n in lines(outcome.notices_path)] == ["032703-2026"]
    errors = lines(outcome.errors_path)
    assert errors[0]["status"] == 503 and errors[0]["body"] == "Service Unavailable"


def test_malformed_page_is_reported_with_source_and_page(replay, tmp_path) -> None:
    replay.add_fault(Fault(match=lambda p, q: "cursor" in q, truncate=150))
    outcome = run(replay, tmp_path, ALL)
    assert outcome.returncode == 3
    errors = lines(outcome.errors_path)
    assert len(errors) == 1
    err = errors[0]
    assert err["source"] == "find_a_tender"
    assert "cursor=" in err["url"] and "updatedFrom=2026-10-06" in err["url"]
    assert err["reason"].startswith("malformed page")
    assert len(err["body"]) == 150  # the raw payload is kept for inspection
    # the first page of that window and the other windows are still stored
    assert len(lines(outcome.notices_path)) == 3
    log = outcome.log_path.read_text()
    assert "find_a_tender: malformed page" in log and err["url"] in log


def test_bad_configuration_fails_fast_with_a_clear_message(replay, tmp_path) -> None:
    outcome = crawl(
        "find_a_tender",
        tmp_path / "o.jsonl",
        {"base_url": replay.url + "/fts", "limit": 500, **OCT6},
    )
    assert outcome.returncode == 2
    assert "limit must be 1..100" in outcome.log_path.read_text()
    assert replay.requests == []
    with pytest.raises(KeyError, match="unknown source 'nope'"):
        crawl("nope", tmp_path / "o.jsonl", {})
