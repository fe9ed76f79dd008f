"""Read side: listing opportunities, and their public JSON shape."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from models.db import get_engine, session_scope
from models.tables import Opportunity


def list_opportunities(limit: int = 1000) -> list[Opportunity]:
    with session_scope(get_engine()) as s:
        return list(
            s.exec(
                select(Opportunity)
                .order_by(col(Opportunity.published_at).desc(), col(Opportunity.id))
                .limit(limit)
            ).all()
        )


def opportunity_json(o: Opportunity) -> dict[str, Any]:
    """The stable JSON shape (deadline as ISO 8601 with the UK offset)."""
    from bidbell.clock import to_uk

    def iso(dt: Any) -> str | None:
        return to_uk(dt).isoformat() if dt is not None else None

    return {
        "ocid": o.ocid,
        "title": o.title,
        "buyer": o.buyer_name,
        "buyer_id": o.buyer_id,
        "value": o.value_amount if o.value_amount is not None else o.value_amount_gross,
        "value_gross": o.value_amount_gross,
        "currency": o.value_currency,
        "deadline": iso(o.deadline),
        "published": iso(o.published_at),
        "cpv_codes": o.cpv_codes,
        "regions": o.regions,
        "stage": o.stage,
        "notice_type": o.notice_type,
        "value_band": o.value_band,
        "lot_band": o.lot_band,
        "sectors": o.sectors,
        "areas": o.areas,
        "work_in_kent": o.work_in_kent,
        "buyer_in_kent": o.buyer_in_kent,
        "sme_suitable": o.sme_suitable,
        "vcse_suitable": o.vcse_suitable,
        "is_subcontract": o.is_subcontract,
        "parent_reference": o.parent_reference,
        "fit_score": o.fit_score,
        "fit_reasons": o.fit_reasons,
        "sources": o.sources,
        "url": o.url,
        "version": o.version,
    }
