"""The pipeline's stages as plain functions. Prefect tasks and the CLI both call these.

Each stage works on a whole source or a whole batch, never on one notice or recipient.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from bidbell.settings import Settings
from matching.alerts import AlertResult, create_alerts
from models.checkpoint import next_window, record_run
from models.db import get_engine, session_scope
from models.store import StoreResult, store_errors, store_records
from models.tables import Opportunity
from notifiers.dispatch import DispatchResult, send_pending_alerts
from notifiers.rss import render_rss, write_rss
from spiders.crawl import crawl
from spiders.files import read_file
from spiders.registry import SOURCES, get_source

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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _engine(settings: Settings) -> Any:
    return get_engine(settings.effective_database_url)


def _iter_jsonl(path: Path) -> Any:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def spider_settings(settings: Settings) -> dict[str, Any]:
    return {
        "USER_AGENT": settings.user_agent,
        "DOWNLOAD_TIMEOUT": settings.download_timeout_s,
        "BIDBELL_RETRY_TIMES": settings.retry_times,
        "BIDBELL_BACKOFF_BASE": settings.backoff_base_s,
        "BIDBELL_BACKOFF_MAX": settings.backoff_max_s,
    }


def collect_source(
    name: str, settings: Settings, now: datetime, since: datetime | None = None
) -> CollectReport:
    """Crawl one source from its checkpoint to now, store what came, advance the checkpoint.

    A failure of this source is reported, not raised: other sources go on.
    """
    entry = get_source(name)
    engine = _engine(settings)
    with session_scope(engine) as session:
        start, end = next_window(
            session, name, now, timedelta(hours=settings.first_run_lookback_hours), since
        )
    report = CollectReport(source=name, window=(start.isoformat(), end.isoformat()))
    if start >= end:
        report.error = None
        return report
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    out = settings.raw_dir / name / f"{stamp}.jsonl"
    outcome = crawl(
        name,
        out,
        {
            "base_url": getattr(settings, entry.base_url_setting),
            "updated_from": start.isoformat(),
            "updated_to": end.isoformat(),
            "window_hours": settings.fts_window_hours,
            "limit": settings.fts_page_limit,
        },
        spider_settings(settings),
        timeout=settings.crawl_timeout_s,
    )
    report.log_path = str(outcome.log_path)
    report.windows = len(outcome.windows)
    report.windows_failed = sum(1 for w in outcome.windows if w["status"] != "complete")
    failures = [w["error"] for w in outcome.windows if w["status"] != "complete" and w["error"]]
    report.error = outcome.error or (
        f"{report.windows_failed} of {report.windows} window(s) failed; first: {failures[0]}"
        if failures
        else None
    )
    with session_scope(engine) as session:
        result = store_records(session, _iter_jsonl(outcome.notices_path), now=now)
        report.errors = store_errors(session, _iter_jsonl(outcome.errors_path)) + result.rejected
        report.notices = result.received
        report.stored = result.summary()
        record_run(session, name, now, outcome.windows, result.received, report.error)
    return report


def import_files(source: str, files: list[Path], settings: Settings, now: datetime) -> StoreResult:
    """Parse saved payload files of a source and store them like a crawl would."""
    get_source(source)
    total = StoreResult()
    with session_scope(_engine(settings)) as session:
        for path in files:
            notices: list[dict[str, Any]] = []
            errors: list[dict[str, Any]] = []
            for rec in read_file(source, path):
                (notices if rec.kind == "notice" else errors).append(rec.model_dump())
            result = store_records(session, notices, now=now)
            kept = store_errors(session, errors)
            result.received += kept
            result.rejected += kept
            total.add(result)
    return total


def match_alerts(settings: Settings, now: datetime) -> AlertResult:
    with session_scope(_engine(settings)) as session:
        return create_alerts(session, now)


def deliver_alerts(settings: Settings, now: datetime) -> DispatchResult:
    with session_scope(_engine(settings)) as session:
        return send_pending_alerts(
            session,
            email_url=settings.email_url,
            extra_urls=settings.extra_apprise_urls,
            public_url=settings.public_url,
            now=now,
        )


def publish_feed(settings: Settings, now: datetime, limit: int = 200) -> Path:
    """RSS 2.0 of the most recently changed opportunities, written atomically."""
    with session_scope(_engine(settings)) as session:
        opps = session.exec(
            select(Opportunity).order_by(col(Opportunity.updated_at).desc()).limit(limit)
        ).all()
        path = settings.feed_dir / "opportunities.rss"
        data = render_rss(
            opps,
            title="Bidbell: public contract opportunities",
            link=settings.public_url,
            self_url=f"{settings.public_url.rstrip('/')}/feeds/opportunities.rss",
            now=now,
        )
    return write_rss(path, data)


def known_sources() -> list[str]:
    return sorted(SOURCES)
