"""Collecting a source: crawl in its own process, store, and move the checkpoint honestly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from sqlmodel import Session, select

from bidbell.settings import get_settings, reset_settings
from demo.replay import Fault
from flows.steps import collect_source
from models.store.db import get_engine, migrate
from models.store.tables import IngestError, Notice, Opportunity, SourceState

SINCE = datetime(2026, 10, 3, 23, 0, tzinfo=UTC)  # 4 Oct 00:00 UK
NOW = datetime(2026, 10, 6, 23, 0, tzinfo=UTC)  # 7 Oct 00:00 UK


def setup(env, monkeypatch, replay):
    monkeypatch.setenv("BIDBELL_SOURCE_URLS", json.dumps({"find_a_tender": replay.url + "/fts"}))
    monkeypatch.setenv("BIDBELL_SOURCE_PARAMS", json.dumps({"find_a_tender": {"window_hours": 24}}))
    reset_settings()
    s = get_settings()
    migrate(s.effective_database_url)
    return s


def state(s) -> SourceState:
    with Session(get_engine(s.effective_database_url)) as session:
        st = session.get(SourceState, "find_a_tender")
        assert st is not None
        return st


def test_collect_stores_and_checkpoints(env, monkeypatch, replay) -> None:
    s = setup(env, monkeypatch, replay)
    heard: list[int] = []  # what a backfill's progress bar is told (records fetched)
    r = collect_source(
        "find_a_tender", s, NOW, since=SINCE, progress=lambda n, _total: heard.append(n)
    )
    assert (r.notices, r.windows, r.windows_failed, r.errors, r.error) == (4, 3, 0, 0, None)
    assert r.stored["inserted"] == 4 and r.stored["opportunities_new"] == 4
    assert heard and heard == sorted(heard) and heard[-1] == r.notices
    st = state(s)
    assert st.checkpoint == NOW and st.last_success_at == NOW and st.last_items == 4
    # the next run starts at the checkpoint and asks only for what is new
    replay.requests.clear()
    later = NOW + timedelta(hours=6)
    r2 = collect_source("find_a_tender", s, later)
    assert r2.window == (NOW.isoformat(), later.isoformat())
    q = parse_qs(urlsplit(replay.requests[0]).query)
    assert (q["updatedFrom"], q["updatedTo"]) == (["2026-10-07T00:00:00"], ["2026-10-07T06:00:00"])
    assert r2.notices == 0 and state(s).checkpoint == later


def test_a_failed_window_holds_the_checkpoint_back(env, monkeypatch, replay) -> None:
    s = setup(env, monkeypatch, replay)
    replay.add_fault(
        Fault(
            match=lambda p, q: q.get("updatedFrom", "").startswith("2026-10-05"),
            status=500,
            body=b"Internal Server Error",
            times=None,
        )
    )
    r = collect_source("find_a_tender", s, NOW, since=SINCE)
    assert r.windows_failed == 1 and "HTTP 500" in (r.error or "")
    assert r.notices == 4  # the 6 Oct window after the failed one was still collected
    st = state(s)
    # 4 Oct completed; 5 Oct failed: the checkpoint stays at the start of 5 Oct (UK)
    assert st.checkpoint == datetime(2026, 10, 4, 23, 0, tzinfo=UTC)
    assert st.last_error and "HTTP 500" in st.last_error
    with Session(get_engine(s.effective_database_url)) as session:
        err = session.exec(select(IngestError)).one()
        assert err.status == 500 and err.body == "Internal Server Error"
        assert "updatedFrom=2026-10-05" in err.url
    # the source recovers: the next run repeats from the checkpoint; nothing is duplicated
    replay.faults.clear()
    r2 = collect_source("find_a_tender", s, NOW)
    assert r2.error is None and r2.stored["unchanged"] == 4 and r2.stored["inserted"] == 0
    assert state(s).checkpoint == NOW and state(s).last_error is None
    with Session(get_engine(s.effective_database_url)) as session:
        assert len(session.exec(select(Notice)).all()) == 4
        assert len(session.exec(select(Opportunity)).all()) == 4


def test_one_source_down_is_reported_not_raised(env, monkeypatch, fixtures_dir) -> None:
    from demo.mailsink import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("BIDBELL_SOURCE_URLS", json.dumps({"find_a_tender": dead}))
    monkeypatch.setenv("BIDBELL_RETRY_TIMES", "1")
    reset_settings()
    s = get_settings()
    migrate(s.effective_database_url)
    r = collect_source("find_a_tender", s, NOW, since=NOW - timedelta(hours=3))
    assert r.notices == 0 and r.windows_failed == 1
    assert "ConnectionRefusedError" in (r.error or "")
    assert state(s).checkpoint is None
