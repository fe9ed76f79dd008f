"""Source health: every collection is a ``SourceRun`` row; a source that fails several runs
in a row, or returns nothing for much longer than it usually does, raises ONE operator
alert (notifiers.operator, through apprise), and one recovery message when it comes back.

The state kept on ``SourceState`` (consecutive failures, last non-empty run, whether the
operator has been told) makes this idempotent across runs and processes: the alert is
marked as given only once a message reached an operator target, so a failed send is tried
again on the next run, never doubled.
"""

from __future__ import annotations

import itertools
import logging
import statistics
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from bidbell.clock import to_uk
from bidbell.settings import Settings
from models.store.checkpoint import get_state
from models.store.db import get_engine, session_scope
from models.store.tables import SourceRun, SourceState
from notifiers.operator import tell_operator

log = logging.getLogger("bidbell.health")

OK, FAILING, SILENT = "ok", "failing", "silent"
SILENCE_HISTORY = 50  # recent non-empty runs that define "usually"
SILENCE_MIN_RUNS = 3  # non-empty runs needed before silence can be judged


@dataclass
class HealthReport:
    source: str
    health: str
    consecutive_failures: int
    alert: str | None = None  # "down" or "recovered" when a message was due this run
    told: bool = False  # that message reached the operator (or was logged: none set)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def usual_gap(runs: list[datetime]) -> timedelta | None:
    """Median time between a source's non-empty runs (newest first or any order)."""
    times = sorted(runs)
    if len(times) < SILENCE_MIN_RUNS:
        return None
    gaps = [b - a for a, b in itertools.pairwise(times) if b > a]
    if not gaps:
        return None
    return timedelta(seconds=statistics.median(g.total_seconds() for g in gaps))


def judge(state: SourceState, now: datetime, gap: timedelta | None, settings: Settings) -> str:
    if state.consecutive_failures >= settings.health_failed_runs:
        return FAILING
    if gap is not None and state.last_nonempty_at is not None:
        allowed = max(
            gap * settings.health_silence_factor,
            timedelta(hours=settings.health_silence_min_hours),
        )
        if now - state.last_nonempty_at > allowed:
            return SILENT
    return OK


def _message(
    state: SourceState, health: str, report: dict[str, Any], settings: Settings
) -> tuple[str, str]:
    name = state.source

    def at(v: datetime | None) -> str:
        return to_uk(v).strftime("%Y-%m-%d %H:%M %Z") if v else "never"

    lines = [
        f"Source: {name}",
        f"Last success: {at(state.last_success_at)}",
        f"Last run that returned notices: {at(state.last_nonempty_at)}",
    ]
    if health == FAILING:
        title = f"Bidbell: {name} has failed {state.consecutive_failures} runs in a row"
        lines.append(f"Last error: {report.get('error') or state.last_error or 'unknown'}")
        if report.get("log_path"):
            lines.append(f"Crawl log: {report['log_path']}")
    elif health == SILENT:
        title = f"Bidbell: {name} has returned nothing for much longer than usual"
        lines.append(
            "Its runs succeed but bring no notices: a changed page or API may be to blame."
        )
    else:
        title = f"Bidbell: {name} is working again"
        lines.append(f"This run: {report.get('notices', 0)} notice(s), no error.")
    lines.append("")
    lines.append("Check with: bidbell sources   (or the admin page, /admin)")
    lines.append(
        "You are told once when a source breaks and once when it recovers "
        f"({settings.health_failed_runs} failed runs in a row, or a long silence, break it)."
    )
    return title, "\n".join(lines)


def record_source_run(
    settings: Settings,
    report: dict[str, Any],
    started: datetime,
    finished: datetime,
    flow_run_id: str | None = None,
) -> HealthReport:
    """Keep one collection's run (a ``CollectReport.as_dict()``), update the source's
    health, and tell the operator when it has just broken or just recovered."""
    name = report["source"]
    stored = report.get("stored") or {}
    failed_run = bool(report.get("error"))
    engine = get_engine(settings.effective_database_url)
    with session_scope(engine) as session:
        session.add(
            SourceRun(
                source=name,
                started_at=started,
                finished_at=finished,
                fetched=int(report.get("notices") or 0),
                new=int(stored.get("inserted", 0)),
                changed=int(stored.get("updated", 0)),
                failed=int(report.get("errors") or 0),
                error=(report.get("error") or None),
                flow_run_id=flow_run_id,
            )
        )
        state = get_state(session, name)
        state.consecutive_failures = state.consecutive_failures + 1 if failed_run else 0
        if not failed_run and report.get("notices"):
            state.last_nonempty_at = started
        recent = session.exec(
            select(SourceRun.started_at)
            .where(SourceRun.source == name, col(SourceRun.fetched) > 0)
            .order_by(col(SourceRun.started_at).desc())
            .limit(SILENCE_HISTORY)
        ).all()
        health = judge(state, started, usual_gap(list(recent)), settings)
        state.health = health
        due = None
        if health != OK and not state.alerted:
            due = "down"
        elif health == OK and state.alerted:
            due = "recovered"
        title, body = _message(state, health, report, settings) if due else ("", "")
        session.add(state)
        result = HealthReport(name, health, state.consecutive_failures, alert=due)
    if due is None:
        return result
    # Sent outside the transaction; the flag is set only once an operator was told.
    outcome = tell_operator(settings.operator_urls, title, body)
    result.told = outcome.delivered
    if outcome.delivered:
        with session_scope(engine) as session:
            state = get_state(session, name)
            state.alerted = due == "down"
            state.alerted_at = finished if due == "down" else state.alerted_at
            session.add(state)
        log.info("%s: operator told (%s): %s", name, due, title)
    return result
