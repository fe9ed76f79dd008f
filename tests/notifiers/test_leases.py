"""Leases: senders claiming at the same time never get the same row, on SQLite and on
PostgreSQL; a claim whose lease ran out (its sender died) is due again."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlmodel import Session, select

from models.store.tables import Alert, Opportunity, Organisation, Profile
from notifiers.outbox import claim_alerts

NOW = datetime(2026, 10, 6, 17, 0, tzinfo=UTC)
N = 600


def _outbox(engine) -> None:
    with Session(engine) as s:
        org = Organisation(name="Lease Test", email="lease@example.org")
        opp = Opportunity(ocid="ocds-lease-1", title="Lease test")
        s.add(org)
        s.add(opp)
        s.flush()
        profile = Profile(organisation_id=org.id or 0)
        s.add(profile)
        s.flush()
        s.execute(
            insert(Alert),
            [
                {
                    "organisation_id": org.id,
                    "profile_id": profile.id,
                    "opportunity_id": opp.id,
                    "kind": f"test:{i}",
                    "channel": "email",
                    "status": "pending",
                    "route": "instant",
                    "reasons": [],
                    "score": 0,
                    "attempts": 0,
                }
                for i in range(N)
            ],
        )
        s.commit()


def _race(engine, senders: int, now: datetime) -> list[list[int]]:
    got: list[list[int]] = [[] for _ in range(senders)]
    start = threading.Barrier(senders)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            start.wait()
            while ids := claim_alerts(engine, f"sender-{i}", now, 60, 25):
                got[i].extend(ids)
                time.sleep(0.005)  # sending them: the others get their turn
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return got


def test_two_senders_never_claim_the_same_row(engine) -> None:
    _outbox(engine)
    got = _race(engine, 4, NOW)
    claimed = [i for ids in got for i in ids]
    assert len(claimed) == len(set(claimed)) == N  # every row once, none twice
    assert sum(1 for ids in got if ids) >= 2  # they really raced
    with Session(engine) as s:
        rows = s.exec(select(Alert)).all()
    owner = {i: f"sender-{k}" for k, ids in enumerate(got) for i in ids}
    assert all(a.status == "sending" and a.lease_owner == owner[a.id] for a in rows)
    # nothing is due while the leases run: a fresh sender finds nothing
    assert claim_alerts(engine, "late", NOW + timedelta(seconds=59), 60, 1000) == []
    # the senders died: once the leases run out the rows are due again, once each
    again = _race(engine, 3, NOW + timedelta(seconds=61))
    reclaimed = [i for ids in again for i in ids]
    assert sorted(reclaimed) == sorted(claimed)
