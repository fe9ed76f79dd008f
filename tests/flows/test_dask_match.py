"""Matching split across profile parts on a local Dask cluster (flows.dask_match, through
prefect-dask) writes exactly the alerts the single-process matcher writes, on the real
captures and the demo's subscribers (with a few hundred generated ones, so every part has
profiles)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from bidbell.clock import parse_iso
from bidbell.settings import get_settings, reset_settings
from demo.replay import ReplayServer
from demo.run import SAMPLE_SUBSCRIBERS
from flows import steps
from models.store.db import dispose_engines, get_engine, migrate
from models.subscribers.manage import add_subscriber

AS_OF = "2026-10-06T19:00:00+01:00"


def fill(url: str) -> None:
    migrate(url)
    engine = get_engine(url)
    for name, email, kind, cpv, kw, regions, lo, hi in SAMPLE_SUBSCRIBERS:
        add_subscriber(name=name, email=email, kind=kind, cpv_prefixes=cpv, keywords=kw,
                       regions=regions, min_value=lo, max_value=hi, engine=engine)  # fmt: skip
    for i in range(200):  # broad profiles: each matches some of the captures
        add_subscriber(name=f"Generated {i}", email=f"g{i}@example.org",
                       cpv_prefixes=[["85", "45", "79", "72", "90"][i % 5]],
                       engine=engine)  # fmt: skip
    s = get_settings()
    report = steps.collect_source("find_a_tender", s, parse_iso(AS_OF))
    assert report.notices == 4 and not report.error


def alerts(url: str) -> list[tuple]:
    with get_engine(url).connect() as conn:
        rows = conn.execute(text(
            "SELECT g.email, o.ocid, a.kind, a.channel, a.score, a.reasons FROM alert a "
            "JOIN organisation g ON g.id = a.organisation_id "
            "JOIN opportunity o ON o.id = a.opportunity_id"
        )).all()  # fmt: skip
    return sorted(((*r[:5], json.dumps(r[5])) for r in rows), key=repr)


@pytest.mark.prefect
def test_dask_matching_equals_single_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_api: str, replay: ReplayServer
) -> None:
    from distributed import LocalCluster
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.dask_match import dask_matcher

    monkeypatch.setenv("BIDBELL_SOURCE_URLS", json.dumps({"find_a_tender": replay.url + "/fts"}))
    monkeypatch.setenv("BIDBELL_SOURCE_PARAMS", json.dumps({"find_a_tender": {"window_hours": 24}}))
    monkeypatch.setenv("BIDBELL_FIRST_RUN_LOOKBACK_HOURS", "72")
    monkeypatch.setenv("BIDBELL_MATCH_SHARDS", "3")
    urls = {k: f"sqlite:///{tmp_path / k}.db" for k in ("single", "dask")}
    for which, url in urls.items():
        monkeypatch.setenv("BIDBELL_DATABASE_URL", url)
        monkeypatch.setenv("BIDBELL_VAR_DIR", str(tmp_path / which))
        reset_settings()
        fill(url)
        if which == "single":
            made = steps.match_alerts(get_settings(), parse_iso(AS_OF)).as_dict()
            continue
        with (
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None) as cluster,
            temporary_settings({PREFECT_API_URL: prefect_api}),
        ):  # fmt: skip
            flow = dask_matcher(cluster.scheduler_address)
            state = flow(parse_iso(AS_OF), 3, return_state=True)
            assert state.is_completed(), state.message
            # sync whatever the thread's context: Prefect's dispatch gives the coroutine of
            # ``State.aresult`` where it takes the context for an async one (seen once in CI,
            # under load: "assert <coroutine object State.aresult ...> == {...}")
            on_dask = state.result(_sync=True)
    dispose_engines()
    assert made["alerts_created"] > 10  # enough to compare
    assert on_dask == made
    assert alerts(urls["dask"]) == alerts(urls["single"])
