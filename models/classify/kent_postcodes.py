"""Kent and Medway by postcode: outward code -> district, district -> NUTS3/ITL3 area.

The twelve districts of Kent County Council and the Medway unitary authority, grouped in the
NUTS 2016 level-3 areas that Kent's notices carry (ITL3 codes are the same with ``TL`` for
``UK``: TLJ45 = UKJ45). This is the one home of that grouping; ``models.classify``
re-exports it as ``KENT_AREAS``.

    UKJ41 Medway               Medway
    UKJ43 Kent Thames Gateway  Dartford, Gravesham, Swale
    UKJ44 East Kent            Canterbury, Dover, Folkestone and Hythe, Thanet
    UKJ45 Mid Kent             Ashford, Maidstone
    UKJ46 West Kent            Sevenoaks, Tonbridge and Malling, Tunbridge Wells

``kent_district("ME14 1XQ") -> "Maidstone"``; ``kent_district("DA7 4HJ") -> None``.

**An outcode-level approximation.** There is no postcode directory offline (the ONS
Postcode Directory would place every full postcode in its local authority), so a postcode is
placed by its outward code alone, and an outward code that straddles a boundary goes to the
district holding most of its people. The ones known to straddle, and where the rest lies:

    ME1   Rochester (Medway); Wouldham, Burham: Tonbridge and Malling
    ME3   Hoo peninsula (Medway); Higham: Gravesham
    ME5   Chatham (Medway); Walderslade Woods, Blue Bell Hill: Maidstone, Tonbridge and Malling
    ME9   Sittingbourne villages (Swale); Stockbury, Bicknor: Maidstone
    ME18  Yalding, Nettlestead, Teston (Maidstone); Wateringbury, Mereworth: Tonbridge and
          Malling (close to even; given to Maidstone)
    CT3   Aylesham, Ash, Wingham (Dover); Littlebourne, Hersden, Chislet: Canterbury
    CT4   Chartham, Bridge, Petham (Canterbury); Chilham: Ashford; Womenswold: Dover
    DA1   Dartford; Crayford: London Borough of Bexley
    DA3   Hartley, New Ash Green (Sevenoaks); Longfield: Dartford
    DA4   Eynsford, Farningham, Horton Kirby (Sevenoaks); Sutton-at-Hone: Dartford
    DA13  Meopham, Istead Rise (Gravesham); Southfleet: Dartford
    TN3   Langton Green, Speldhurst, Lamberhurst (Tunbridge Wells); Frant, Eridge: Wealden
          (East Sussex)
    TN11  Hildenborough, Hadlow (Tonbridge and Malling); Leigh, Penshurst: Sevenoaks
    TN12  Paddock Wood, Horsmonden (Tunbridge Wells); Marden, Staplehurst: Maidstone; East
          Peckham: Tonbridge and Malling
    TN14  Otford, Shoreham, Halstead (Sevenoaks); Cudham: London Borough of Bromley
    TN15  Kemsing, Seal, West Kingsdown (Sevenoaks); Borough Green, Wrotham, Ightham:
          Tonbridge and Malling (close to even; given to Sevenoaks)
    TN16  Biggin Hill (London Borough of Bromley) holds most: NOT Kent, though Westerham and
          Brasted (Sevenoaks) are in it
    TN25  Wye, Brabourne (Ashford); Sellindge: Folkestone and Hythe
    TN27  Charing, Biddenden, Smarden (Ashford); Headcorn: Maidstone

Outward codes beside Kent that are not Kent: DA5-DA8 and DA14-DA18 (Bexley, and Sidcup in
Bromley), BR1-BR7 (Bromley; BR8, Swanley, is Sevenoaks), TN5-TN7, TN19-TN22 and TN31-TN40
(East Sussex), TN16 (above), RH (Surrey and Sussex), SE and the rest. Non-geographic codes
(ME99, CT50) are not placed.

A buyer with no postcode in Kent may still name its council: ``council_district("Maidstone
Borough Council") -> "Maidstone"``, ``"Shepway District Council"`` (the name until 2018) ->
"Folkestone and Hythe", ``"Medway Council"`` -> "Medway", ``"Kent County Council"`` -> "Kent"
(county-wide: in Kent, in no one district; its area code is UKJ4).
"""

from __future__ import annotations

import re

from models.formats.text import outcode

KENT = "Kent"  # the county as a whole (Kent County Council)
KENT_CODE = "UKJ4"

# NUTS 2016 level 3 (= ITL3 with TL for UK): code -> (name, districts).
KENT_AREAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "UKJ41": ("Medway", ("Medway",)),
    "UKJ43": ("Kent Thames Gateway", ("Dartford", "Gravesham", "Swale")),
    "UKJ44": ("East Kent", ("Canterbury", "Dover", "Folkestone and Hythe", "Thanet")),
    "UKJ45": ("Mid Kent", ("Ashford", "Maidstone")),
    "UKJ46": ("West Kent", ("Sevenoaks", "Tonbridge and Malling", "Tunbridge Wells")),
}
DISTRICT_AREA: dict[str, str] = {d: code for code, (_n, ds) in KENT_AREAS.items() for d in ds}
DISTRICTS: tuple[str, ...] = tuple(sorted(DISTRICT_AREA))

_MEDWAY, _SWALE, _MAIDSTONE, _TM = "Medway", "Swale", "Maidstone", "Tonbridge and Malling"
_CANTERBURY, _THANET, _DOVER, _FH = "Canterbury", "Thanet", "Dover", "Folkestone and Hythe"
_DARTFORD, _GRAVESHAM, _SEVENOAKS = "Dartford", "Gravesham", "Sevenoaks"
_TW, _ASHFORD = "Tunbridge Wells", "Ashford"

# Outward code -> the district holding most of it (see the module docstring).
OUTCODE_DISTRICT: dict[str, str] = {
    # ME: Rochester
    "ME1": _MEDWAY, "ME2": _MEDWAY, "ME3": _MEDWAY, "ME4": _MEDWAY, "ME5": _MEDWAY,
    "ME6": _TM, "ME7": _MEDWAY, "ME8": _MEDWAY, "ME9": _SWALE, "ME10": _SWALE,
    "ME11": _SWALE, "ME12": _SWALE, "ME13": _SWALE, "ME14": _MAIDSTONE, "ME15": _MAIDSTONE,
    "ME16": _MAIDSTONE, "ME17": _MAIDSTONE, "ME18": _MAIDSTONE, "ME19": _TM, "ME20": _TM,
    # CT: Canterbury
    "CT1": _CANTERBURY, "CT2": _CANTERBURY, "CT3": _DOVER, "CT4": _CANTERBURY,
    "CT5": _CANTERBURY, "CT6": _CANTERBURY, "CT7": _THANET, "CT8": _THANET, "CT9": _THANET,
    "CT10": _THANET, "CT11": _THANET, "CT12": _THANET, "CT13": _DOVER, "CT14": _DOVER,
    "CT15": _DOVER, "CT16": _DOVER, "CT17": _DOVER, "CT18": _FH, "CT19": _FH, "CT20": _FH,
    "CT21": _FH,
    # DA: Dartford (DA5-DA8, DA14-DA18 are London)
    "DA1": _DARTFORD, "DA2": _DARTFORD, "DA3": _SEVENOAKS, "DA4": _SEVENOAKS,
    "DA9": _DARTFORD, "DA10": _DARTFORD, "DA11": _GRAVESHAM, "DA12": _GRAVESHAM,
    "DA13": _GRAVESHAM,
    # TN: Tonbridge (TN5-TN7, TN16, TN19-TN22, TN31-TN40 are not Kent)
    "TN1": _TW, "TN2": _TW, "TN3": _TW, "TN4": _TW, "TN8": _SEVENOAKS, "TN9": _TM,
    "TN10": _TM, "TN11": _TM, "TN12": _TW, "TN13": _SEVENOAKS, "TN14": _SEVENOAKS,
    "TN15": _SEVENOAKS, "TN17": _TW, "TN18": _TW, "TN23": _ASHFORD, "TN24": _ASHFORD,
    "TN25": _ASHFORD, "TN26": _ASHFORD, "TN27": _ASHFORD, "TN28": _FH, "TN29": _FH,
    "TN30": _ASHFORD,
    # BR: Bromley (BR1-BR7 are London)
    "BR8": _SEVENOAKS,
}  # fmt: skip

# Outward codes that straddle a district or county boundary (named in the docstring).
STRADDLING: frozenset[str] = frozenset(
    "ME1 ME3 ME5 ME9 ME18 CT3 CT4 DA1 DA3 DA4 DA13 TN3 TN11 TN12 TN14 TN15 TN16 TN25 TN27".split()  # noqa: SIM905
)

# Councils by name: "<district> Borough|District|City Council", Medway Council, KCC.
_COUNCIL_NAMES: dict[str, str] = {
    **{d.lower(): d for d in DISTRICTS},
    "shepway": _FH,  # Shepway District Council became Folkestone and Hythe in 2018
}
_COUNCIL = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, _COUNCIL_NAMES), key=len, reverse=True)) + r")"
    r"\s+(?:borough\s+|district\s+|city\s+)?council\b"
)
_KCC = re.compile(r"\bkent\s+county\s+council\b")


def kent_district(postcode: str | None) -> str | None:
    """The Kent district (or Medway) a UK postcode lies in, by its outward code; None when
    it is not in Kent or is not a postcode. An approximation: see the module docstring."""
    code = outcode(postcode)
    return OUTCODE_DISTRICT.get(code) if code else None


def council_district(buyer_name: str | None) -> str | None:
    """The district a buyer's name names as its council ("Swale Borough Council" ->
    "Swale"), "Kent" for Kent County Council, else None."""
    lowered = (buyer_name or "").lower()
    if "council" not in lowered:  # both patterns end in the word "council"
        return None
    name = re.sub(r"[^a-z]+", " ", lowered.replace("&", " and "))
    if _KCC.search(name):
        return KENT
    m = _COUNCIL.search(name)
    return _COUNCIL_NAMES[m.group(1)] if m else None


def area_code(district: str | None) -> str | None:
    """'Maidstone' -> 'UKJ45' (Mid Kent); 'Kent' -> 'UKJ4'; anything else -> None."""
    if district == KENT:
        return KENT_CODE
    return DISTRICT_AREA.get(district or "")


def buyer_district(
    buyer_name: str | None, buyer_postcode: str | None, buyer_region: str | None = None
) -> str | None:
    """Where in Kent the buyer is: the council its name names, else the district of its
    postcode, else Medway when its NUTS region is UKJ41 (the one Kent area that is a single
    district); None when none of them places it in Kent.

    A council's name comes first because it says who is buying: Kent County Council, at
    ME14 1XQ in Maidstone, buys for the whole county ("Kent"), not for Maidstone."""
    district = council_district(buyer_name) or kent_district(buyer_postcode)
    if district is None and (buyer_region or "").strip().upper() in ("UKJ41", "TLJ41"):
        district = _MEDWAY
    return district
