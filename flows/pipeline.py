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

import anyio
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from bidbell.clock import utcnow
from bidbell.settings import get_settings
from flows import steps
from flows.dask_match import dask_matcher
from flows.health import record_source_run
from flows.limits import ensure_host_limits, host_slot
from flows.locks import pipeline_write_lock
from flows.progress import reporter
from flows.summary import ARTIFACT_KEY, digest_markdown, summary_markdown
from models.store.db import writer_lock
from spiders.crawl import CrawlOutcome

log = logging.getLogger("bidbell")


# Caching: none (NO_CACHE, explicit). Every run must look at the sources and the outbox
# afresh; a cached crawl or match would silently skip new notices.
# Retries: a crawl once after 30 s (its requests already retry with backoff inside Scrapy);
# database steps once after 5 s (a lock or a dropped connection); sending never (each alert
# is its own recorded attempt, retried on the next run with backoff).
# Timeouts: the crawl task is async (the blocking crawl runs in a thread it awaits), so its
# Prefect timeout really ends the task; the crawl subprocess has its own limit
# (crawl_timeout_s) and is killed by it. The other tasks are sync, run in worker threads
# which Prefect cannot interrupt (it warns when asked to): their limits are the database's
# busy timeout and lock wait (write_wait_s) and the SMTP client's (smtp_timeout_s).


@task(name="crawl_source", retries=1, retry_delay_seconds=30, cache_policy=NO_CACHE)
async def crawl_source(name: str, now: datetime) -> CrawlOutcome | None:
    # Crawls run side by side (each in its own process) and write files, not the database;
    # at most ``host_concurrency`` at once per remote host (flows.limits).
    settings = get_settings()
    async with host_slot(name, settings):
        return await anyio.to_thread.run_sync(steps.crawl_source, name, settings, now)


@task(
    name="store_crawl",
    retries=1,
    retry_delay_seconds=5,
    cache_policy=NO_CACHE,
)
def store_crawl(name: str, now: datetime, outcome: CrawlOutcome | None) -> dict[str, Any]:
    return steps.store_crawl(name, get_settings(), now, outcome).as_dict()


@task(
    name="check_source_health",
    retries=2,
    retry_delay_seconds=5,
    cache_policy=NO_CACHE,
)
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
def deliver_alerts(now: datetime, digests: bool = True) -> dict[str, Any]:
    # No task-level retry: each alert is its own attempt, recorded and retried next run.
    return steps.deliver_alerts(get_settings(), now, digests=digests).as_dict()


@task(name="send_digests", retries=0, cache_policy=NO_CACHE)
def send_digests_task(now: datetime, kinds: list[str]) -> dict[str, Any]:
    # One batch per kind of digest; a digest is made once per period (idempotent).
    return steps.send_digests(get_settings(), now, kinds).as_dict()


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
def run_pipeline(sources: list[str] | None = None, digests: bool = True) -> dict[str, Any]:
    """Collect ``sources`` (all enabled ones when None), then store, match, send, feed.
    A served source's deployment runs this for its one source with ``digests=False`` (the
    digests have deployments of their own, flows.deployments)."""
    settings = get_settings()
    now = utcnow()
    names = sources or steps.known_sources(settings, enabled_only=True)
    try:
        ensure_host_limits(names, settings)
    except Exception as exc:  # the limits are politeness, not correctness: crawl anyway
        log.warning("per-host crawl limits not set: %s: %s", type(exc).__name__, exc)
    errors: dict[str, str] = {}
    for name in names:
        reporter().started(f"collect {name}")
    began = time.monotonic()  # durations in real seconds; instants on the run's clock
    crawl = crawl_source.with_options(timeout_seconds=settings.crawl_timeout_s + 120)
    crawls = [crawl.submit(name, now) for name in names]
    outcomes: list[CrawlOutcome | None] = []
    for name, c in zip(names, crawls, strict=True):
        got: Any = c.result(raise_on_failure=False)  # the async task's value, resolved
        if isinstance(got, BaseException):
            errors[f"crawl {name}"] = f"{type(got).__name__}: {got}"
            got = None
        outcomes.append(got)
    # The writing part (store -> match -> send) takes turns with other runs, here and on
    # other workers (flows.locks: SQLite's writer lock, a PostgreSQL advisory lock); the
    # crawls above write files only and ran side by side.
    with pipeline_write_lock(settings.effective_database_url, settings.write_wait_s):
        return _store_match_send(names, outcomes, now, began, errors, digests)


def _store_match_send(
    names: list[str], outcomes: list[CrawlOutcome | None], now: datetime, began: float,
    errors: dict[str, str], digests: bool,
) -> dict[str, Any]:  # fmt: skip
    # Stored one source after another. Neither step raises for a source's own failure (it
    # is in the source's report).
    collected = []
    for name, outcome in zip(names, outcomes, strict=True):
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
    settings = get_settings()
    if settings.dask_address:  # one task per profile shard on the Dask cluster
        matcher = dask_matcher(settings.dask_address)
        alerts = _stage("match", errors, matcher, now, settings.match_shards)
    else:
        alerts = _stage("match", errors, match_alerts, now)
    sent = _stage("send", errors, deliver_alerts, now, digests)
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
    _publish(
        summary_markdown(summary),
        ARTIFACT_KEY,
        "Per source: fetched, new, changed, failed, duration; alerts.",
    )


def _publish(markdown: str, key: str, description: str) -> None:
    """A markdown artifact in the Prefect UI; the API unreachable costs only the artifact
    (the run itself has done its work)."""
    from prefect.artifacts import create_markdown_artifact

    try:
        create_markdown_artifact(markdown=markdown, key=key, description=description)
    except Exception as exc:
        log.warning("%s not published: %s: %s", key, type(exc).__name__, exc)


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


@flow(name="send_digests", log_prints=False, validate_parameters=True)
def send_digests(kinds: list[str]) -> dict[str, Any]:
    """The daily, weekly or infrastructure digests due now (a deployment each, at 07:00 and
    Monday 07:00 Europe/London)."""
    settings = get_settings()
    now = utcnow()
    with writer_lock(settings.effective_database_url, wait_s=settings.write_wait_s):
        report: dict[str, Any] = send_digests_task(now, kinds)
    _publish_digest_summary(kinds, report)
    return report


def _publish_digest_summary(kinds: list[str], report: dict[str, Any]) -> None:
    _publish(digest_markdown(kinds, report), "digest-summary", "Digests made and sent by this run.")
