"""Re-importing a changed version of a real notice records exactly the right events."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from sqlmodel import Session, select

from models.store.events import diff_events
from models.store.store import store_records
from models.store.tables import Opportunity, OpportunityEvent
from spiders.files import read_file

NOW = datetime(2026, 10, 6, 18, 0, tzinfo=UTC)
ALDBANKS = "ocds-h6vhtk-078219"


def _records(fts_files) -> list[dict]:
    return [
        r.model_dump() for f in fts_files for r in read_file("find_a_tender", "find_a_tender", f)
    ]


def _events(s: Session) -> list[tuple[str, int, dict]]:
    opp = s.exec(select(Opportunity).where(Opportunity.ocid == ALDBANKS)).one()
    rows = s.exec(
        select(OpportunityEvent)
        .where(OpportunityEvent.opportunity_id == opp.id)
        .order_by(OpportunityEvent.id)
    ).all()
    return [(e.kind, e.version, e.changes) for e in rows]


def test_change_events(engine, fts_files) -> None:
    recs = _records(fts_files)
    aldbanks = next(r for r in recs if r["source_id"] == "094476-2026")
    with Session(engine) as s:
        r = store_records(s, recs, now=NOW)
        s.commit()
        assert r.events == 5  # one "new" per opportunity
        assert _events(s) == [("new", 1, {})]

    # the buyer moves the deadline a week and raises the value: same notice id, new content
    v2 = copy.deepcopy(aldbanks)
    v2["payload"]["tender"]["tenderPeriod"]["endDate"] = "2026-11-12T12:00:00+00:00"
    v2["payload"]["tender"]["value"] = {"amountGross": 3600000, "amount": 3000000,
                                        "currency": "GBP"}  # fmt: skip
    with Session(engine) as s:
        store_records(s, [v2], now=NOW)
        s.commit()
        events = _events(s)[1:]
    assert [(k, v) for k, v, _ in events] == [("deadline_changed", 2), ("value_changed", 2)]
    assert events[0][2] == {"deadline": ["2026-11-05T12:00:00+00:00", "2026-11-12T12:00:00+00:00"]}
    assert events[1][2]["value_amount"] == [2772000.0, 3000000]

    # importing the same version again records nothing
    with Session(engine) as s:
        assert store_records(s, [v2], now=NOW).events == 0
        s.commit()

    # a cancellation notice (tag tenderCancellation) for the same procurement
    cancel = copy.deepcopy(v2)
    cancel["source_id"] = cancel["payload"]["id"] = "094999-2026"
    cancel["payload"]["date"] = "2026-10-20T09:00:00+01:00"
    cancel["payload"]["tag"] = ["tenderCancellation"]
    cancel["payload"]["tender"]["status"] = "cancelled"
    with Session(engine) as s:
        store_records(s, [cancel], now=NOW)
        s.commit()
        kinds = [k for k, _, _ in _events(s)]
    assert kinds[-1] == "cancelled"


def test_award_and_amendment_diff() -> None:
    before = {"stage": "tender", "title": "Grounds maintenance", "deadline": None}
    after = {"stage": "award", "title": "Grounds maintenance (Lot 2)", "deadline": None}
    assert diff_events(before, after) == [
        ("awarded", {"stage": ["tender", "award"]}),
        ("amended", {"title": ["Grounds maintenance", "Grounds maintenance (Lot 2)"]}),
    ]
    assert diff_events(after, after) == []
