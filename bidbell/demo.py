"""``bidbell demo``: the whole pipeline once, offline, on the real captures.

Serves the captured Find a Tender release packages from 127.0.0.1, runs a real SMTP server
on 127.0.0.1, registers sample subscribers, runs the Prefect flow, and reports.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from bidbell.mailsink import MailSink
from bidbell.replay import FixturesMissing, replay_all
from bidbell.replay.fts import load_fts_captures
from bidbell.settings import get_settings, reset_settings

SAMPLE_SUBSCRIBERS = [
    # (name, email, kind, cpv prefixes, keywords, regions, min, max)
    (
        "Bedfordshire Care Collective",
        "bids@bedscare.example.org",
        "vcse",
        ["85"],
        ["supported living"],
        ["UKH2"],
        None,
        5_000_000,
    ),
    (
        "Medway Digital Ltd",
        "hello@medwaydigital.example.com",
        "sme",
        ["72"],
        ["software"],
        ["UKJ4"],
        5_000,
        250_000,
    ),
]


def _say(msg: str = "") -> None:
    typer.echo(msg)


def run_demo(keep: bool = False) -> int:
    base = get_settings()
    fixtures = base.fixtures_dir
    try:
        _envelope, releases = load_fts_captures(fixtures)
    except FixturesMissing as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        return 2
    dates = sorted(datetime.fromisoformat(r["date"]) for r in releases)
    # Replay the captures as of just after the newest one was published: a real past day.
    as_of = (dates[-1] + timedelta(minutes=30)).astimezone(UTC)
    lookback_h = (as_of - dates[0]).total_seconds() / 3600 + 24

    var = base.var_dir / "demo"
    if var.exists() and not keep:
        shutil.rmtree(var)
    mail_dir = var / "mail"
    server, urls = replay_all(fixtures, page_size=2)
    with server, MailSink(mail_dir) as smtp:
        os.environ.update(
            {
                "BIDBELL_VAR_DIR": str(var),
                "BIDBELL_DATABASE_URL": f"sqlite:///{var / 'bidbell.db'}",
                "BIDBELL_SOURCE_URLS": json.dumps(urls),
                "BIDBELL_EMAIL_URL": smtp.url,
                "BIDBELL_AS_OF": as_of.isoformat(),
                "BIDBELL_FIRST_RUN_LOOKBACK_HOURS": f"{lookback_h:.0f}",
                # A day per window keeps the replay short (~180 requests); live runs use 3 h.
                "BIDBELL_SOURCE_PARAMS": json.dumps({"find_a_tender": {"window_hours": 24}}),
                "BIDBELL_PUBLIC_URL": "http://localhost:8000",
            }
        )
        reset_settings()
        s = get_settings()
        from models.db import migrate
        from models.subscribers import add_subscriber

        _say(f"Bidbell demo: replaying {len(releases)} captured Find a Tender notices")
        _say(f"  fixtures:      {fixtures}")
        for name, url in urls.items():
            _say(f"  source:        {name} at {url} (local replay)")
        _say(f"  SMTP server:   127.0.0.1:{smtp.port} (local, keeps every message)")
        _say(f"  as of:         {as_of.isoformat()} (just after the newest capture)")
        migrate(s.effective_database_url)
        for name, email, kind, cpv, kw, regions, lo, hi in SAMPLE_SUBSCRIBERS:
            add_subscriber(
                name=name,
                email=email,
                kind=kind,
                cpv_prefixes=cpv,
                keywords=kw,
                regions=regions,
                min_value=lo,
                max_value=hi,
            )
            _say(
                f"  subscriber:    {name} <{email}> cpv={','.join(cpv)} regions={','.join(regions)}"
            )
        _say("")

        from flows.runner import run_pipeline_once

        summary = run_pipeline_once(sorted(urls))
        _say("")
        if summary is None:
            return 1
        _report(summary, smtp, s.effective_database_url)
    return 0


def _report(summary: dict[str, Any], smtp: MailSink, db_url: str) -> None:
    import feedparser

    from models.query import list_opportunities

    opps = list_opportunities()
    feed_path = Path(summary["feed"])
    feed = feedparser.parse(feed_path.read_bytes())
    _say("Summary")
    for c in summary["collected"]:
        st = c["stored"]
        if c["windows"] == 0:
            _say(
                f"  collected {c['source']}: nothing new; already collected up to "
                f"{c['window'][0]} (the checkpoint)"
            )
            continue
        _say(
            f"  collected {c['source']}: {c['notices']} notices from {c['windows']} windows "
            f"({st.get('inserted', 0)} new, {st.get('updated', 0)} updated, "
            f"{st.get('unchanged', 0)} unchanged, {c['errors']} errors)"
        )
    by_stage: dict[str, int] = {}
    for o in opps:
        by_stage[o.stage] = by_stage.get(o.stage, 0) + 1
    stages = ", ".join(f"{n} {k}" for k, n in sorted(by_stage.items()))
    _say(f"  opportunities stored: {len(opps)} ({stages}) in {db_url}")
    a = summary["alerts"]
    _say(
        f"  matching: {a['opportunities']} open opportunities x {a['profiles']} profiles "
        f"-> {a['matches']} matches, {a['alerts_created']} new alerts"
    )
    sent = summary["sent"]
    _say(f"  alerts sent: {sent['sent']} (failed {sent['failed']})")
    _say(f"  emails received by the local SMTP server: {len(smtp.received)}")
    for r in smtp.received:
        _say(f"    to {', '.join(r.rcpt_tos)}: {r.message['Subject']}  [{r.path}]")
    ok = "valid" if not feed.bozo else f"INVALID ({feed.bozo_exception})"
    _say(f"  RSS 2.0 feed: {feed_path} ({len(feed.entries)} items, {ok})")
