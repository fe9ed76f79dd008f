"""Size bands: a contract's value against the UK procurement thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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
