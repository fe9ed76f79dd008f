"""Award notices of one framework are different contracts when their suppliers and buyer
references differ, although title, buyer, value and dates agree (issue 9's known false
merge).

The first notice is real: Defra's "Noise Modelling Service - Call-Off" award notice in the
Contracts Finder capture (SOURCES.md). Its siblings are DERIVED from it, the way a
framework's next call-off award reads on Contracts Finder: another OCID and release id,
another buyer reference (``tender.id``) and another supplier, everything else unchanged;
a plain re-publication (another OCID only) is derived the same way. No real capture holds
such a group.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from sqlmodel import Session

from bidbell.settings import get_settings
from models.dedupe import cluster, same_procurement
from models.formats import normalise
from models.formats.fields import NoticeFields

CF = "contracts-finder/cf_ocds_search_2022-10-22_publishedTo_limit100.json"
DEFRA = "ocds-b5fd17-8285423e-94ba-40a7-aaba-e26cb1a5c8ff"


def _real_award() -> dict[str, Any]:
    path = get_settings().fixtures_dir / CF
    releases = json.loads(path.read_text(encoding="utf-8"))["releases"]
    return next(r for r in releases if r["ocid"] == DEFRA)


def _sibling(
    release: dict[str, Any], n: int, supplier: str | None, reference: str | None
) -> dict[str, Any]:
    """DERIVED: the same release under another OCID; another supplier / reference if given."""
    r = copy.deepcopy(release)
    r["ocid"] = f"{DEFRA[:-4]}{n:04d}"
    r["id"] = f"{r['id']}-{n}"
    if reference is not None:
        r["tender"]["id"] = reference
    if supplier is not None:
        sid = f"GB-CFS-9{n:05d}"
        r["awards"][0]["suppliers"] = [{"id": sid, "name": supplier}]
        r["parties"] = [p for p in r["parties"] if "supplier" not in p.get("roles", [])]
        r["parties"].append({"id": sid, "name": supplier, "roles": ["supplier"]})
    return r


def _read(release: dict[str, Any]) -> NoticeFields:
    return normalise("ocds-release", "contracts_finder", release)


def test_the_reader_keeps_the_buyer_reference_and_the_suppliers() -> None:
    n = _read(_real_award())
    assert n.tender_reference == "tender_317298/1116759"
    assert n.suppliers == ["Noise Consultants Ltd"]


def test_awards_to_other_suppliers_under_other_references_stay_apart() -> None:
    real = _real_award()
    a = _read(real)
    b = _read(_sibling(real, 1, "Acoustic Associates Limited", "tender_317298/1116801"))
    c = _read(_sibling(real, 2, "WSP UK Ltd", "tender_317298/1116802"))
    assert (a.title, a.buyer_name, a.value_amount, a.published_at) == (
        b.title, b.buyer_name, b.value_amount, b.published_at,
    )  # fmt: skip
    verdict = same_procurement(a, b)
    assert not verdict.same
    assert any("different suppliers" in r for r in verdict.reasons)
    assert any("different buyer references" in r for r in verdict.reasons)
    assert sorted(len(g) for g in cluster([a, b, c])) == [1, 1, 1]
    # Without what tells them apart, the matcher would merge them (the false merge).
    for n in (a, b):
        n.suppliers, n.tender_reference = [], None
    assert same_procurement(a, b).same


def test_a_republication_naming_the_same_supplier_still_merges() -> None:
    real = _real_award()
    a = _read(real)
    again = _read(_sibling(real, 3, "NOISE CONSULTANTS LIMITED", None))
    verdict = same_procurement(a, again)
    assert verdict.same, verdict.reasons
    assert any("same buyer reference" in r for r in verdict.reasons)


@pytest.mark.usefixtures("engine")
def test_the_store_keeps_them_apart_once_its_rows_carry_suppliers(engine: Any) -> None:
    """Through the store's linking (models.store.listings, blocking keys in SQL): rows that
    carry their notices' suppliers and reference are not linked, and what they carry is
    read back from the store when a later batch compares against them."""
    from models.store import listings
    from models.store.listings import link_listings
    from models.store.merge import merge_notices
    from models.store.store import store_records
    from models.store.tables import Opportunity

    real = _real_award()
    releases = [real, _sibling(real, 1, "Acoustic Associates Limited", "tender_317298/1116801")]
    records = [
        {
            "source": "contracts_finder",
            "source_id": r["id"],
            "url": "",
            "format": "ocds-release",
            "payload": r,
        }
        for r in releases
    ]
    with Session(engine) as s:
        store_records(s, records)
        s.commit()
        # the store passes each opportunity's suppliers and reference on: never linked
        stored = s.exec(Opportunity.__table__.select()).all()  # type: ignore[attr-defined]
        assert len(stored) == 2 and all(row.canonical_id is None for row in stored)
        rows = []
        for r in releases:
            n = _read(r)
            opp = s.exec(Opportunity.__table__.select().where(Opportunity.ocid == n.ocid)).one()  # type: ignore[attr-defined]
            rows.append(
                {
                    **merge_notices([n]),
                    "id": opp.id,
                    "content_hash": opp.content_hash,
                    "references": [n.source_id],
                    "tender_reference": n.tender_reference,
                    "suppliers": n.suppliers,
                }
            )
        # Both rows at once, as the linking sees them.
        assert link_listings(s, rows).linked == 0
        # Then each alone against the other as stored: what it carries is read back from
        # the store (the feature cache emptied, so the stored row is read afresh).
        for one in (rows[:1], rows[1:]):
            listings._features.clear()
            assert link_listings(s, one).linked == 0
        s.commit()
        linked = s.exec(
            Opportunity.__table__.select().where(Opportunity.canonical_id.is_not(None))  # type: ignore[attr-defined,union-attr]
        ).all()
        assert linked == []
