"""Size bands: a contract's value against the UK procurement threshold for its type.

The threshold depends on what is bought and who buys it (works, light-touch services,
central-government or other goods and services), so one band key ("below_threshold") means
"below the threshold that applies to this contract", and ``band_basis`` says which one, with
its figure and anything Bidbell had to infer: "works threshold £5,193,000", "sub-central
goods and services threshold £207,720 (buyer type not published: taken as sub-central)".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def money(value: float) -> str:
    """£850, £45k, £2.77m, £3.6bn: three figures at most, never in exponent form (a
    framework's "£3.6e+03m"). The unit is chosen by the value as it will be rounded:
    £999,999 is "£1m", not "£1000k"."""
    if value >= 999_500_000:
        return f"£{_figures(value / 1_000_000_000)}bn"
    if value >= 999_500:
        return f"£{_figures(value / 1_000_000)}m"
    if value >= 10_000:
        return f"£{value / 1_000:.0f}k"
    return f"£{value:,.0f}"


def _figures(x: float) -> str:
    """Three significant figures ("2.77", "36", "999"); whole thousands and more written
    out ("1,200"), where ``.3g`` would switch to an exponent."""
    return f"{x:.3g}" if x < 999.5 else f"{x:,.0f}"


def pounds(value: float) -> str:
    """£40,676: the exact figure, for a bound (rounding a minimum up would overstate it)."""
    return f"£{value:,.0f}"


# --- thresholds --------------------------------------------------------------------------
# UK procurement thresholds in force from 1 January 2026 (inclusive of VAT), set by the
# Procurement Act 2023 (Threshold Amounts) (Amendment) Regulations 2025:
#   works                                                   £5,193,000
#   light-touch services (social, health, education...)     £663,540
#   goods and services, central government authorities      £135,018
#   goods and services, other (sub-central) authorities     £207,720
# Below those, a below-threshold contract must be published when worth at least £12,000
# (central government authorities) or £30,000 (others, e.g. councils), inclusive of VAT
# (Procurement Act 2023, s.86 and s.87).
WORKS_THRESHOLD = 5_193_000
LIGHT_TOUCH_THRESHOLD = 663_540
CENTRAL_THRESHOLD = 135_018
SUB_CENTRAL_THRESHOLD = 207_720
CENTRAL_PUBLICATION_THRESHOLD = 12_000
LOCAL_PUBLICATION_THRESHOLD = 30_000
MICRO_VALUE = 10_000

# Light-touch services when a notice does not say (its specialRegime is the better source):
# Procurement Regulations 2024 (SI 2024/692), reg. 42 and Schedule 1 Table 1 list them by
# CPV code. The text of Table 1 could not be retrieved here (only regulation 42, which
# points at it, and the Government's light-touch guidance, which names the kinds of service:
# "certain social, health, education and other public services ... provided directly to
# individuals or groups of people"). So this list holds only what that corroborates, as CPV
# prefixes of the contract's main code: health services (851), social work and related
# services (853, e.g. 85311000, the code of a real Find a Tender notice in the captures
# that declares the light-touch regime), the division's own top code (85000000) and
# education and training services (80). Left out, though Table 1 may list them: veterinary
# services (852) and Table 1's other groups (e.g. hotel and catering, legal, investigation
# and security, postal, cultural and community services). A notice there that states no
# regime is compared with the goods and services threshold.
LIGHT_TOUCH_CPV_PREFIXES = ("851", "853", "85000000", "80")

# Central government authorities (Procurement Regulations 2024, reg. 44 and Schedule 2)
# when the notice does not classify its buyer: only names that cannot be anything else.
# Anything else is taken as sub-central, and band_basis says so.
_CENTRAL_NAMES = re.compile(
    r"\b(ministry of|department for|department of health|hm revenue|hm treasury|home office"
    r"|cabinet office|crown commercial service|foreign,? (&|and )?commonwealth)\b",
    re.IGNORECASE,
)

BANDS: list[tuple[str, str]] = [
    ("under_10k", "under £10k"),
    ("below_publication", "£10k up to the publication threshold"),
    ("below_threshold", "below the public-contract threshold"),
    ("above_threshold", "at or above the public-contract threshold"),
    ("not_stated", "value not stated"),
]
BAND_LABEL = dict(BANDS)
SMALL_BANDS = ("under_10k", "below_publication", "below_threshold")


@dataclass(frozen=True)
class Threshold:
    """The threshold that applies to one contract, and what had to be inferred to choose it."""

    kind: str  # works | light_touch | central | sub_central
    amount: int
    central_buyer: bool
    notes: tuple[str, ...] = field(default=())  # how the kind was inferred
    buyer_notes: tuple[str, ...] = field(default=())  # how the buyer type was inferred

    @property
    def name(self) -> str:
        return {
            "works": "works threshold",
            "light_touch": "light-touch services threshold",
            "central": "central-government goods and services threshold",
            "sub_central": "sub-central goods and services threshold",
        }[self.kind]

    @property
    def publication(self) -> int:
        return CENTRAL_PUBLICATION_THRESHOLD if self.central_buyer else LOCAL_PUBLICATION_THRESHOLD

    @property
    def publication_name(self) -> str:
        who = "central-government" if self.central_buyer else "local-authority"
        return f"{who} publication threshold"

    def basis(self, band: str, extra: Sequence[str] = ()) -> str:
        """Which threshold decided this band, with its figure and the notes."""
        publication = band in ("under_10k", "below_publication")
        if publication:
            text = f"{self.publication_name} {pounds(self.publication)}"
        else:
            text = f"{self.name} {pounds(self.amount)}"
        # The buyer's type matters to the publication thresholds and to goods and services;
        # not to the works or light-touch thresholds (the same for every buyer).
        buyer = publication or self.kind in ("central", "sub_central")
        notes = [*self.notes, *(self.buyer_notes if buyer else ()), *extra]
        return f"{text} ({'; '.join(notes)})" if notes else text


def is_central_name(name: str | None) -> bool:
    return bool(name and _CENTRAL_NAMES.search(name))


def is_light_touch_cpv(code: str) -> bool:
    return code.startswith(LIGHT_TOUCH_CPV_PREFIXES)


def applicable_threshold(
    *,
    main_category: str | None,
    light_touch: bool | None,
    cpv_codes: Sequence[str],
    buyer_type: str | None,
    buyer_name: str | None,
) -> Threshold:
    """The threshold for this contract: works (the notice's main procurement category, else
    the main CPV code in division 45 when no category is published), light-touch services
    (the notice's specialRegime, else the main CPV code in LIGHT_TOUCH_CPV_PREFIXES), else
    goods and services for a central or a sub-central buyer (the notice's buyer type, else a
    central-government name, else sub-central, said as an assumption). The main CPV code is
    the first one published (the tender's own classification where it has one)."""
    buyer: tuple[str, ...] = ()
    if buyer_type in ("central", "sub_central"):
        central = buyer_type == "central"
    elif is_central_name(buyer_name):
        central = True
        buyer = ("central government inferred from the buyer's name",)
    else:
        central = False
        buyer = ("buyer type not published: taken as sub-central",)
    main_cpv = cpv_codes[0] if cpv_codes else ""
    kind: tuple[str, int, tuple[str, ...]]
    if light_touch:
        kind = ("light_touch", LIGHT_TOUCH_THRESHOLD, ())
    elif main_category == "works":
        kind = ("works", WORKS_THRESHOLD, ())
    elif main_category is None and main_cpv.startswith("45"):
        why = f"works inferred from CPV {main_cpv}: no procurement category published"
        kind = ("works", WORKS_THRESHOLD, (why,))
    elif main_category in (None, "services") and is_light_touch_cpv(main_cpv):
        why = f"light-touch inferred from CPV {main_cpv}: no regime published"
        kind = ("light_touch", LIGHT_TOUCH_THRESHOLD, (why,))
    elif central:
        kind = ("central", CENTRAL_THRESHOLD, ())
    else:
        kind = ("sub_central", SUB_CENTRAL_THRESHOLD, ())
    return Threshold(kind[0], kind[1], central, kind[2], buyer)


# The threshold a contract is compared with when nothing is known about it.
DEFAULT_THRESHOLD = Threshold("sub_central", SUB_CENTRAL_THRESHOLD, False)


def band_for(value: float | None, threshold: Threshold = DEFAULT_THRESHOLD) -> str:
    if value is None:
        return "not_stated"
    if value < MICRO_VALUE:
        return "under_10k"
    if value < threshold.publication:
        return "below_publication"
    if value < threshold.amount:
        return "below_threshold"
    return "above_threshold"


def comparable_value(net: float | None, gross: float | None) -> float | None:
    """The thresholds include VAT: use the gross figure when the source gives it."""
    return gross if gross is not None else net


@dataclass(frozen=True)
class SizeBand:
    band: str
    lot_band: str | None
    basis: str
    threshold: Threshold


def size_band(
    net: float | None,
    gross: float | None,
    currency: str | None,
    lots: Sequence[dict[str, Any]],
    *,
    minimum: float | None = None,
    threshold: Threshold = DEFAULT_THRESHOLD,
) -> SizeBand:
    """The band of the whole contract, of its smallest priced lot if it has several (each lot
    against the same threshold), and the basis in words. A value stated only as a minimum
    (``minimum``, no net or gross figure) bands the contract on that minimum: it is worth
    at least that."""
    pounds_only = currency in (None, "GBP")
    whole = comparable_value(net, gross) if pounds_only else None
    extra: list[str] = []
    if whole is None and minimum is not None and pounds_only:
        whole = minimum
        extra.append(f"only a minimum published: at least {pounds(minimum)}")
    lot_values = [
        lot["value_amount"]
        for lot in lots
        if lot.get("value_amount") is not None and lot.get("value_currency") in (None, currency)
    ]
    smallest_lot = band_for(min(lot_values), threshold) if len(lot_values) > 1 else None
    band = band_for(whole, threshold)
    return SizeBand(band, smallest_lot, threshold.basis(band, extra), threshold)


def band_text(band: str, basis: str | None) -> str:
    """The band in words with the threshold that decided it, e.g. "below the works threshold
    £5,193,000". Without a basis (rows classified before band_basis existed), the generic
    label."""
    if not basis:
        return BAND_LABEL.get(band, band)
    return {
        "under_10k": f"under £10k (below the {basis})",
        "below_publication": f"£10k up to the {basis}",
        "below_threshold": f"below the {basis}",
        "above_threshold": f"at or above the {basis}",
    }.get(band, BAND_LABEL.get(band, band))


def value_words(
    amount: float | None,
    currency: str | None,
    *,
    gross: float | None = None,
    minimum: float | None = None,
) -> str:
    """The value as a subscriber reads it: "£2.77m", "from £40,676" (only a minimum was
    published), "£60,000 to £100,000" (a range), "1,200 EUR", "value not stated"."""
    value = amount if amount is not None else gross
    pounds_only = currency in (None, "GBP")
    if value is None:
        if minimum is None:
            return "value not stated"
        return f"from {pounds(minimum)}" if pounds_only else f"from {minimum:,.0f} {currency}"
    if not pounds_only:
        return f"{value:,.0f} {currency}"
    if minimum is not None and minimum < value:
        return f"{pounds(minimum)} to {pounds(value)}"
    return money(value)
