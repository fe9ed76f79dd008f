"""The pipeline's stages as plain functions. Prefect tasks and the CLI both call these.

Each stage works on a whole source or a whole batch, never on one notice or recipient.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bidbell.settings import Settings
from matching.alerts import AlertResult, create_alerts
from models.store.checkpoint import get_state, next_window, record_run
from models.store.db import get_engine, session_scope
from models.store.queries import Search, search_opportunities
from models.store.sectors import SectorRefresh, refresh_sectors
from models.store.store import (
    StoreResult,
    iter_jsonl,
    store_errors,
    store_jsonl,
    store_records,
)
from notifiers.digest import SCHEDULED_KINDS
from notifiers.feeds import FEED_ITEMS, build_feed, write_feed
from notifiers.outbox import DeliveryReport, deliver
from spiders.config import SourceConfig, load_sources
from spiders.crawl import CrawlOutcome, crawl
from spiders.files import read_file
from spiders.registry import load_spider

log = logging.getLogger("bidbell")


@dataclass
class CollectReport:
    source: str
    window: tuple[str, str]
    windows: int = 0
    windows_failed: int = 0
    notices: int = 0
    errors: int = 0
    stored: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    log_path: str = ""
    rejections: list[str] = field(default_factory=list)  # the first "record: reason"s

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _engine(settings: Settings) -> Any:
    return get_engine(settings.effective_database_url)


def spider_settings(settings: Settings) -> dict[str, Any]:
    return {
        "USER_AGENT": settings.user_agent,
        "DOWNLOAD_TIMEOUT": settings.download_timeout_s,
        "BIDBELL_RETRY_TIMES": settings.retry_times,
        "BIDBELL_BACKOFF_BASE": settings.backoff_base_s,
        "BIDBELL_BACKOFF_MAX": settings.backoff_max_s,
    }


def load_configured_sources(settings: Settings) -> dict[str, SourceConfig]:
    return load_sources(settings.sources_file, settings.source_urls)


def crawl_source(
    name: str,
    settings: Settings,
    now: datetime,
    since: datetime | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> CrawlOutcome | None:
    """Run one source's crawl (windowed: from its checkpoint to now). No database writes,
    so several crawls can run at once. None: nothing to ask for (already up to date).
    ``progress`` hears the records fetched so far (a backfill's bar)."""
    try:
        return _crawl_source(name, settings, now, since, progress)
    except Exception as exc:  # a source's failure is reported, never raised
        log.exception("%s: the crawl could not run", name)
        out = settings.raw_dir / name / f"{now.strftime('%Y%m%dT%H%M%SZ')}.jsonl"
        outcome = CrawlOutcome(
            source=name,
            returncode=-1,
            notices_path=out,
            errors_path=out.with_name(out.name + ".errors.jsonl"),
            log_path=out.with_name(out.name + ".log"),
        )
        outcome.error = f"{name}: the crawl could not run: {type(exc).__name__}: {exc}"
        return outcome


def _crawl_source(
    name: str,
    settings: Settings,
    now: datetime,
    since: datetime | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> CrawlOutcome | None:
    config = load_configured_sources(settings)[name]
    windowed = bool(getattr(load_spider(config.type), "windowed", False))
    with session_scope(_engine(settings)) as session:
        start, end = next_window(
            session, name, now, timedelta(hours=settings.first_run_lookback_hours), since
        )
        carried = dict(get_state(session, name).state)
    args: dict[str, Any] = {"base_url": config.base_url, **settings.source_params.get(name, {})}
    if windowed:
        if start >= end:
            return None
        args.update(updated_from=start.isoformat(), updated_to=end.isoformat())
    else:
        args["state"] = json.dumps(carried)
    out = settings.raw_dir / name / f"{now.strftime('%Y%m%dT%H%M%SZ')}.jsonl"
    outcome = crawl(
        name,
        out,
        args,
        spider_settings(settings),
        timeout=settings.crawl_timeout_s,
        sources_file=settings.sources_file,
        progress=progress,
    )
    outcome.window = (start.isoformat(), end.isoformat())
    return outcome


def store_crawl(
    name: str, settings: Settings, now: datetime, outcome: CrawlOutcome | None
) -> CollectReport:
    """Store what a crawl wrote, keep its errors, record the run (checkpoint, state).

    Never raises: a record that cannot be stored is kept as an error and the checkpoint
    moves past it; should storing itself fail (a bug, the database gone), this source's
    run is recorded as failed, its checkpoint stays, and the crawl's files stay on disk."""
    if outcome is None:
        with session_scope(_engine(settings)) as session:
            checkpoint = get_state(session, name).checkpoint
        at = checkpoint.isoformat() if checkpoint else now.isoformat()
        return CollectReport(source=name, window=(at, now.isoformat()))
    report = CollectReport(source=name, window=outcome.window)
    report.log_path = str(outcome.log_path)
    report.windows = len(outcome.windows)
    report.windows_failed = sum(1 for w in outcome.windows if w["status"] != "complete")
    failures = list(outcome.report.get("failures") or [])
    if outcome.error:
        report.error = outcome.error
    elif not outcome.complete:
        first = failures[0] if failures else "incomplete"
        report.error = (
            f"{report.windows_failed} of {report.windows} window(s) failed; first: {first}"
            if outcome.windows
            else first
        )
    try:
        with session_scope(_engine(settings)) as session:
            # a batch at a time, each committed: a kill loses one batch, a re-run resumes
            result = store_jsonl(session, outcome.notices_path, name, now=now, commit_batches=True)
            kept = store_errors(session, iter_jsonl(outcome.errors_path, name))
            report.errors = kept + result.rejected
            report.notices = result.received
            report.stored = result.summary()
            report.rejections = result.rejections
            record_run(
                session,
                name,
                now,
                outcome.windows,
                result.received,
                report.error,
                complete=outcome.complete,
                state=outcome.report.get("state"),
            )
    except Exception as exc:  # one source's failure never stops the others
        log.exception("%s: storing the crawl failed", name)
        report.error = (
            f"storing failed ({type(exc).__name__}: {str(exc)[:300]}); the crawl's records "
            f"are kept in {outcome.notices_path}"
        )
        try:
            with session_scope(_engine(settings)) as session:
                record_run(session, name, now, [], 0, report.error)
        except Exception:
            log.exception("%s: could not record the failed run", name)
    return report


def collect_source(
    name: str,
    settings: Settings,
    now: datetime,
    since: datetime | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> CollectReport:
    """Crawl one source and store what came. A failure of this source is reported, not
    raised: other sources go on. ``progress`` hears the records fetched so far."""
    return store_crawl(name, settings, now, crawl_source(name, settings, now, since, progress))


def _notices_apart(
    records: Iterable[Any],
    errors: list[dict[str, Any]],
    read: list[int],
    tick: Callable[[int], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """The notices among a file's records, as they are read; its errors put in ``errors``;
    ``read[0]`` counts the records read (``tick`` hears of every 200th)."""
    for rec in records:
        read[0] += 1
        if tick is not None and read[0] % 200 == 0:
            tick(read[0])
        if rec.kind == "notice":
            yield rec.model_dump()
        else:
            errors.append(rec.model_dump())


def import_files(
    source: str,
    files: list[Path],
    settings: Settings,
    now: datetime,
    progress: Callable[[int, int | None], None] | None = None,
) -> StoreResult:
    """Parse saved payload files of a source and store them like a crawl would: each file
    read as it goes (a file of hundreds of megabytes is never held whole) and stored a
    batch at a time, each batch committed (a failure costs the batch in hand and what
    follows in that file; importing the file again resumes), every rejected record kept
    with its reason. A summary of the rejections is the source's last error.
    ``progress(records read so far, None)`` hears how far it is (the total is not known
    before the files are read)."""
    config = load_configured_sources(settings)[source]
    total = StoreResult()
    before = 0  # records read from the files already done
    for path in files:
        errors: list[dict[str, Any]] = []
        read = [0]
        records = read_file(source, config.type, path, config.params)
        tick = None if progress is None else (lambda n, b=before: progress(b + n, None))
        try:
            with session_scope(_engine(settings)) as session:
                notices = _notices_apart(records, errors, read, tick)
                result = store_records(session, notices, now=now, commit_batches=True)
                store_errors(session, errors)
        except Exception as exc:  # a bug or the database gone: the rest of this file is not stored
            log.exception("%s: storing %s failed", source, path)
            result = StoreResult(received=read[0])
            result.reject(
                path.name,
                f"storing the file failed after {read[0]} record(s) read "
                f"(batches before the failure are stored): {type(exc).__name__}: {exc}",
            )
            result.rejected = result.received
            total.add(result)
            before += read[0]
            continue
        result.received += len(errors)
        for e in errors:
            result.reject(e.get("record") or path.name, str(e.get("reason") or "unknown"))
        total.add(result)
        before += read[0]
        if progress is not None:
            progress(before, None)
    if total.rejected:
        with session_scope(_engine(settings)) as session:
            state = get_state(session, source)
            first = total.rejections[0] if total.rejections else "see the ingesterror table"
            state.last_error = (
                f"import: {total.rejected} of {total.received} record(s) rejected; first: {first}"
            )[:2000]
            session.add(state)
    return total


def label_sectors(settings: Settings, now: datetime) -> SectorRefresh:
    """Train the text sector model from the store when there is none yet or the store has
    grown by more than a fifth since; then give a sector to opportunities without CPV codes.
    A failure here is logged, not raised: matching and sending go on without it."""
    try:
        with session_scope(_engine(settings)) as session:
            return refresh_sectors(session, settings, now)
    except Exception:
        log.exception("sector labelling failed")
        return SectorRefresh(path=str(settings.effective_sector_model_path), error=True)


def match_alerts(settings: Settings, now: datetime) -> AlertResult:
    """Match incrementally: new or changed opportunities against every profile ("new"
    alerts), new or changed profiles against the open opportunities ("welcome" alerts)."""
    with session_scope(_engine(settings)) as session:
        return create_alerts(session, now)


def deliver_alerts(settings: Settings, now: datetime, digests: bool = True) -> DeliveryReport:
    """One outbox run: change alerts and due reminders into the outbox, then every due
    alert sent (instant ones by email through the pooled SMTP channel, SMS and other
    targets through apprise), welcome digests, and (``digests``) the daily / weekly /
    infrastructure digests when their hour has come (notifiers.outbox, notifiers.digest).
    Served deployments pass ``digests=False``: the digests have deployments of their own."""
    engine = _engine(settings)
    report = deliver(engine, settings, now)
    if digests:
        send_digests(settings, now, SCHEDULED_KINDS, report)
    return report


def send_digests(
    settings: Settings,
    now: datetime,
    kinds: tuple[str, ...] | list[str],
    report: DeliveryReport | None = None,
) -> DeliveryReport:
    """The digests of ``kinds`` due at ``now`` made and sent (and any waiting to be tried
    again); a digest is made once per period, so running this again sends nothing twice."""
    from notifiers.digest import send_due_digests
    from notifiers.outbox import Sender

    report = report if report is not None else DeliveryReport()
    sender = Sender(_engine(settings), settings, now)
    try:
        for kind in kinds:
            send_due_digests(sender, kind, report)
    finally:
        sender.close()
    return report


def publish_feed(settings: Settings, now: datetime) -> Path:
    """The default feed as files (var/feeds/opportunities.rss and .atom, written atomically):
    the open opportunities, newest first, each dated when it was first published; the same
    renderer and the same selection as the web's /feeds/opportunities.rss."""
    search = Search(open_only=True, sort="newest", page=1, per_page=FEED_ITEMS)
    base = settings.public_url.rstrip("/")
    with session_scope(_engine(settings)) as session:
        items = search_opportunities(session, search, now).items
        paths = {}
        for kind in ("rss", "atom"):
            data, _updated = build_feed(
                kind,
                items,
                title="Bidbell: open opportunities",
                description="Public contract opportunities open to bids, newest first.",
                page_url=f"{base}/",
                self_url=f"{base}/feeds/opportunities.{kind}",
            )
            paths[kind] = write_feed(settings.feed_dir / f"opportunities.{kind}", data)
    return paths["rss"]


def known_sources(settings: Settings, enabled_only: bool = False) -> list[str]:
    return sorted(
        name
        for name, c in load_configured_sources(settings).items()
        if c.enabled or not enabled_only
    )
