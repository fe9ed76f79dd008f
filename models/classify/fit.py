"""Fit for small bidders: a plain 0-100 score with its reasons in words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bidbell.clock import UK
from models.classify.bands import SMALL_BANDS, band_text, money

# --- fit for small bidders ---------------------------------------------------------------
EARLY_STAGES = {"pipeline", "early_engagement", "planned"}


def _holiday_overlap(start: datetime, end: datetime) -> str | None:
    """A response window that runs over Christmas/New Year (20 December to 3 January) or,
    when shorter than five weeks, the August holidays: whichever its first day in either
    is. Found from the window's first day, not by walking it day by day (a window open for
    years took thousands of steps)."""
    first = start.astimezone(UK).date()
    last = end.astimezone(UK).date()
    if (first.month == 12 and first.day >= 20) or (first.month == 1 and first.day <= 3):
        christmas = first
    else:  # 4 January to 19 December: the next break starts on 20 December of that year
        christmas = date(first.year, 12, 20)
    august = None
    if (last - first).days < 35:
        if first.month == 8:
            august = first
        elif first.month < 8:  # from September, the next August is over 35 days away
            august = date(first.year, 8, 1)
    if august is not None and august < christmas and august <= last:
        return "the response window is mostly in August"
    if christmas <= last:
        return "the response window runs over Christmas"
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
    band_basis: str | None = None,
) -> Fit:
    """A plain 0-100 score with its reasons in words. 50 is neutral. ``band_basis``
    (models.classify.bands.SizeBand.basis) names the threshold that decided the band, so the
    reason says which one ("below the works threshold £5,193,000")."""
    fit = Fit()
    if sme_suitable:
        fit.add(15, "marked suitable for SMEs")
    if vcse_suitable:
        fit.add(15, "marked suitable for VCSE organisations")
    said = band_text(band, band_basis)
    if band == "under_10k":
        fit.add(15, "under £10k: a first contract for a small bidder")
    elif band == "below_publication":
        fit.add(15, f"{said}: small enough for a micro business")
    elif band == "below_threshold":
        fit.add(5, said)
    elif band == "above_threshold":
        fit.add(-15, said)
    else:
        fit.reasons.append("value not stated")
    if lot_band and lot_band in SMALL_BANDS:
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
