"""The sender killed (SIGKILL) at random points mid-batch and restarted, 20 times, against
a real SMTP server on 127.0.0.1: afterwards every alert was received at least once, none is
lost, and an alert received twice carries the same Message-ID both times (counted against
the outbox; the counts are printed)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlmodel import Session, select

from models.store.db import make_engine, migrate
from models.store.tables import Alert, Opportunity, Organisation, Profile
from tests.notifiers.conftest import FaultySink, store_captures

ROOT = Path(__file__).resolve().parents[2]
ALERTS = 500
KILLS = 20
SENDER = (
    "from bidbell.clock import utcnow\n"
    "from bidbell.settings import get_settings\n"
    "from models.store.db import get_engine\n"
    "from notifiers.outbox import deliver\n"
    "r = deliver(get_engine(), get_settings(), utcnow())\n"
    "print('done', r.sent, r.failed)\n"
)


class SlowSink(FaultySink):
    """Takes a little time over each message, so that a kill lands mid-batch."""

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        await asyncio.sleep(0.02)
        return await super().handle_DATA(server, session, envelope)


def _outbox(url: str, fts_files: list[Path]) -> None:
    engine = make_engine(url)
    store_captures(engine, fts_files)
    with Session(engine) as s:
        opp = s.exec(select(Opportunity).where(Opportunity.stage == "tender")).first()
        assert opp is not None
        s.execute(
            insert(Organisation),
            [
                {"name": f"Org {i}", "email": f"org{i}@example.org", "areas": []}
                for i in range(ALERTS)
            ],
        )
        orgs = s.exec(select(Organisation).order_by(Organisation.id)).all()
        s.execute(
            insert(Profile),
            [{"organisation_id": o.id, "criteria": {}, "channels": ["email"]} for o in orgs],
        )
        profiles = s.exec(select(Profile).order_by(Profile.id)).all()
        s.execute(
            insert(Alert),
            [
                {
                    "organisation_id": p.organisation_id,
                    "profile_id": p.id,
                    "opportunity_id": opp.id,
                    "kind": "new",
                    "channel": "email",
                    "status": "pending",
                    "reasons": ["CPV 85311000 is within your code 85"],
                    "score": 50,
                    "attempts": 0,
                }
                for p in profiles
            ],
        )
        s.commit()
    engine.dispose()


@pytest.mark.slow
def test_sigkill_mid_batch_twenty_times_loses_nothing(tmp_path: Path, fts_files) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    migrate(url)
    _outbox(url, fts_files)
    rng = random.Random(20261202)
    with SlowSink(tmp_path / "mail") as sink:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BIDBELL_")}
        env.update(
            BIDBELL_DATABASE_URL=url,
            BIDBELL_VAR_DIR=str(tmp_path / "var"),
            BIDBELL_EMAIL_URL=sink.url,
            BIDBELL_SECRET_KEY="crash-test",
            BIDBELL_SEND_LEASE_S="1",  # a dead sender's claims are due again after 1 s
            BIDBELL_SEND_BATCH="25",
            BIDBELL_SEND_CONNECTIONS="2",
        )
        kills = 0
        for _ in range(KILLS):
            if len(sink.received) >= ALERTS:
                break
            before = len(sink.received)
            proc = subprocess.Popen(
                [sys.executable, "-c", SENDER], cwd=ROOT, env=env,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            deadline = time.monotonic() + 60
            while len(sink.received) == before and time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.3))  # somewhere in the middle of a batch
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
            time.sleep(rng.uniform(0.0, 1.2))  # restarted before or after the leases ran out
        time.sleep(1.1)
        final = subprocess.run(
            [sys.executable, "-c", SENDER], cwd=ROOT, env=env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        assert final.returncode == 0, final.stderr
        received = list(sink.received)
    engine = make_engine(url)
    with Session(engine) as s:
        alerts = {a.id: a for a in s.exec(select(Alert))}
    engine.dispose()
    ids: dict[int, set[str]] = defaultdict(set)
    copies: dict[int, int] = defaultdict(int)
    for r in received:
        m = r.message
        alert_id = int(m["X-Bidbell-Alert"])
        ids[alert_id].add(m["Message-ID"])
        copies[alert_id] += 1
    lost = [i for i in alerts if i not in copies]
    twice = [i for i, n in copies.items() if n > 1]
    print(
        f"\ncrash test: {len(alerts)} alerts, {kills} SIGKILLs mid-batch, "
        f"{len(received)} messages received, {len(copies)} alerts received, "
        f"{len(twice)} received more than once (same Message-ID each time), {len(lost)} lost"
    )
    assert kills == KILLS
    assert not lost
    assert all(a.status == "sent" for a in alerts.values())
    assert all(len(v) == 1 for v in ids.values())  # a duplicate is the same message
    assert all(next(iter(ids[i])) == alerts[i].message_id for i in ids)
    assert set(copies) == set(alerts)
