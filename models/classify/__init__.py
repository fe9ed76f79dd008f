"""Pure classification of an opportunity: size band, sector, area, and fit for small bidders.

Everything here is plain functions over values; no I/O. Reasons are stated in words a
small bidder would use ("lots of £40k", "31 days from publication to deadline").
The wing's rooms: ``bands`` (value against the thresholds), ``sectors`` (CPV divisions and
the text model, ``sector_text``), ``areas`` (NUTS/ITL names, Kent: ``kent_postcodes``,
``uk_regions``), ``fit`` (the score for small bidders). Reference data it ships: ``data/``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from models.classify import kent_postcodes
from models.classify.areas import KENT_AREAS, NUTS1, area_labels, in_kent, kent_flags, nuts_code
from models.classify.bands import (
    BAND_LABEL,
    BANDS,
    SMALL_BANDS,
    SizeBand,
    Threshold,
    applicable_threshold,
    band_for,
    band_text,
    comparable_value,
    money,
    size_band,
    value_words,
)
from models.classify.fit import EARLY_STAGES, Fit, fit_for_small_bidders
from models.classify.sectors import DIVISION_SECTOR, SECTORS, sectors_and_basis, sectors_for

if TYPE_CHECKING:
    from models.classify.sector_text import SectorModel

__all__ = [
    "BANDS", "BAND_LABEL", "DIVISION_SECTOR", "EARLY_STAGES", "KENT_AREAS", "NUTS1", "SECTORS",
    "SMALL_BANDS", "Fit", "SizeBand", "Threshold", "applicable_threshold", "area_labels",
    "band_for", "band_text", "classify_opportunity", "comparable_value",
    "fit_for_small_bidders", "in_kent", "money", "nuts_code", "sectors_and_basis",
    "sectors_for", "size_band", "value_words",
]  # fmt: skip


def classify_opportunity(
    merged: dict[str, Any], stages_seen: Iterable[str], sector_model: SectorModel | None = None
) -> dict[str, Any]:
    """The derived columns of an opportunity from its merged fields. ``sector_model``
    (models.store.sectors.active_model) gives a sector to an opportunity without CPV codes."""
    threshold = applicable_threshold(
        main_category=merged.get("main_category"),
        light_touch=merged.get("light_touch"),
        cpv_codes=merged.get("cpv_codes") or [],
        buyer_type=merged.get("buyer_type"),
        buyer_name=merged.get("buyer_name"),
    )
    size = size_band(
        merged.get("value_amount"),
        merged.get("value_amount_gross"),
        merged.get("value_currency"),
        merged.get("lots") or [],
        minimum=merged.get("value_min"),
        threshold=threshold,
    )
    stage = merged.get("stage") or "unknown"
    early_before = stage not in EARLY_STAGES and any(s in EARLY_STAGES for s in stages_seen)
    fit = fit_for_small_bidders(
        band=size.band,
        lot_band=size.lot_band,
        band_basis=size.basis,
        lots=merged.get("lots") or [],
        sme_suitable=merged.get("sme_suitable"),
        vcse_suitable=merged.get("vcse_suitable"),
        published_at=merged.get("published_at"),
        deadline=merged.get("deadline"),
        stage=stage,
        is_subcontract=merged.get("is_subcontract"),
        had_early_notice=early_before,
    )
    buyer = (merged.get("buyer_name"), merged.get("buyer_postcode"), merged.get("buyer_region"))
    district = kent_postcodes.buyer_district(*buyer)
    kent = kent_flags(merged.get("regions") or [], buyer[2], district)
    sectors, basis = sectors_and_basis(
        merged.get("cpv_codes") or [],
        merged.get("title") or "",
        merged.get("description") or "",
        sector_model,
    )
    return {
        "value_band": size.band,
        "lot_band": size.lot_band,
        "band_basis": size.basis,
        "sectors": sectors,
        "sector_basis": basis,
        # where the work is (NUTS regions); who is buying is buyer_in_kent / buyer_area
        "areas": area_labels(merged.get("regions") or []),
        **kent,
        "buyer_area": district,
        "fit_score": fit.score,
        "fit_reasons": fit.reasons,
    }
