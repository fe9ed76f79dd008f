"""Every source type collected from one local server replaying its fixtures, while other
sources fail in the ways real ones do (500, a timeout, a truncated body, a 429)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from bidbell.settings import get_settings, reset_settings
from demo.replay import Fault, replay_all
from flows.steps import collect_source
from models.store.db import get_engine, migrate
from models.store.tables import IngestError, Notice

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
NOW = datetime(2026, 10, 6, 18, 0, tzinfo=UTC)
SINCE = {
    "find_a_tender": datetime(2026, 4, 9, tzinfo=UTC),
    "contracts_finder": datetime(2022, 10, 20, tzinfo=UTC),
    "public_contracts_scotland": datetime(2019, 3, 1, tzinfo=UTC),
    "sell2wales": datetime(2025, 2, 1, tzinfo=UTC),
}
PARAMS = {
    "find_a_tender": {"window_hours": 24 * 30},
    "contracts_finder": {"window_hours": 24 * 30},
    "kent_business_portal": {"download_delay": 0},
    "prime_example": {"download_delay": 0},
}


def golden_count(source: str) -> int:
    return len((GOLDEN / f"{source}.jsonl").read_text().splitlines())


@pytest.mark.slow
def test_every_source_type_with_failures_on_some(env, monkeypatch, fixtures_dir) -> None:
    server, urls = replay_all(fixtures_dir)
    monkeypatch.setenv("BIDBELL_SOURCE_URLS", json.dumps(urls))
    monkeypatch.setenv("BIDBELL_SOURCE_PARAMS", json.dumps(PARAMS))
    monkeypatch.setenv("BIDBELL_RETRY_TIMES", "1")
    monkeypatch.setenv("BIDBELL_DOWNLOAD_TIMEOUT_S", "1")
    reset_settings()
    s = get_settings()
    migrate(s.effective_database_url)
    server.add_fault(
        Fault(
            match=lambda p, q: p.startswith("/cf/"),
            status=500,
            body=b"Internal Server Error",
            times=None,
        )
    )
    server.add_fault(
        Fault(
            match=lambda p, q: p.startswith("/pcs/") and q.get("dateFrom") == "04-2019",
            truncate=200,
            times=None,
        )
    )
    server.add_fault(
        Fault(match=lambda p, q: p.startswith("/kent-business-portal/Opp"), delay=2.5, times=None)
    )
    server.add_fault(
        Fault(
            match=lambda p, q: p.startswith("/s2w/"),
            status=429,
            headers={"Retry-After": "1"},
            body=b"slow down",
            times=1,
        )
    )
    with server:
        reports = {name: collect_source(name, s, NOW, since=SINCE.get(name)) for name in urls}

    # the healthy sources delivered every record of their fixtures
    for name in (
        "find_a_tender",
        "contracts_finder_csv",
        "sell2wales",
        "prime_example",
        "feed_example",
    ):
        r = reports[name]
        assert (r.error, r.notices) == (None, golden_count(name)), (name, r)
    # the broken ones say what went wrong, and where
    assert "HTTP 500" in (reports["contracts_finder"].error or "")
    assert "malformed page" in (reports["public_contracts_scotland"].error or "")
    assert "TimeoutError" in (reports["kent_business_portal"].error or "")
    # PCS's March records arrived before its April page broke
    pcs = reports["public_contracts_scotland"]
    assert 0 < pcs.notices < golden_count("public_contracts_scotland")
    with Session(get_engine(s.effective_database_url)) as session:
        by_source = dict(
            session.exec(select(Notice.source, func.count()).group_by(Notice.source)).all()
        )
        kept = {e.source for e in session.exec(select(IngestError))}
        truncated = session.exec(
            select(IngestError).where(IngestError.source == "public_contracts_scotland")
        ).first()
    assert by_source.get("contracts_finder", 0) == 0
    assert by_source["sell2wales"] == golden_count("sell2wales")
    assert {"contracts_finder", "public_contracts_scotland", "kent_business_portal"} <= kept
    assert truncated is not None and len(truncated.body) == 200  # the raw payload, kept
