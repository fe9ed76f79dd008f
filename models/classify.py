"""Pure classification of an opportunity: size band, sector, area, and fit for small bidders.

Everything here is plain functions over values; no I/O. Reasons are stated in words a
small bidder would use ("lots of £40k", "31 days from publication to deadline").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from models.formats import kent_postcodes

# The reader of money text lives with the other text readers; re-exported here.
from models.formats.text import ValueText as ValueText
from models.formats.text import parse_value_text as parse_value_text

if TYPE_CHECKING:
    from models.sector_text import SectorModel

UK = ZoneInfo("Europe/London")


def money(value: float) -> str:
    """£850, £45k, £2.77m."""
    if value >= 1_000_000:
        return f"£{value / 1_000_000:.3g}m"
    if value >= 10_000:
        return f"£{value / 1_000:.0f}k"
    return f"£{value:,.0f}"


# --- value -------------------------------------------------------------------------------
# UK procurement thresholds in force from 1 January 2026 (inclusive of VAT), set by the
# Procurement Act 2023 (Threshold Amounts) (Amendment) Regulations 2025:
#   supplies/services, sub-central authorities (councils)   £207,720
#   supplies/services, central government                   £135,018
#   works                                                   £5,193,000
#   light-touch services (e.g. social care)                 £663,540
# Below those, a "regulated below-threshold contract" must be advertised when worth at least
# £30,000 (sub-central) or £12,000 (central government), inclusive of VAT (Procurement
# Act 2023, s.86 and s.87).
SUB_CENTRAL_THRESHOLD = 207_720
WORKS_THRESHOLD = 5_193_000
LIGHT_TOUCH_THRESHOLD = 663_540
LOCAL_PUBLICATION_THRESHOLD = 30_000
MICRO_VALUE = 10_000

BANDS: list[tuple[str, str]] = [
    ("under_10k", "under £10k"),
    ("10k_30k", "£10k to £30k (below the local-authority publication threshold)"),
    ("30k_threshold", "£30k up to the public-contract threshold (£207,720)"),
    ("above_threshold", "above the public-contract threshold"),
    ("not_stated", "value not stated"),
]
BAND_LABEL = dict(BANDS)


def band_for(value: float | None) -> str:
    if value is None:
        return "not_stated"
    if value < MICRO_VALUE:
        return "under_10k"
    if value < LOCAL_PUBLICATION_THRESHOLD:
        return "10k_30k"
    if value < SUB_CENTRAL_THRESHOLD:
        return "30k_threshold"
    return "above_threshold"


def comparable_value(net: float | None, gross: float | None) -> float | None:
    """The thresholds include VAT: use the gross figure when the source gives it."""
    return gross if gross is not None else net


def size_band(
    net: float | None, gross: float | None, currency: str | None, lots: Sequence[dict[str, Any]]
) -> tuple[str, str | None]:
    """(band of the whole contract, band of its smallest priced lot if it has several)."""
    whole = comparable_value(net, gross) if currency in (None, "GBP") else None
    lot_values = [
        lot["value_amount"]
        for lot in lots
        if lot.get("value_amount") is not None and lot.get("value_currency") in (None, currency)
    ]
    smallest_lot = band_for(min(lot_values)) if len(lot_values) > 1 else None
    return band_for(whole), smallest_lot


# --- sector ------------------------------------------------------------------------------
# CPV divisions (2-digit prefixes, CPV 2008) grouped as a small bidder would name them.
# Every division appears exactly once (checked by tests against the shared CPV file).
SECTORS: dict[str, tuple[str, ...]] = {
    "Social care and health": ("85",),
    "Medical and care supplies": ("33",),
    "Construction and building works": ("43", "44", "45"),
    "Architecture, engineering and surveying": ("71",),
    "Facilities, maintenance and cleaning": ("50", "51", "90"),
    "IT, digital and telecoms": ("30", "32", "48", "64", "72"),
    "Business and professional services": ("66", "70", "73", "75", "79"),
    "Education and training": ("80",),
    "Transport and logistics": ("34", "60", "63"),
    "Grounds, farming and environment": ("03", "16", "77"),
    "Energy and utilities": ("09", "41", "65", "76"),
    "Food and catering": ("15", "55"),
    "Community, culture and leisure": ("37", "92", "98"),
    "Equipment, materials and machinery": ("14", "18", "19", "24", "31", "35", "38", "42"),
    "Office supplies, furniture and print": ("22", "39"),
}
DIVISION_SECTOR = {div: sector for sector, divs in SECTORS.items() for div in divs}


def sectors_for(cpv_codes: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for code in cpv_codes:
        sector = DIVISION_SECTOR.get(code[:2])
        if sector:
            seen.setdefault(sector, None)
    return list(seen)


# --- area --------------------------------------------------------------------------------
# NUTS 2016 / ITL (TLJ4 = UKJ4) codes for Kent and its parts, with the districts in each: one
# truth, kept with the postcode table in models.formats.kent_postcodes.
KENT_AREAS = kent_postcodes.KENT_AREAS
NUTS1 = {
    "UKC": "North East",
    "UKD": "North West",
    "UKE": "Yorkshire and the Humber",
    "UKF": "East Midlands",
    "UKG": "West Midlands",
    "UKH": "East of England",
    "UKI": "London",
    "UKJ": "South East",
    "UKK": "South West",
    "UKL": "Wales",
    "UKM": "Scotland",
    "UKN": "Northern Ireland",
}


def nuts_code(code: str) -> str:
    code = code.strip().upper()
    return "UK" + code[2:] if code.startswith("TL") else code


def area_labels(regions: Iterable[str]) -> list[str]:
    """Plain names for NUTS/ITL codes: 'Mid Kent (Ashford, Maidstone)', 'South East'..."""
    out: dict[str, None] = {}
    for r in map(nuts_code, regions):
        if r in KENT_AREAS:
            name, districts = KENT_AREAS[r]
            out.setdefault(f"{name} ({', '.join(districts)})", None)
        elif r.startswith("UKJ4"):
            out.setdefault("Kent and Medway", None)
        elif r[:3] in NUTS1:
            out.setdefault(NUTS1[r[:3]], None)
        elif r == "UK":
            out.setdefault("United Kingdom", None)
    return list(out)


def in_kent(
    regions: Iterable[str],
    buyer_region: str | None,
    buyer_postcode: str | None,
    buyer_name: str | None = None,
) -> dict[str, bool]:
    """Where the work is, and who is buying, each tested against Kent and Medway. The buyer
    is in Kent when its NUTS region is, or when its council or postcode is placed in a Kent
    district (models.formats.kent_postcodes: by outward code, so DA7 Bexleyheath and TN22
    Uckfield are not Kent, TN1 Tunbridge Wells is)."""
    work = any(nuts_code(r).startswith("UKJ4") for r in regions)
    buyer = bool(buyer_region and nuts_code(buyer_region).startswith("UKJ4")) or (
        kent_postcodes.buyer_district(buyer_name, buyer_postcode, buyer_region) is not None
    )
    return {"work_in_kent": work, "buyer_in_kent": buyer}


# --- fit for small bidders ---------------------------------------------------------------
EARLY_STAGES = {"pipeline", "early_engagement", "planned"}


def _holiday_overlap(start: datetime, end: datetime) -> str | None:
    """A response window that runs over Christmas/New Year or the August holidays."""
    d = start.astimezone(UK).date()
    last = end.astimezone(UK).date()
    while d <= last:
        if (d.month == 12 and d.day >= 20) or (d.month == 1 and d.day <= 3):
            return "the response window runs over Christmas"
        if d.month == 8 and 1 <= d.day <= 31 and (last - start.astimezone(UK).date()).days < 35:
            return "the response window is mostly in August"
        d += timedelta(days=1)
    return None


@dataclass
class Fit:
    score: int = 50
    reasons: list[str] = field(default_factory=list)

    def add(self, points: int, reason: str) -> None:
        self.score += points
        self.reasons.append(reason)


def fit_for_small_bidders(
    *,
    band: str,
    lot_band: str | None,
    lots: Sequence[dict[str, Any]],
    sme_suitable: bool | None,
    vcse_suitable: bool | None,
    published_at: datetime | None,
    deadline: datetime | None,
    stage: str,
    is_subcontract: bool | None,
    had_early_notice: bool = False,
) -> Fit:
    """A plain 0-100 score with its reasons in words. 50 is neutral."""
    fit = Fit()
    if sme_suitable:
        fit.add(15, "marked suitable for SMEs")
    if vcse_suitable:
        fit.add(15, "marked suitable for VCSE organisations")
    if band == "under_10k":
        fit.add(15, "under £10k: a first contract for a small bidder")
    elif band == "10k_30k":
        fit.add(15, "£10k to £30k: small enough for a micro business")
    elif band == "30k_threshold":
        fit.add(5, "below the public-contract threshold")
    elif band == "above_threshold":
        fit.add(-15, "above the public-contract threshold")
    else:
        fit.reasons.append("value not stated")
    if lot_band and lot_band in ("under_10k", "10k_30k", "30k_threshold"):
        smallest = min(
            (lot["value_amount"] for lot in lots if lot.get("value_amount") is not None),
            default=None,
        )
        if smallest is not None:
            fit.add(15, f"split into {len(lots)} lots, from {money(smallest)}")
    if is_subcontract:
        fit.add(10, "sub-contract work under a prime contractor")
    if stage in EARLY_STAGES:
        fit.add(10, "early notice: time to prepare before the tender")
    if had_early_notice:
        fit.add(5, "an early-engagement notice came first")
    if published_at is not None and deadline is not None and deadline > published_at:
        days = (deadline - published_at).days
        if days < 21:
            fit.add(-15, f"only {days} days from publication to deadline")
        elif days >= 30:
            fit.add(5, f"{days} days from publication to deadline")
        else:
            fit.reasons.append(f"{days} days from publication to deadline")
        holiday = _holiday_overlap(published_at, deadline)
        if holiday:
            fit.add(-5, holiday)
    fit.score = max(0, min(100, fit.score))
    return fit


def sectors_and_basis(
    cpv_codes: Sequence[str], title: str, description: str, sector_model: SectorModel | None
) -> tuple[list[str], str | None]:
    """Sectors from the CPV codes (basis "cpv"); without CPV codes, the text model's sector
    when it is sure enough (basis "text", see models.sector_text.CONFIDENCE_THRESHOLD); else
    ([], None)."""
    if cpv_codes:
        sectors = sectors_for(cpv_codes)
        return sectors, ("cpv" if sectors else None)
    if sector_model is not None:
        sector = sector_model.confident_sector(title, description)
        if sector is not None:
            return [sector], "text"
    return [], None


def classify_opportunity(
    merged: dict[str, Any], stages_seen: Iterable[str], sector_model: SectorModel | None = None
) -> dict[str, Any]:
    """The derived columns of an opportunity from its merged fields. ``sector_model``
    (models.sector_labels.active_model) gives a sector to an opportunity without CPV codes."""
    band, lot_band = size_band(
        merged.get("value_amount"),
        merged.get("value_amount_gross"),
        merged.get("value_currency"),
        merged.get("lots") or [],
    )
    stage = merged.get("stage") or "unknown"
    early_before = stage not in EARLY_STAGES and any(s in EARLY_STAGES for s in stages_seen)
    fit = fit_for_small_bidders(
        band=band,
        lot_band=lot_band,
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
    kent = in_kent(merged.get("regions") or [], buyer[2], buyer[1], buyer[0])
    sectors, basis = sectors_and_basis(
        merged.get("cpv_codes") or [],
        merged.get("title") or "",
        merged.get("description") or "",
        sector_model,
    )
    return {
        "value_band": band,
        "lot_band": lot_band,
        "sectors": sectors,
        "sector_basis": basis,
        # where the work is (NUTS regions); who is buying is buyer_in_kent / buyer_area
        "areas": area_labels(merged.get("regions") or []),
        **kent,
        "buyer_area": kent_postcodes.buyer_district(*buyer),
        "fit_score": fit.score,
        "fit_reasons": fit.reasons,
    }
