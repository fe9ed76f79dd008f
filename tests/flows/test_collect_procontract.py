"""Collecting the Kent Business Portal (ProContract) as the pipeline does: crawl in its own
process against the CONSTRUCTED portal pages on 127.0.0.1 (built on the layout the scrapers of
the live site agree on; no capture exists), store, and keep the state that spares the next
run the advert pages it has already read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from bidbell.settings import get_settings, reset_settings
from demo.replay import Fault, ReplayServer
from demo.replay.procontract import ProContractSite
from flows.steps import collect_source
from models.store.db import get_engine, migrate
from models.store.tables import IngestError, Notice, Opportunity, SourceState

NAME = "kent_business_portal"
NOW = datetime(2026, 10, 14, 9, 0, tzinfo=UTC)
FRAMEWORK = "b1dbe11a-0000-4000-8000-000000000004"
BUDGET = "b1dbe11a-0000-4000-8000-000000000007"  # N/A, the budget in the description


@pytest.fixture
def portal() -> Iterator[ReplayServer]:
    with ReplayServer() as server:
        server.mount("/kbp", ProContractSite())
        yield server


def setup(monkeypatch, portal):
    monkeypatch.setenv("BIDBELL_SOURCE_URLS", json.dumps({NAME: portal.url + "/kbp"}))
    # no pause between requests to 127.0.0.1 (the portal's own pace is 1 s or more)
    monkeypatch.setenv("BIDBELL_SOURCE_PARAMS", json.dumps({NAME: {"download_delay": 0}}))
    monkeypatch.setenv("BIDBELL_RETRY_TIMES", "1")
    monkeypatch.setenv("BIDBELL_BACKOFF_BASE_S", "0.1")
    reset_settings()
    s = get_settings()
    migrate(s.effective_database_url)
    return s


def aware(when: datetime | None) -> datetime | None:
    """A stored time as aware UTC (SQLite gives it back naive)."""
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


def adverts_read(portal: ReplayServer) -> list[str]:
    return [r for r in portal.requests if "/Advert?" in r]


def source_state(s) -> SourceState:
    with Session(get_engine(s.effective_database_url)) as session:
        st = session.get(SourceState, NAME)
        assert st is not None
        return st


def test_collect_stores_adverts_and_keeps_the_state(env, monkeypatch, portal) -> None:
    s = setup(monkeypatch, portal)
    r = collect_source(NAME, s, NOW)
    assert (r.notices, r.errors, r.error) == (22, 0, None), r.log_path
    assert r.stored["inserted"] == 22 and r.stored["opportunities_new"] == 22
    assert len(adverts_read(portal)) == 22
    st = source_state(s)
    assert len(st.state["adverts"]) == 22 and st.last_success_at == NOW
    with Session(get_engine(s.effective_database_url)) as session:
        notices = session.exec(select(Notice).where(Notice.source == NAME)).all()
        assert {n.format for n in notices} == {"procontract-advert"}
        opp = session.exec(
            select(Opportunity).where(Opportunity.ocid == f"bidbell-procontract-{FRAMEWORK}")
        ).one()
        assert opp.title == "Minor Building Works Framework 2027"
        assert opp.url == f"{portal.url}/kbp/Advert?advertId={FRAMEWORK}"
        assert opp.value_amount == 1500000.0
        assert aware(opp.deadline) == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
        budget = session.exec(
            select(Opportunity).where(Opportunity.ocid == f"bidbell-procontract-{BUDGET}")
        ).one()
        assert (budget.value_min, budget.value_amount) == (60000.0, 85000.0)
        ours = session.exec(
            select(Opportunity).where(col(Opportunity.ocid).startswith("bidbell-procontract-"))
        ).all()
        assert len(ours) == 22

    # the next run reads the listing only: every row is as it was
    portal.requests.clear()
    r2 = collect_source(NAME, s, NOW + timedelta(hours=2))
    assert (r2.notices, r2.errors, r2.error) == (0, 0, None)
    assert adverts_read(portal) == []
    assert source_state(s).state["adverts"] == st.state["adverts"]


def test_a_failed_advert_is_kept_as_an_error_and_read_again(env, monkeypatch, portal) -> None:
    s = setup(monkeypatch, portal)
    portal.add_fault(
        Fault(match=lambda p, q: q.get("advertId") == FRAMEWORK, status=500, times=None)
    )
    r = collect_source(NAME, s, NOW)
    assert r.notices == 21 and r.errors == 1 and r.error == "HTTP 500"
    with Session(get_engine(s.effective_database_url)) as session:
        err = session.exec(select(IngestError)).one()
        assert err.source == NAME and err.status == 500 and err.record == FRAMEWORK
    st = source_state(s)
    assert FRAMEWORK not in st.state["adverts"] and st.last_error == "HTTP 500"
    portal.faults.clear()
    portal.requests.clear()
    r2 = collect_source(NAME, s, NOW + timedelta(hours=2))
    assert (r2.notices, r2.error) == (1, None)
    assert adverts_read(portal) == [f"/kbp/Advert?advertId={FRAMEWORK}"]
    assert len(source_state(s).state["adverts"]) == 22


def test_listing_only_deadlines_close_at_the_end_of_the_day(env, monkeypatch, portal) -> None:
    """Without the advert pages the listing's dates have no time: an Expression End of
    20/11/2026 is stored as 23:59:59 that day in the UK, so the tender is not dropped a day
    early; its Expression Start 01/10/2026 as the start of that day."""
    s = setup(monkeypatch, portal)
    monkeypatch.setenv(
        "BIDBELL_SOURCE_PARAMS", json.dumps({NAME: {"download_delay": 0, "details": "false"}})
    )
    reset_settings()
    s = get_settings()
    r = collect_source(NAME, s, NOW)
    assert (r.notices, r.errors, r.error) == (22, 0, None), r.log_path
    assert adverts_read(portal) == []
    with Session(get_engine(s.effective_database_url)) as session:
        opp = session.exec(
            select(Opportunity).where(Opportunity.ocid == f"bidbell-procontract-{FRAMEWORK}")
        ).one()
        assert aware(opp.deadline) == datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC)  # GMT
        assert aware(opp.published_at) == datetime(2026, 9, 30, 23, 0, tzinfo=UTC)  # BST
