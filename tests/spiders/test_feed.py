"""The feed spider (any RSS/Atom feed of opportunities) run in its own process against the
CONSTRUCTED example feeds served from 127.0.0.1, with conditional GET."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bidbell.ids import feed_ocid
from demo.replay import Fault, ReplayServer
from demo.replay.feed import FeedSite
from spiders.crawl import crawl


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.fixture
def site() -> FeedSite:
    return FeedSite()


@pytest.fixture
def server(site: FeedSite) -> Iterator[ReplayServer]:
    with ReplayServer() as s:
        s.mount("/feed", site)
        yield s


def run(server: ReplayServer, tmp: Path, path: str, state: dict[str, Any] | None = None,
        name: str = "out.jsonl"):  # fmt: skip
    args = {"base_url": server.url + "/feed", "path": path, "state": json.dumps(state or {})}
    return crawl("feed_example", tmp / name, args, {"BIDBELL_RETRY_TIMES": 1})


def test_rss_then_not_modified(server, tmp_path) -> None:
    first = run(server, tmp_path, "/rss.xml")
    assert first.returncode == 0, first.log_path.read_text()
    notices = lines(first.notices_path)
    assert [n["source_id"] for n in notices] == [
        "EBC-2026-031",
        "EBC-2026-029",
        "https://procurement.eastbridge.example/opportunities/EBC-2026-027",
        # no guid: the link identifies the entry
        "https://procurement.eastbridge.example/opportunities/EBC-2026-025",
    ]
    assert all(n["format"] == "feed-entry" for n in notices)
    assert notices[0]["ocid"] == feed_ocid("feed_example", "EBC-2026-031")
    assert notices[0]["payload"]["published_at"] == "2026-03-02T10:15:00+00:00"
    assert notices[0]["payload"]["tags"] == ["77314000", "UKJ45"]
    state = first.report["state"]
    assert state["etag"].startswith('"') and state["last_modified"] == (
        "Tue, 03 Mar 2026 09:30:00 GMT"
    )
    assert "If-None-Match" not in server.request_headers[0]

    second = run(server, tmp_path, "/rss.xml", state=state, name="again.jsonl")
    assert second.returncode == 0 and second.report["complete"] is True
    sent = server.request_headers[-1]
    assert sent["If-None-Match"] == state["etag"]
    assert sent["If-Modified-Since"] == state["last_modified"]
    assert lines(second.notices_path) == [] and lines(second.errors_path) == []
    assert second.report["state"] == state  # the validators are kept for the run after
    assert "not modified since the last run" in second.log_path.read_text()


def test_a_changed_feed_is_read_again(server, site, tmp_path) -> None:
    first = run(server, tmp_path, "/atom.xml")
    assert len(lines(first.notices_path)) == 3
    body = site.bodies["/atom.xml"].replace(b"Void property clearance", b"Void property clearing")
    site.update("/atom.xml", body, datetime(2026, 3, 5, 8, 0, tzinfo=UTC))
    second = run(server, tmp_path, "/atom.xml", state=first.report["state"], name="2.jsonl")
    assert second.returncode == 0
    titles = [n["payload"]["title"] for n in lines(second.notices_path)]
    assert titles[0] == "Void property clearing and cleaning"
    assert second.report["state"]["etag"] != first.report["state"]["etag"]
    assert second.report["state"]["last_modified"] == "Thu, 05 Mar 2026 08:00:00 GMT"


def test_last_modified_alone_and_a_moved_feed(server, tmp_path) -> None:
    url = server.url + "/feed/atom.xml"
    since = {"url": url, "last_modified": "Wed, 04 Mar 2026 16:00:00 GMT"}
    outcome = run(server, tmp_path, "/atom.xml", state=since)
    assert server.request_headers[-1]["If-Modified-Since"] == since["last_modified"]
    assert outcome.returncode == 0 and lines(outcome.notices_path) == []
    # validators of another URL are not sent
    moved = run(server, tmp_path, "/rss.xml", state=since, name="moved.jsonl")
    assert "If-Modified-Since" not in server.request_headers[-1]
    assert len(lines(moved.notices_path)) == 4


@pytest.mark.parametrize(
    ("body", "recovered"),
    [
        (
            b'<?xml version="1.0"?><rss version="2.0"><channel><title>Broken</title><item>'
            b"<title>Half an item</title><link>https://x.example/1</link>",
            ["https://x.example/1"],
        ),
        (b"<html><body><h1>Service temporarily unavailable</h1></body></html>", []),
        (b"not a feed at all", []),
    ],
    ids=["truncated-xml", "html-page", "text"],
)
def test_a_body_that_is_not_a_feed_is_an_error_with_the_body_kept(
    server, tmp_path, body, recovered
) -> None:
    server.add_fault(Fault(match=lambda p, q: True, body=body, times=None))
    outcome = run(server, tmp_path, "/rss.xml", state={"url": "x", "etag": '"old"'})
    assert outcome.returncode == 3 and outcome.report["complete"] is False
    [err] = lines(outcome.errors_path)
    assert err["reason"].startswith("invalid feed" if not recovered else "invalid XML")
    assert err["body"] == body.decode() and err["source"] == "feed_example"
    # what a lenient parse recovered from broken XML is kept; nothing from a non-feed
    assert [n["source_id"] for n in lines(outcome.notices_path)] == recovered
    assert outcome.report["state"] == {}  # no new validators: the next run asks again


def test_a_bad_body_keeps_the_validators_of_the_last_good_one(server, site, tmp_path) -> None:
    first = run(server, tmp_path, "/rss.xml")
    state = first.report["state"]
    assert state["etag"]
    # the feed URL now answers 200 with a page that is not a feed (and its own ETag)
    site.update("/rss.xml", b"<html><body>Down for maintenance</body></html>")
    bad = run(server, tmp_path, "/rss.xml", state=state, name="bad.jsonl")
    assert bad.returncode == 3 and lines(bad.notices_path) == []
    assert server.request_headers[-1]["If-None-Match"] == state["etag"]
    # not the bad body's validators: the next run asks again with the good one's
    assert bad.report["state"] == state
