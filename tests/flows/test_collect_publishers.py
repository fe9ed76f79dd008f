"""Collecting the other source types through flows.steps.collect_source, as the pipeline
does: monthly OCDS (real PCS captures), a prime's listing and a feed (CONSTRUCTED fixtures),
with state carried between runs, and broken sources reported without harming the others."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, func, select

from bidbell.settings import Settings, get_settings, reset_settings
from demo.replay import Fault, ReplayServer
from demo.replay.feed import FeedSite
from demo.replay.fts import FtsSite
from demo.replay.listing import ListingSite
from demo.replay.ocds_monthly import OcdsMonthlySite
from flows.steps import collect_source
from models.store.db import get_engine, migrate
from models.store.tables import IngestError, Notice, Opportunity, SourceState

FTS_SINCE = datetime(2026, 10, 3, 23, 0, tzinfo=UTC)
FTS_NOW = datetime(2026, 10, 6, 23, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def server(fixtures_dir) -> Iterator[ReplayServer]:
    with ReplayServer() as s:
        s.mount("/fts", FtsSite(fixtures_dir, page_size=2))
        s.mount("/pcs", OcdsMonthlySite(fixtures_dir, "pcs"))
        s.mount("/prime-example", ListingSite())
        s.mount("/feed", FeedSite())
        yield s


@pytest.fixture
def settings(env, monkeypatch, server) -> Settings:
    urls = {
        "find_a_tender": server.url + "/fts",
        "public_contracts_scotland": server.url + "/pcs",
        "prime_example": server.url + "/prime-example",
        "feed_example": server.url + "/feed",
    }
    params = {
        "find_a_tender": {"window_hours": 24},
        "public_contracts_scotland": {"notice_types": "2"},
        # no container: the remembered row counts alone must catch a layout change
        "prime_example": {"download_delay": 0, "container": ""},
        "feed_example": {"path": "/rss.xml"},
    }
    monkeypatch.setenv("BIDBELL_SOURCE_URLS", json.dumps(urls))
    monkeypatch.setenv("BIDBELL_SOURCE_PARAMS", json.dumps(params))
    reset_settings()
    s = get_settings()
    migrate(s.effective_database_url)
    return s


def state(s: Settings, source: str) -> SourceState:
    with Session(get_engine(s.effective_database_url)) as session:
        st = session.get(SourceState, source)
        assert st is not None
        return st


def notices(s: Settings, source: str) -> int:
    with Session(get_engine(s.effective_database_url)) as session:
        q = select(func.count()).select_from(Notice).where(Notice.source == source)
        return session.exec(q).one()


def test_monthly_ocds_source_collects_and_checkpoints(settings) -> None:
    since = datetime(2019, 3, 15, tzinfo=UTC)
    now = datetime(2019, 5, 2, tzinfo=UTC)
    r = collect_source("public_contracts_scotland", settings, now, since=since)
    assert (r.notices, r.windows, r.windows_failed, r.error) == (45, 3, 0, None)
    assert r.stored["inserted"] == 45 and r.stored["rejected"] == 0
    assert state(settings, "public_contracts_scotland").checkpoint == now


def test_feed_state_gives_a_304_on_the_next_run(settings, server) -> None:
    r = collect_source("feed_example", settings, NOW)
    assert (r.notices, r.error) == (4, None)
    carried = state(settings, "feed_example").state
    assert carried["etag"] and carried["last_modified"] == "Tue, 03 Mar 2026 09:30:00 GMT"
    r2 = collect_source("feed_example", settings, NOW)
    assert (r2.notices, r2.error) == (0, None)
    sent = server.request_headers[-1]
    assert sent["If-None-Match"] == carried["etag"]
    assert sent["If-Modified-Since"] == carried["last_modified"]
    assert state(settings, "feed_example").state == carried
    assert notices(settings, "feed_example") == 4


def test_broken_sources_are_reported_and_the_others_unaffected(settings, server) -> None:
    ok = collect_source("find_a_tender", settings, FTS_NOW, since=FTS_SINCE)
    assert (ok.notices, ok.error) == (4, None)
    first = collect_source("prime_example", settings, NOW)
    assert (first.notices, first.error) == (9, None)
    assert state(settings, "prime_example").state == {"rows_per_page": [6, 3]}

    # the feed now answers broken XML, and the prime redesigned its page
    broken = b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>'
    server.add_fault(Fault(match=lambda p, q: p.startswith("/feed/"), body=broken, times=None))
    server.sites["/prime-example"].layout = "changed"  # type: ignore[attr-defined]
    feed = collect_source("feed_example", settings, NOW)
    prime = collect_source("prime_example", settings, NOW)
    assert feed.error and feed.error.startswith("invalid feed")
    assert prime.error and prime.error.startswith("layout changed: row selector")
    assert "which had 6 row(s) last time" in prime.error
    assert (feed.notices, prime.notices) == (0, 0)

    with Session(get_engine(settings.effective_database_url)) as session:
        errors = {e.source: e for e in session.exec(select(IngestError)).all()}
        assert errors["feed_example"].body == broken.decode()
        assert "opportunity-cards" in errors["prime_example"].body
        assert set(errors) == {"feed_example", "prime_example"}
        # everything collected before is still there, untouched
        opps = session.exec(select(Opportunity)).all()
        assert sorted({src for o in opps for src in o.sources}) == [
            "find_a_tender",
            "prime_example",
        ]
        assert len(opps) == 4 + 9
    assert notices(settings, "find_a_tender") == 4
    st = state(settings, "prime_example")
    assert st.state == {"rows_per_page": [6, 3]}  # still remembered for the next run
    assert st.last_error and "layout changed" in st.last_error
    assert state(settings, "find_a_tender").last_error is None
