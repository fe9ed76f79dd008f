"""Sectors a small bidder would name, from CPV divisions (or, without CPV codes, from the
text model of models.classify.sector_text)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.classify.sector_text import SectorModel


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


def sectors_and_basis(
    cpv_codes: Sequence[str], title: str, description: str, sector_model: SectorModel | None
) -> tuple[list[str], str | None]:
    """Sectors from the CPV codes (basis "cpv"); without CPV codes, the text model's sector
    when it is sure enough (basis "text", see sector_text.CONFIDENCE_THRESHOLD); else
    ([], None)."""
    if cpv_codes:
        sectors = sectors_for(cpv_codes)
        return sectors, ("cpv" if sectors else None)
    if sector_model is not None:
        sector = sector_model.confident_sector(title, description)
        if sector is not None:
            return [sector], "text"
    return [], None
