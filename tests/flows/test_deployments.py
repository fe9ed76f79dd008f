"""What is served when (flows.deployments), prefect.yaml kept in step with it, and the
housekeeping flow's work (flows.housekeeping) on a real database and files."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import yaml
from sqlalchemy import text

from bidbell.settings import Settings, get_settings
from flows.deployments import ANCHOR, plan_deployments, prefect_yaml
from flows.housekeeping import expire_raw, vacuum_analyse
from flows.steps import load_configured_sources
from models.store.db import get_engine, migrate

ROOT = Path(__file__).resolve().parents[2]


def test_each_enabled_source_on_its_own_staggered_interval() -> None:
    s = Settings(source_urls={})
    plans = {p.name: p for p in plan_deployments(s)}
    collect = sorted(n for n in plans if n.startswith("collect-"))
    # every enabled source of sources.toml, none of the disabled ones
    configs = load_configured_sources(s)
    assert collect == sorted(f"collect-{n}" for n, c in configs.items() if c.enabled)
    assert "collect-find_a_tender" in collect and "collect-contracts_finder_csv" not in collect
    assert plans["collect-find_a_tender"].interval_s == 30 * 60
    assert plans["collect-contracts_finder"].interval_s == 60 * 60
    offsets = [(plans[n].anchor - ANCHOR) for n in collect]  # type: ignore[operator]
    assert len(set(offsets)) == len(offsets)  # staggered: no two start together
    assert plans["collect-find_a_tender"].parameters == {
        "sources": ["find_a_tender"],
        "digests": False,
    }
    assert plans["digest-daily"].cron == "0 7 * * *"
    assert plans["digest-weekly"].cron == plans["digest-infrastructure"].cron == "0 7 * * 1"
    assert plans["housekeeping"].cron == "30 3 * * *"


def test_override_puts_everything_on_a_short_staggered_interval() -> None:
    plans = plan_deployments(Settings(source_urls={}, schedule_override_s=20))
    assert {p.interval_s for p in plans} == {20}
    assert not any(p.cron for p in plans)
    starts = [p.anchor - ANCHOR for p in plans if p.name.startswith("collect-")]  # type: ignore[operator]
    assert starts == [timedelta(seconds=20 * i / len(starts)) for i in range(len(starts))]


def test_prefect_yaml_is_up_to_date() -> None:
    committed = (ROOT / "prefect.yaml").read_text()
    assert committed == prefect_yaml(Settings(source_urls={})), "run `make prefect-yaml`"
    doc = yaml.safe_load(committed)
    names = [d["name"] for d in doc["deployments"]]
    assert names == [p.name for p in plan_deployments(Settings(source_urls={}))]
    for d in doc["deployments"]:
        path, func = d["entrypoint"].split(":")
        assert f"def {func}(" in (ROOT / path).read_text()
        assert d["work_pool"]["name"] == "bidbell"


def test_housekeeping_expires_old_raw_files_and_vacuums(env: Path) -> None:
    s = get_settings()
    old = s.raw_dir / "find_a_tender" / "20260101T000000Z.jsonl"
    new = s.raw_dir / "find_a_tender" / "20261201T000000Z.jsonl"
    old.parent.mkdir(parents=True)
    old.write_text('{"a": 1}\n')
    new.write_text('{"b": 2}\n')
    month_ago = time.time() - 31 * 86400
    os.utime(old, (month_ago, month_ago))
    done = expire_raw(s)
    assert (done.files, done.bytes) == (1, 9)
    assert not old.exists() and new.exists()
    migrate(s.effective_database_url)
    assert vacuum_analyse(s) == "ANALYZE; VACUUM; PRAGMA optimize"
    with get_engine(s.effective_database_url).connect() as conn:
        # ANALYZE wrote the planner's statistics table
        assert conn.execute(text("SELECT count(*) FROM sqlite_stat1")).scalar_one() > 0
