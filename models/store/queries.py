"""Read side: listing opportunities, and their public JSON shape."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from models.classify.bands import value_words
from models.store.db import get_engine, session_scope
from models.store.listings import count_listings, listings_of
from models.store.tables import Opportunity


def list_opportunities(limit: int = 1000) -> list[Opportunity]:
    """Newest first, one per real procurement: other listings of one are left out (they
    are in ``listings_for``)."""
    with session_scope(get_engine()) as s:
        return list(
            s.exec(
                select(Opportunity)
                .where(col(Opportunity.canonical_id).is_(None))
                .order_by(col(Opportunity.published_at).desc(), col(Opportunity.id))
                .limit(limit)
            ).all()
        )


def count_listings_stored() -> tuple[int, int]:
    """(opportunities stored, of which other listings of one procurement)."""
    with session_scope(get_engine()) as s:
        return count_listings(s)


def listings_for(opps: list[Opportunity]) -> dict[int, list[dict[str, Any]]]:
    """The other listings (ocid, sources, url, reasons) of these canonical opportunities."""
    with session_scope(get_engine()) as s:
        return listings_of(s, [o.id for o in opps if o.id is not None])


def opportunity_json(
    o: Opportunity, listings: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The stable JSON shape (deadline as ISO 8601 with the UK offset). ``listings``: the
    same procurement as published elsewhere (this one's own listing first).

    ``value``: the estimate (without VAT when the source gave both; the top of a range);
    ``value_min``: the lowest estimate, when a range or only a minimum was published;
    ``value_max``: the top of a published range (null for a single figure or a minimum
    alone); ``value_text``: the value as an alert says it ("from £40,676")."""
    from bidbell.clock import to_uk

    def iso(dt: Any) -> str | None:
        return to_uk(dt).isoformat() if dt is not None else None

    value = o.value_amount if o.value_amount is not None else o.value_amount_gross
    return {
        "ocid": o.ocid,
        "title": o.title,
        "buyer": o.buyer_name,
        "buyer_id": o.buyer_id,
        "value": value,
        "value_gross": o.value_amount_gross,
        "value_min": o.value_min,
        "value_max": value if o.value_min is not None and value is not None else None,
        "value_text": value_words(
            o.value_amount, o.value_currency, gross=o.value_amount_gross, minimum=o.value_min
        ),
        "currency": o.value_currency,
        "deadline": iso(o.deadline),
        "published": iso(o.published_at),
        "cpv_codes": o.cpv_codes,
        "regions": o.regions,
        "stage": o.stage,
        "notice_type": o.notice_type,
        "value_band": o.value_band,
        "lot_band": o.lot_band,
        "band_basis": o.band_basis,
        "sectors": o.sectors,
        "sector_basis": o.sector_basis,
        "areas": o.areas,
        "work_in_kent": o.work_in_kent,
        "buyer_in_kent": o.buyer_in_kent,
        "buyer_area": o.buyer_area,
        "sme_suitable": o.sme_suitable,
        "vcse_suitable": o.vcse_suitable,
        "is_subcontract": o.is_subcontract,
        "parent_reference": o.parent_reference,
        "fit_score": o.fit_score,
        "fit_reasons": o.fit_reasons,
        "sources": sorted({*o.sources, *(x for li in listings or [] for x in li["sources"])}),
        "url": o.url,
        "listings": [{"ocid": o.ocid, "sources": o.sources, "url": o.url}]
        + [{k: li[k] for k in ("ocid", "sources", "url")} for li in listings or []],
        "version": o.version,
    }
