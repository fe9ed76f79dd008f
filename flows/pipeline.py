"""The Prefect flow: crawl (a task per source, side by side) -> store (a task per source,
one after another) -> sectors from text -> match -> send -> feed.

Tasks are thin wrappers around flows.steps; each works on a source or a batch, never on a
single notice or recipient (a task run costs ~20 ms here). Import via flows.runner, which
prepares Prefect's environment (local mode, quiet) before Prefect is imported.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from bidbell.clock import utcnow
from bidbell.settings import get_settings
from flows import steps
from flows.health import record_source_run
from flows.progress import reporter
from flows.summary import ARTIFACT_KEY, summary_markdown
from spiders.crawl import CrawlOutcome

log = logging.getLogger("bidbell")


# No caching anywhere: every run must look at the sources and the outbox afresh.
# No Prefect timeouts: sync tasks run in threads that Prefect cannot interrupt; the crawl
# subprocess and the SMTP client carry their own time limits.
@task(name="crawl_source", retries=1, retry_delay_seconds=30, cache_policy=NO_CACHE)
def crawl_source(name: str, now: datetime) -> CrawlOutcome | None:
    # Crawls run side by side (each in its own process) and write files, not the database.
    return steps.crawl_source(name, get_settings(), now)


@task(name="store_crawl", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def store_crawl(name: str, now: datetime, outcome: CrawlOutcome | None) -> dict[str, Any]:
    return steps.store_crawl(name, get_settings(), now, outcome).as_dict()


@task(name="check_source_health", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def check_source_health(
    report: dict[str, Any], started: datetime, finished: datetime
) -> dict[str, Any]:
    # One row per collection; at most one operator message (broken / recovered) per outage.
    from prefect.runtime import flow_run

    run_id = str(flow_run.id) if flow_run.id else None
    return record_source_run(get_settings(), report, started, finished, run_id).as_dict()


@task(name="label_sectors", retries=0, cache_policy=NO_CACHE)
def label_sectors(now: datetime) -> dict[str, Any]:
    # Trains from the store when needed, then labels notices without CPV; never raises.
    return vars(steps.label_sectors(get_settings(), now))


@task(
    name="match_alerts",
    retries=1,
    retry_delay_seconds=5,
    cache_policy=NO_CACHE,
)
def match_alerts(now: datetime) -> dict[str, Any]:
    return vars(steps.match_alerts(get_settings(), now))


@task(name="deliver_alerts", retries=0, cache_policy=NO_CACHE)
def deliver_alerts(now: datetime) -> dict[str, Any]:
    # No task-level retry: each alert is its own attempt, recorded and retried next run.
    return steps.deliver_alerts(get_settings(), now).as_dict()


@task(
    name="publish_feed",
    retries=1,
    retry_delay_seconds=5,
    cache_policy=NO_CACHE,
)
def publish_feed(now: datetime) -> str:
    return str(steps.publish_feed(get_settings(), now))


def _stage(name: str, errors: dict[str, str], run: Any, *args: Any) -> Any:
    """Run one stage's task; a failure is noted and the pipeline goes on to the next stage
    (a broken feed never stops alerts being sent, nor the other way round)."""
    reporter().started(name)
    state = run(*args, return_state=True)
    if state.is_completed():
        result = state.result()
        reporter().finished(name, describe(name, result))
        return result
    errors[name] = state.message or "failed"
    reporter().finished(name, errors[name], ok=False)
    return None


def describe(stage: str, result: Any) -> str:
    """A stage's result in a few words, for the line the terminal shows."""
    if not isinstance(result, dict):
        return str(result) if result else "done"
    if "stored" in result:  # a source's collect report
        st = result["stored"]
        text = (
            f"{result['notices']} notice(s), {st.get('inserted', 0)} new, "
            f"{st.get('updated', 0)} updated, {result['errors']} error(s)"
        )
        return text + (f"; {result['error']}" if result.get("error") else "")
    if "alerts_created" in result:
        return (
            f"{result.get('opportunities', 0)} opportunities x {result.get('profiles', 0)} "
            f"profiles -> {result['alerts_created']} new alert(s)"
        )
    if "sent" in result and "failed" in result:
        return f"{result['sent']} sent, {result['failed']} failed"
    if "labelled" in result:
        return f"{result['labelled']} opportunity(ies) given a sector from text"
    return ", ".join(f"{k} {v}" for k, v in result.items() if isinstance(v, int | str))[:200]


@flow(name="run_pipeline", log_prints=False, validate_parameters=True)
def run_pipeline(sources: list[str] | None = None) -> dict[str, Any]:
    now = utcnow()
    names = sources or steps.known_sources(get_settings(), enabled_only=True)
    errors: dict[str, str] = {}
    for name in names:
        reporter().started(f"collect {name}")
    began = time.monotonic()  # durations in real seconds; instants on the run's clock
    crawls = [crawl_source.submit(name, now) for name in names]
    # Stored one source after another: SQLite takes one writer at a time. Neither step
    # raises for a source's own failure (it is in the source's report).
    collected = []
    for name, c in zip(names, crawls, strict=True):
        outcome = c.result(raise_on_failure=False)
        if isinstance(outcome, BaseException):
            errors[f"crawl {name}"] = f"{type(outcome).__name__}: {outcome}"
            outcome = None
        report = run_store(name, now, outcome, errors)
        report["duration_s"] = round(time.monotonic() - began, 2)
        finished = now + timedelta(seconds=report["duration_s"])
        health = check_source_health(report, now, finished, return_state=True)
        if health.is_completed():
            report["health"] = health.result()
        else:
            errors[f"health {name}"] = health.message or "failed"
        collected.append(report)
    sectors = _stage("sectors from text", errors, label_sectors, now)
    alerts = _stage("match", errors, match_alerts, now)
    sent = _stage("send", errors, deliver_alerts, now)
    feed = _stage("feed", errors, publish_feed, now)
    summary = {
        "now": now.isoformat(),
        "collected": collected,
        "sectors": sectors,
        "alerts": alerts,
        "sent": sent,
        "feed": feed,
        "errors": errors,
    }
    publish_summary(summary)
    return summary


def publish_summary(summary: dict[str, Any]) -> None:
    """The run's summary as a markdown artifact (flows.summary); never fails the run."""
    from prefect.artifacts import create_markdown_artifact

    try:
        create_markdown_artifact(
            markdown=summary_markdown(summary),
            key=ARTIFACT_KEY,
            description="Per source: fetched, new, changed, failed, duration; alerts.",
        )
    except Exception as exc:  # the API unreachable: the run itself has done its work
        log.warning("run summary not published: %s: %s", type(exc).__name__, exc)


def run_store(
    name: str, now: datetime, outcome: CrawlOutcome | None, errors: dict[str, str]
) -> dict[str, Any]:
    """Store one source's crawl and say so on one line (collect = crawl + store)."""
    state = store_crawl(name, now, outcome, return_state=True)
    if state.is_completed():
        report: dict[str, Any] = state.result()
    else:
        errors[f"store {name}"] = state.message or "failed"
        report = steps.CollectReport(source=name, window=("", ""), error="store failed").as_dict()
    reporter().finished(f"collect {name}", describe("collect", report), ok=not report["error"])
    return report
