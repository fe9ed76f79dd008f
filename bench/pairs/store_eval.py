"""The labelled pairs through the real store: does ``store_records`` link them?

``models.dedupe.same_procurement`` decides a pair given both records; in the store, the
second record must first be *found*, through the blocking keys kept in SQL
(``models.store.listings``). Each pair is stored as two OCDS releases from two sources in one
transaction, the link read back, and the transaction rolled back.

A pair is "merged" when both records end in one procurement: the same opportunity row (same
OCID) or one row pointing at the other (``canonical_id``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session

from bench.pairs.recipe import LabelledPair
from models.formats.fields import NoticeFields
from models.formats.text import parse_money
from models.store.store import store_records
from models.store.tables import Opportunity


def _money(value: Any) -> float | None:
    if value is None or isinstance(value, int | float):
        return value
    amount, _low, _cur = parse_money(str(value))
    return amount


def _iso(when: Any) -> str | None:
    if when is None:
        return None
    return when.isoformat() if isinstance(when, datetime) else str(when)


def as_release(f: NoticeFields) -> dict[str, Any]:
    """A NoticeFields as the OCDS release a source would publish (read back by
    ``models.normalise.normalise_release``)."""
    value = {
        k: v
        for k, v in {
            "amount": _money(f.value_amount),
            "amountGross": _money(f.value_amount_gross),
            "currency": f.value_currency or "GBP",
        }.items()
        if v is not None
    }
    tender: dict[str, Any] = {
        "id": f.source_id,
        "title": f.title,
        "description": f.description,
        "value": value,
        "tenderPeriod": {"endDate": _iso(f.deadline)},
        "items": [{"id": str(i), "classification": {"scheme": "CPV", "id": c}}
                  for i, c in enumerate(f.cpv_codes, 1)],
    }  # fmt: skip
    if _money(f.value_min) is not None:
        tender["minValue"] = {"amount": _money(f.value_min)}
    return {
        "ocid": f.ocid,
        "id": f.source_id,
        "date": _iso(f.published_at),
        "tag": ["tender"],
        "buyer": {"name": f.buyer_name, "id": f.buyer_id},
        "tender": tender,
    }


def as_record(f: NoticeFields, source: str) -> dict[str, Any]:
    return {
        "source": source,
        "source_id": f.source_id,
        "url": f.url,
        "format": "ocds-release",
        "payload": as_release(f),
    }


def merged_in_store(session: Session, a: NoticeFields, b: NoticeFields, now: datetime) -> bool:
    """Store a (source pairs_a) then b (pairs_b); are they one procurement afterwards?"""
    store_records(session, [as_record(a, "pairs_a")], now)
    store_records(session, [as_record(b, "pairs_b")], now)
    rows = session.execute(
        select(Opportunity.id, Opportunity.ocid, Opportunity.canonical_id).where(  # type: ignore[call-overload]
            Opportunity.ocid.in_([a.ocid, b.ocid])  # type: ignore[attr-defined]
        )
    ).all()
    roots = {cid if cid is not None else oid for oid, _ocid, cid in rows}
    return len(roots) == 1


def store_pair_decisions(pairs: Sequence[LabelledPair], engine: Engine) -> list[bool]:
    """For each pair, in its own rolled-back transaction: merged by the store?"""
    now = datetime(2026, 11, 22, tzinfo=UTC)
    out: list[bool] = []
    for p in pairs:
        with Session(engine) as session:
            try:
                out.append(merged_in_store(session, p.a, p.b, now))
            finally:
                session.rollback()
    return out
