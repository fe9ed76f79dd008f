"""Where the work is and who is buying: NUTS/ITL codes named in words, tested against Kent
and Medway."""

from __future__ import annotations

from collections.abc import Iterable

from models.classify import kent_postcodes

# --- area --------------------------------------------------------------------------------
# NUTS 2016 / ITL (TLJ4 = UKJ4) codes for Kent and its parts, with the districts in each: one
# truth, kept with the postcode table in models.classify.kent_postcodes.
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
    district (models.classify.kent_postcodes: by outward code, so DA7 Bexleyheath and TN22
    Uckfield are not Kent, TN1 Tunbridge Wells is)."""
    district = kent_postcodes.buyer_district(buyer_name, buyer_postcode, buyer_region)
    return kent_flags(regions, buyer_region, district)


def kent_flags(
    regions: Iterable[str], buyer_region: str | None, buyer_district: str | None
) -> dict[str, bool]:
    """``in_kent`` for a buyer whose district (``kent_postcodes.buyer_district``) the caller
    has found already: classify_opportunity keeps it too, and finding it is the most of
    the cost."""
    work = any(nuts_code(r).startswith("UKJ4") for r in regions)
    buyer = bool(buyer_region and nuts_code(buyer_region).startswith("UKJ4")) or (
        buyer_district is not None
    )
    return {"work_in_kent": work, "buyer_in_kent": buyer}
