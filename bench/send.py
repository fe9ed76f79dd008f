"""bench-send: render and hand 10,000 personalised emails to a local SMTP server.

What is timed: one outbox run (notifiers.outbox.deliver) over 10,000 pending alerts of
10,000 organisations on SQLite: claims under a lease, each message rendered (text and HTML
from the sandboxed templates, with its own signed unsubscribe, preferences and remind-me
links and a stable Message-ID), handed to the SMTP server over the pooled connections, and
every outcome recorded. The opportunities are the real captures as stored (Find a Tender,
Contracts Finder). The SMTP server is aiosmtpd in a process of its own on 127.0.0.1 (it
counts what it receives; the count is checked).

Baseline: apprise's ``mailto://`` path, one connection per message (what the outbox used
before), on a sample of 200 of the same messages, scaled to 10,000; printed as a ratio.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

N = 10_000
SAMPLE = 200


def _smtp_server(port: int, count: Any, ready: Any) -> None:
    import asyncio

    from aiosmtpd.controller import Controller

    class Counter:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with count.get_lock():
                count.value += 1
            return "250 OK"

    controller = Controller(Counter(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        asyncio.run(asyncio.sleep(10**6))
    finally:
        controller.stop()


def _seed(url: str) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import insert
    from sqlmodel import Session, select

    from bidbell.settings import get_settings
    from models.store.db import make_engine, migrate
    from models.store.store import store_records
    from models.store.tables import Alert, Opportunity, Organisation, Profile
    from spiders.files import read_file

    migrate(url)
    engine = make_engine(url)
    fixtures = get_settings().fixtures_dir
    now = datetime(2026, 10, 6, 17, 0, tzinfo=UTC)
    with Session(engine) as s:
        recs = [
            r.model_dump()
            for f in sorted(fixtures.glob("find-a-tender/*.json"))
            for r in read_file("find_a_tender", "find_a_tender", f)
        ]
        recs += [
            r.model_dump()
            for f in sorted(fixtures.glob("contracts-finder/cf_ocds_search_2022*.json"))
            for r in read_file("contracts_finder", "contracts_finder", f)
        ]
        store_records(s, recs, now=now)
        s.commit()
        opps = s.exec(select(Opportunity.id)).all()
        s.execute(
            insert(Organisation),
            [
                {"name": f"Firm {i} Ltd", "email": f"bids{i}@firm{i}.example.org", "areas": []}
                for i in range(N)
            ],
        )
        orgs = s.exec(select(Organisation.id).order_by(Organisation.id)).all()
        s.execute(
            insert(Profile),
            [{"organisation_id": o, "criteria": {}, "channels": ["email"]} for o in orgs],
        )
        profiles = s.exec(select(Profile.id, Profile.organisation_id).order_by(Profile.id)).all()
        s.execute(
            insert(Alert),
            [
                {
                    "organisation_id": org,
                    "profile_id": pid,
                    "opportunity_id": opps[i % len(opps)],
                    "kind": "new",
                    "channel": "email",
                    "status": "pending",
                    "reasons": [
                        "CPV 85311000 is within your code 85",
                        "work in UKJ44, your area",
                        f"{10 + i % 20} days left to respond",
                    ],
                    "score": 50,
                    "attempts": 0,
                    "created_at": now,
                }
                for i, (pid, org) in enumerate(profiles)
            ],
        )
        s.commit()
    engine.dispose()


def _baseline(url: str, smtp_url: str) -> float:
    """Seconds for SAMPLE messages through apprise's mailto:// (a connection each)."""
    from datetime import UTC, datetime

    from sqlmodel import Session, select

    from bidbell.settings import get_settings
    from models.store.db import make_engine
    from models.store.tables import Alert, Opportunity, Organisation
    from notifiers.dispatch import email_target, notify
    from notifiers.outbox import Outgoing, Sender

    engine = make_engine(url)
    sender = Sender(engine, get_settings(), datetime(2026, 10, 6, 17, 0, tzinfo=UTC))
    with Session(engine) as s:
        rows = s.exec(
            select(Alert, Organisation, Opportunity)
            .join(Organisation, Organisation.id == Alert.organisation_id)  # type: ignore[arg-type]
            .join(Opportunity, Opportunity.id == Alert.opportunity_id)  # type: ignore[arg-type]
            .limit(SAMPLE)
        ).all()
    start = time.perf_counter()
    ok = 0
    for a, org, opp in rows:
        o = Outgoing(a, org, opp, None, org.email, org.email)
        data, _ = sender.alert_email(o)
        from email import message_from_bytes, policy

        msg = message_from_bytes(data, policy=policy.default)
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        target = email_target(smtp_url, org.email, {"List-Unsubscribe": msg["List-Unsubscribe"]})
        ok += notify(target, str(msg["Subject"]), html, "html").ok
    elapsed = time.perf_counter() - start
    engine.dispose()
    if ok != len(rows):
        raise SystemExit(f"baseline: only {ok} of {len(rows)} sent")
    return elapsed


def main() -> None:
    from demo.mailsink import free_port

    tmp = Path(tempfile.mkdtemp(prefix="bidbell-bench-send-"))
    url = f"sqlite:///{tmp / 'send.db'}"
    os.environ.update(
        BIDBELL_VAR_DIR=str(tmp / "var"),
        BIDBELL_DATABASE_URL=url,
        BIDBELL_SECRET_KEY="bench-send",
        BIDBELL_PUBLIC_URL="https://bidbell.example.org",
    )
    port = free_port()
    smtp_url = f"mailto://127.0.0.1:{port}?from=alerts@bidbell.example.org&name=Bidbell"
    os.environ["BIDBELL_EMAIL_URL"] = smtp_url
    ctx = mp.get_context("spawn")
    count, ready = ctx.Value("i", 0), ctx.Event()
    server = ctx.Process(target=_smtp_server, args=(port, count, ready), daemon=True)
    server.start()
    ready.wait(30)
    try:
        print(f"seeding {N:,} organisations and pending alerts on SQLite ...", flush=True)
        _seed(url)
        from bidbell.clock import utcnow
        from bidbell.settings import get_settings, reset_settings
        from models.store.db import make_engine

        reset_settings()
        settings = get_settings()
        engine = make_engine(url)
        cpu0, t0 = time.process_time(), time.perf_counter()
        from notifiers.outbox import deliver

        report = deliver(engine, settings, utcnow())
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        engine.dispose()
        time.sleep(0.5)
        if report.sent != N or count.value != N:
            raise SystemExit(f"sent {report.sent}, server received {count.value}; expected {N}")
        before = count.value
        sample = _baseline(url, smtp_url)
        if count.value - before != SAMPLE:
            raise SystemExit("baseline: the server did not receive the sample")
        baseline = sample * N / SAMPLE
        print(
            f"  {N:,} messages in {elapsed:.1f} s ({N / elapsed:,.0f}/s; {cpu:.1f} s CPU in this "
            f"process) over {settings.send_connections} pooled connections; apprise's "
            f"mailto:// one connection per message: {SAMPLE / sample:,.0f}/s on {SAMPLE}, "
            f"scaled; ratio {baseline / elapsed:.1f}x; load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from bench.common import line

        line("send_10k_emails", elapsed, "s", baseline, "30 s")
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
