"""Source health: a source made to fail (its server gone) raises exactly one operator alert
over several runs, and one recovery message when it works again; `bidbell sources` shows it
in red meanwhile. Real crawls (a subprocess each) against 127.0.0.1, real SMTP (the sink)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from bidbell.settings import get_settings, reset_settings
from cli.main import app
from demo.mailsink import MailSink, free_port
from demo.replay import ReplayServer
from flows import steps
from flows.health import record_source_run
from models.store.db import get_engine, migrate, session_scope
from models.store.tables import SourceRun, SourceState

T0 = datetime.fromisoformat("2026-10-06T19:00:00+01:00")


def collect(now: datetime) -> dict:
    s = get_settings()
    report = steps.collect_source("find_a_tender", s, now).as_dict()
    health = record_source_run(s, report, now, now + timedelta(seconds=1))
    report["health"] = health.as_dict()
    return report


def point_at(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("BIDBELL_SOURCE_URLS", json.dumps({"find_a_tender": url}))
    reset_settings()


def test_failing_source_alerts_once_and_recovers_once(
    env, monkeypatch: pytest.MonkeyPatch, replay: ReplayServer, mailsink: MailSink
) -> None:
    monkeypatch.setenv("BIDBELL_OPERATOR_URLS", json.dumps([mailsink.url + "&to=ops@bidbell.test"]))
    monkeypatch.setenv("BIDBELL_SOURCE_PARAMS", json.dumps({"find_a_tender": {"window_hours": 24}}))
    monkeypatch.setenv("BIDBELL_FIRST_RUN_LOOKBACK_HOURS", "72")
    monkeypatch.setenv("BIDBELL_RETRY_TIMES", "1")
    point_at(monkeypatch, f"http://127.0.0.1:{free_port()}/fts")  # nobody listens there
    migrate(get_settings().effective_database_url)

    reports = [collect(T0 + timedelta(minutes=30 * i)) for i in range(5)]
    assert all(r["error"] for r in reports), reports
    assert [r["health"]["consecutive_failures"] for r in reports] == [1, 2, 3, 4, 5]
    assert [r["health"]["health"] for r in reports] == ["ok", "ok", "failing", "failing", "failing"]
    assert [r["health"]["alert"] for r in reports] == [None, None, "down", None, None]
    assert len(mailsink.received) == 1  # one alert over five failed runs
    alert = mailsink.received[0].message
    assert alert["Subject"] == "Bidbell: find_a_tender has failed 3 runs in a row"
    assert mailsink.received[0].rcpt_tos == ["ops@bidbell.test"]
    assert "Last error:" in alert.get_body(("plain",)).get_content()

    out = CliRunner().invoke(app, ["sources", "--json"], catch_exceptions=False).stdout
    row = next(json.loads(line) for line in out.splitlines() if '"find_a_tender"' in line)
    assert row["health"] == "failing" and row["consecutive_failures"] == 5
    assert row["operator_alerted"] is True
    text = CliRunner().invoke(app, ["sources"], catch_exceptions=False).stdout
    assert "find_a_tender [find_a_tender] every 30 min  FAILING" in text

    point_at(monkeypatch, replay.url + "/fts")  # fixed: the source answers again
    fixed = collect(T0 + timedelta(hours=3))
    assert not fixed["error"] and fixed["notices"] == 4, fixed
    assert fixed["health"] == {
        "source": "find_a_tender",
        "health": "ok",
        "consecutive_failures": 0,
        "alert": "recovered",
        "told": True,
    }
    again = collect(T0 + timedelta(hours=4))
    assert again["health"]["alert"] is None
    assert [m.message["Subject"] for m in mailsink.received] == [
        "Bidbell: find_a_tender has failed 3 runs in a row",
        "Bidbell: find_a_tender is working again",
    ]
    with session_scope(get_engine(get_settings().effective_database_url)) as s:
        runs = s.exec(select(SourceRun).order_by(SourceRun.id)).all()
        state = s.get(SourceState, "find_a_tender")
        assert [(r.fetched, r.new, bool(r.error)) for r in runs] == [(0, 0, True)] * 5 + [
            (4, 4, False),
            (0, 0, False),
        ]
        assert state is not None and not state.alerted and state.health == "ok"


def test_operator_send_failure_is_retried_not_doubled(
    env, monkeypatch: pytest.MonkeyPatch, mailsink: MailSink
) -> None:
    """The alert counts as given only once it reached the operator: while the operator's
    SMTP server is down it is tried on each run, and sent once when it is back."""
    dead = f"mailto://127.0.0.1:{free_port()}?from=alerts@bidbell.localhost&to=ops@bidbell.test"
    monkeypatch.setenv("BIDBELL_OPERATOR_URLS", json.dumps([dead]))
    monkeypatch.setenv("BIDBELL_HEALTH_FAILED_RUNS", "2")
    reset_settings()
    migrate(get_settings().effective_database_url)
    failed = {"source": "contracts_finder", "notices": 0, "errors": 0, "error": "HTTP 503"}
    s = get_settings()
    r = [
        record_source_run(s, failed, T0 + timedelta(hours=i), T0 + timedelta(hours=i))
        for i in range(3)
    ]
    assert [(x.alert, x.told) for x in r] == [(None, False), ("down", False), ("down", False)]
    monkeypatch.setenv("BIDBELL_OPERATOR_URLS", json.dumps([mailsink.url + "&to=ops@bidbell.test"]))
    reset_settings()
    s = get_settings()
    r4 = record_source_run(s, failed, T0 + timedelta(hours=4), T0 + timedelta(hours=4))
    r5 = record_source_run(s, failed, T0 + timedelta(hours=5), T0 + timedelta(hours=5))
    assert (r4.alert, r4.told, r5.alert) == ("down", True, None)
    assert len(mailsink.received) == 1


def test_silent_source_alerts_once(env, monkeypatch: pytest.MonkeyPatch, mailsink: MailSink):
    """A source whose runs succeed but bring nothing for much longer than usual (here it
    usually brings notices every hour; factor 4, floor 1 h) is 'silent'."""
    monkeypatch.setenv("BIDBELL_OPERATOR_URLS", json.dumps([mailsink.url + "&to=ops@bidbell.test"]))
    monkeypatch.setenv("BIDBELL_HEALTH_SILENCE_MIN_HOURS", "1")
    reset_settings()
    migrate(get_settings().effective_database_url)
    s = get_settings()

    def run(hours: float, notices: int):
        at = T0 + timedelta(hours=hours)
        report = {"source": "contracts_finder", "notices": notices, "errors": 0, "error": None}
        return record_source_run(s, report, at, at)

    for h in range(4):
        assert run(h, 3).health == "ok"
    quiet = [run(h, 0) for h in range(4, 12)]
    # last notices at hour 3; usual gap 1 h x 4 = silent after hour 7
    assert [q.health for q in quiet] == ["ok"] * 4 + ["silent"] * 4
    assert [q.alert for q in quiet].count("down") == 1
    back = run(12, 2)
    assert (back.health, back.alert) == ("ok", "recovered")
    subjects = [m.message["Subject"] for m in mailsink.received]
    assert subjects == [
        "Bidbell: contracts_finder has returned nothing for much longer than usual",
        "Bidbell: contracts_finder is working again",
    ]
