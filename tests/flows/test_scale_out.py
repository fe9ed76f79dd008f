"""Scale-out, on this machine: a Prefect server backed by PostgreSQL, two process workers
polling one work pool (the deployments of prefect.yaml, deployed with `prefect deploy`),
a local Dask cluster doing the matching one task per profile shard, the application
database on PostgreSQL. Every source's collect deployment is run through them (side by
side); the stored opportunities and the alerts must equal those of a single-process run of
the same steps on the same input (SQLite)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bidbell.clock import parse_iso
from bidbell.net import free_port
from bidbell.settings import get_settings, reset_settings
from demo.mailsink import MailSink
from demo.replay import replay_all
from demo.replay.fts import load_fts_captures
from demo.run import DEMO_PARAMS, INFRASTRUCTURE, SAMPLE_SUBSCRIBERS, _earliest
from flows.serve import stop, wait_healthy
from models.store.checkpoint import get_state
from models.store.db import dispose_engines, get_engine, make_engine, migrate, session_scope
from models.subscribers.manage import add_subscriber

ROOT = Path(__file__).resolve().parents[2]
PG = os.environ.get("BIDBELL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
POOL = "bidbell"  # prefect.yaml's work pool
SHARDS = 3


@pytest.fixture
def pg_databases() -> Iterator[dict[str, str]]:
    """Two fresh PostgreSQL databases (Prefect's, the application's), dropped after."""
    admin = make_engine(PG)
    names = {k: f"bidbell_orchestrate_{k}_{uuid.uuid4().hex[:8]}" for k in ("prefect", "app")}
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in names.values():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = make_url(PG)
    urls = {
        "prefect": base.set(drivername="postgresql+asyncpg", database=names["prefect"]),
        "app": base.set(drivername="postgresql+psycopg", database=names["app"]),
    }
    yield {k: u.render_as_string(hide_password=False) for k, u in urls.items()}
    dispose_engines()
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in names.values():
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def prepare(url: str, server: Any, urls: dict[str, str]) -> None:
    """Migrated; each source's checkpoint at the start of its captures (as the demo does);
    the demo's subscribers."""
    migrate(url)
    with session_scope(get_engine(url)) as session:
        for name, base in urls.items():
            start = _earliest(server.sites[base[len(server.url) :]])
            if start is not None:
                state = get_state(session, name)
                state.checkpoint = (start - timedelta(days=1)).astimezone(UTC)
                session.add(state)
    for name, email, kind, cpv, kw, regions, lo, hi in SAMPLE_SUBSCRIBERS:
        add_subscriber(name=name, email=email, kind=kind, cpv_prefixes=cpv, keywords=kw,
                       regions=regions, min_value=lo, max_value=hi,
                       engine=get_engine(url))  # fmt: skip
    add_subscriber(name=str(INFRASTRUCTURE["name"]), email=str(INFRASTRUCTURE["email"]),
                   kind="infrastructure", sub_kind=str(INFRASTRUCTURE["sub_kind"]),
                   areas_served=list(INFRASTRUCTURE["areas_served"]), frequency="weekly",
                   engine=get_engine(url))  # fmt: skip


def stored(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with get_engine(url).connect() as conn:
        opps = conn.execute(text(
            "SELECT o.ocid, o.title, o.stage, o.value_band, o.deadline, c.ocid "
            "FROM opportunity o LEFT JOIN opportunity c ON c.id = o.canonical_id"
        )).all()  # fmt: skip
        alerts = conn.execute(text(
            "SELECT g.name, o.ocid, a.kind, a.channel, p.name, a.score, a.lot_id "
            "FROM alert a JOIN organisation g ON g.id = a.organisation_id "
            "JOIN opportunity o ON o.id = a.opportunity_id JOIN profile p ON p.id = a.profile_id"
        )).all()  # fmt: skip
    return sorted(map(_plain, opps), key=repr), sorted(map(_plain, alerts), key=repr)


def _plain(row: Any) -> tuple[Any, ...]:
    """A row with its instants written alike on both databases (raw SQL reads SQLite's as
    text, PostgreSQL's as aware datetimes; both are UTC)."""
    out = []
    for v in row:
        if isinstance(v, datetime):
            v = v.astimezone(UTC).replace(tzinfo=None).isoformat()
        elif isinstance(v, str) and _INSTANT.fullmatch(v):
            v = datetime.fromisoformat(v).isoformat()
        out.append(v)
    return tuple(out)


_INSTANT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?")


@contextmanager
def stopped_at_end(procs: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    try:
        yield
    finally:
        for p in procs:
            stop(p, 60)


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


@pytest.mark.prefect
@pytest.mark.slow
@pytest.mark.postgres
def test_workers_and_dask_store_and_alert_as_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_databases: dict[str, str]
) -> None:
    from distributed import LocalCluster

    fixtures = get_settings().fixtures_dir
    _env, fts = load_fts_captures(fixtures)
    as_of = (max(parse_iso(r["date"]) for r in fts) + timedelta(minutes=30)).astimezone(UTC)
    server, urls = replay_all(fixtures, page_size=2)
    procs: list[subprocess.Popen[bytes]] = []
    with (
        server,
        stopped_at_end(procs),  # the server and workers, also when an assertion fails
        MailSink() as smtp,
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
    ):
        common = {
            "BIDBELL_SOURCE_URLS": json.dumps(urls),
            "BIDBELL_SOURCE_PARAMS": json.dumps(DEMO_PARAMS),
            "BIDBELL_AS_OF": as_of.isoformat(),
            "BIDBELL_EMAIL_URL": smtp.url,
            "BIDBELL_FIXTURES_DIR": str(fixtures),
        }
        # --- the single-process reference: the same steps, one after another, SQLite
        ref_url = f"sqlite:///{tmp_path / 'reference.db'}"
        for k, v in {**common, "BIDBELL_DATABASE_URL": ref_url,
                     "BIDBELL_VAR_DIR": str(tmp_path / "ref-var")}.items():  # fmt: skip
            monkeypatch.setenv(k, v)
        reset_settings()
        from flows import steps

        s = get_settings()
        names = steps.known_sources(s, enabled_only=True)
        prepare(ref_url, server, urls)
        for name in names:
            assert not steps.collect_source(name, s, as_of).error, name
        steps.label_sectors(s, as_of)
        steps.match_alerts(s, as_of)
        expected = stored(ref_url)
        assert expected[0] and expected[1], "the reference run stored nothing"

        # --- the scaled-out run: Prefect on PostgreSQL, two workers, Dask, app on PostgreSQL
        app_url = pg_databases["app"]
        prepare(app_url, server, urls)
        port = free_port()
        api = f"http://127.0.0.1:{port}/api"
        base_env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("BIDBELL_", "PREFECT_"))}  # fmt: skip
        prefect_env = {**base_env, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                       "DO_NOT_TRACK": "1", "PREFECT_LOGGING_LEVEL": "WARNING"}  # fmt: skip
        # services on (the task-run recorder stores the task runs counted below), but not
        # the scheduler: the flow runs here are the test's, not prefect.yaml's schedules
        server_env = {**prefect_env, "PREFECT_HOME": str(tmp_path / "prefect-server"),
                      "PREFECT_API_DATABASE_CONNECTION_URL": pg_databases["prefect"],
                      "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false"}  # fmt: skip
        procs.append(start(
            [sys.executable, "-m", "flows.prefect_server", "server", "start", "--host",
             "127.0.0.1", "--port", str(port)],
            server_env, tmp_path / "prefect-server.log",
        ))  # fmt: skip
        wait_healthy(f"{api}/health", procs[0], "the Prefect server",
                     tmp_path / "prefect-server.log", wait_s=180)  # fmt: skip
        client_env = {**prefect_env, "PREFECT_API_URL": api, "BIDBELL_HOME": str(ROOT),
                      "PREFECT_HOME": str(tmp_path / "prefect-client")}  # fmt: skip
        prefect_cli = [sys.executable, "-m", "flows.prefect_server"]
        for args in (["work-pool", "create", POOL, "--type", "process"],
                     ["--no-prompt", "deploy", "--all"]):  # fmt: skip
            done = subprocess.run([*prefect_cli, *args], env=client_env, cwd=ROOT,
                                  capture_output=True, text=True, timeout=300)  # fmt: skip
            assert done.returncode == 0, done.stdout + done.stderr
        worker_env = {
            **client_env,
            **common,
            "BIDBELL_DATABASE_URL": app_url,
            "BIDBELL_VAR_DIR": str(tmp_path / "workers-var"),
            "BIDBELL_DASK_ADDRESS": cluster.scheduler_address,
            "BIDBELL_MATCH_SHARDS": str(SHARDS),
        }
        for w in ("one", "two"):
            env = {**worker_env, "PREFECT_HOME": str(tmp_path / f"prefect-worker-{w}")}
            procs.append(start(
                [*prefect_cli, "worker", "start", "--pool", POOL, "--name", f"worker-{w}",
                 "--type", "process"],
                env, tmp_path / f"worker-{w}.log",
            ))  # fmt: skip

        deployments = httpx.post(f"{api}/deployments/filter", json={}, timeout=30).json()
        collect = {d["name"]: d["id"] for d in deployments if d["name"].startswith("collect-")}
        assert sorted(collect) == [f"collect-{n}" for n in names]
        run_ids = [
            httpx.post(f"{api}/deployments/{i}/create_flow_run", json={}, timeout=30).json()["id"]
            for i in collect.values()
        ]
        deadline = time.monotonic() + 900
        while True:
            query = {"flow_runs": {"id": {"any_": run_ids}}}
            runs = httpx.post(f"{api}/flow_runs/filter", json=query, timeout=30).json()
            states = {r["id"]: r["state_type"] for r in runs}
            if all(st in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for st in states.values()):
                break
            assert time.monotonic() < deadline, (states, _logs(tmp_path))
            assert all(p.poll() is None for p in procs), _logs(tmp_path)
            time.sleep(2)
        assert set(states.values()) == {"COMPLETED"}, (states, _logs(tmp_path))
        # task runs reach the server as events, recorded a moment after the flow run ends
        query = {"task_runs": {"name": {"like_": "match_shard"}}, "limit": 200}
        deadline = time.monotonic() + 60
        while True:
            shard_runs = httpx.post(f"{api}/task_runs/filter", json=query, timeout=30).json()
            if len(shard_runs) >= SHARDS * len(names) or time.monotonic() > deadline:
                break
            time.sleep(1)
        pool_workers = httpx.post(f"{api}/work_pools/{POOL}/workers/filter", json={},
                                  timeout=30).json()  # fmt: skip
        for p in procs:
            stop(p, 60)
        got = stored(app_url)
        dispose_engines()

    # one task per profile shard per matching run, on the Dask cluster
    assert len(shard_runs) >= SHARDS * len(names)
    assert got[0] == expected[0]  # the same opportunities (and the same merging)
    assert got[1] == expected[1]  # the same alerts, with the same scores
    # both workers were polling the one pool
    assert {w["name"] for w in pool_workers} == {"worker-one", "worker-two"}


def _logs(tmp_path: Path) -> str:
    parts = []
    for name in ("prefect-server.log", "worker-one.log", "worker-two.log"):
        path = tmp_path / name
        if path.exists():
            parts.append(f"--- {name}\n{path.read_text()[-4000:]}")
    return "\n".join(parts)
