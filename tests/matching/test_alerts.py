"""Incremental matching against the store (SQLite and PostgreSQL): new or changed
opportunities -> "new" alerts; new or changed profiles -> "welcome" alerts; nothing twice."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, delete, select

from matching import alerts, join, match
from matching.alerts import create_alerts
from models.store.checkpoint import get_state
from models.store.store import store_records
from models.store.tables import Alert, Opportunity, Profile
from models.subscribers.manage import add_subscriber
from spiders.files import read_file

NOW = datetime(2026, 10, 6, 18, 0, tzinfo=UTC)
ALDBANKS_OCID = "ocds-h6vhtk-078219"


def fts_records(fts_files):
    return [
        r.model_dump() for f in fts_files for r in read_file("find_a_tender", "find_a_tender", f)
    ]


def run(engine, now=NOW):
    with Session(engine) as s:
        r = create_alerts(s, now)
        s.commit()
    return r


def alert_rows(engine):
    with Session(engine) as s:
        return [
            (a.organisation_id, o.ocid, a.kind, a.channel)
            for a, o in s.exec(
                select(Alert, Opportunity).join(
                    Opportunity, col(Opportunity.id) == Alert.opportunity_id
                )
            )
        ]


def test_new_then_welcome_then_changed(engine, fts_files) -> None:
    with Session(engine) as s:
        store_records(s, fts_records(fts_files), now=NOW)
        s.commit()
    beds, _, _ = add_subscriber(
        name="Beds Care", email="bids@beds.example.org", kind="vcse",
        cpv_prefixes=["85"], regions=["UKH2"], engine=engine,
    )  # fmt: skip
    r = run(engine)
    assert (r.profiles, r.opportunities, r.matches, r.alerts_created) == (1, 1, 1, 1)
    assert r.award_notices == 3  # the captured award notices, matched too (no one asks)
    assert alert_rows(engine) == [(beds.id, ALDBANKS_OCID, "new", "email")]
    with Session(engine) as s:
        a = s.exec(select(Alert)).one()
        assert 0 < a.score <= 100 and "CPV 85311000 is within your code 85" in a.reasons
    # nothing new: nothing matched, nothing added
    r = run(engine)
    assert (r.opportunities, r.matches, r.alerts_created, r.welcome_profiles) == (0, 0, 0, 0)
    # a new profile is matched against the open opportunities: a welcome, not a "new"
    kent, prof, _ = add_subscriber(
        name="Care Two", email="two@care.example.org", cpv_prefixes=["853"],
        channels=["email", "feed"], engine=engine,
    )  # fmt: skip
    cached = alerts._INDEXES[alerts._db_key(Session(engine))][0]
    r = run(engine)
    assert (r.welcome_profiles, r.welcome_matches, r.welcome_alerts) == (1, 1, 2)
    assert (r.matches, r.alerts_created) == (0, 0)
    assert alerts._INDEXES[alerts._db_key(Session(engine))][0] is cached  # updated, not rebuilt
    assert r.profiles == 2
    assert sorted(x for x in alert_rows(engine) if x[0] == kent.id) == [
        (kent.id, ALDBANKS_OCID, "welcome", "email"),
        (kent.id, ALDBANKS_OCID, "welcome", "feed"),
    ]
    with Session(engine) as s:
        p = s.get(Profile, prof.id)
        assert p is not None and p.matched_version == p.version == 1
    # the same profile again: no change, no version, nothing to welcome
    add_subscriber(name="Care Two", email="two@care.example.org", cpv_prefixes=["853"],
                   channels=["email", "feed"], engine=engine)  # fmt: skip
    assert run(engine).welcome_profiles == 0
    # a changed profile is welcomed again, but not with what it was already told
    add_subscriber(name="Care Two", email="two@care.example.org", cpv_prefixes=["853", "72"],
                   channels=["email", "feed"], engine=engine)  # fmt: skip
    r = run(engine)
    assert (r.welcome_profiles, r.welcome_matches, r.welcome_alerts) == (1, 0, 0)
    # the opportunity changes: every matching organisation hears of it as "new" once
    records = fts_records(fts_files)
    for rec in records:
        if rec["payload"]["ocid"] == ALDBANKS_OCID:
            rec["payload"] = copy.deepcopy(rec["payload"])
            rec["payload"]["tender"]["title"] += " (amended)"
    with Session(engine) as s:
        store_records(s, records, now=NOW + timedelta(hours=1))
        s.commit()
    r = run(engine, NOW + timedelta(hours=1))
    assert (r.opportunities, r.matches) == (1, 2)
    assert r.alerts_created == 2  # Care Two's email and feed ("new"); Beds Care had one
    assert sorted(k for o, _, k, _ in alert_rows(engine) if o == kent.id) == [
        "new", "new", "welcome", "welcome",
    ]  # fmt: skip
    assert run(engine, NOW + timedelta(hours=1)).alerts_created == 0


def test_removed_profile_leaves_the_index(engine, fts_files) -> None:
    from models.subscribers.manage import remove_subscriber

    with Session(engine) as s:
        store_records(s, fts_records(fts_files), now=NOW)
        s.commit()
    add_subscriber(name="A", email="a@a.example.org", cpv_prefixes=["85"], engine=engine)
    add_subscriber(name="B", email="b@b.example.org", cpv_prefixes=["85"], engine=engine)
    assert run(engine).alerts_created == 2
    remove_subscriber("a@a.example.org", engine=engine)
    r = run(engine)
    assert r.profiles == 1  # the deleted profile is gone from the kept index
    assert [o for o, *_ in alert_rows(engine)] != [] and len(alert_rows(engine)) == 1


def test_a_matcher_over_profile_parts_gives_the_same_alerts(engine, fts_files) -> None:
    """``create_alerts(matcher=...)``: each profile part matched on its own (pickled, as a
    worker gets it) and joined; the alerts are those of the plain run."""
    calls: list[int] = []

    def by_parts(facts, index, now):
        parts = [pickle.loads(pickle.dumps(p)) for p in index.split(3)]
        calls.append(len(parts))
        return join(match(facts, p, now) for p in parts)

    with Session(engine) as s:
        store_records(s, fts_records(fts_files), now=NOW)
        s.commit()
    for i, prefixes in enumerate([["85"], ["853"], ["45"], ["72", "85"]]):
        add_subscriber(
            name=f"Org {i}", email=f"o{i}@o.example.org", cpv_prefixes=prefixes, engine=engine
        )
    with Session(engine) as s:
        r = create_alerts(s, NOW, matcher=by_parts)
        s.commit()
    assert calls and r.alerts_created > 0
    by_parts_rows = alert_rows(engine)
    with Session(engine) as s:  # the same run without parts, from scratch
        s.exec(delete(Alert))
        for p in s.exec(select(Profile)):
            p.matched_version = None
            s.add(p)
        state = get_state(s, alerts.MATCH_STATE)
        state.state = {}
        s.add(state)
        s.commit()
        alerts._INDEXES.clear()
        create_alerts(s, NOW)
        s.commit()
    assert alert_rows(engine) == by_parts_rows
