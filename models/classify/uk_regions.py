"""UK region names, as Contracts Finder writes them, -> NUTS1 codes (= ITL1 with TL for UK).

Contracts Finder names the delivery region in words, both in its CSV export ("South East",
"Yorkshire and The Humber", a comma-separated list, or "Any region") and in its OCDS
``deliveryAddresses[].region`` ("Yorkshire and the Humber", "England"). We keep NUTS codes,
so that one notice can be matched against a profile's "UKJ4" (Kent) like any other source:

    North East UKC · North West UKD · Yorkshire and The Humber UKE · East Midlands UKF ·
    West Midlands UKG · East of England UKH · London UKI · South East UKJ · South West UKK ·
    Wales UKL · Scotland UKM · Northern Ireland UKN

"England" is the nine English regions; "United Kingdom" is "UK" (contains every code).
"Any region" / "Nationwide" put no restriction on where the work is: no region at all (an
empty list, which matching reads as "anywhere"). A name we do not know (e.g. "Channel
Islands", "Isle of Man": outside the UK NUTS) is kept as written, upper-cased, so it is
visible and never matches a UK code by accident.
"""

from __future__ import annotations

from collections.abc import Iterable

NUTS1_BY_NAME: dict[str, str] = {
    "north east": "UKC",
    "north west": "UKD",
    "yorkshire and the humber": "UKE",
    "yorkshire and humber": "UKE",
    "east midlands": "UKF",
    "west midlands": "UKG",
    "east of england": "UKH",
    "eastern": "UKH",
    "london": "UKI",
    "south east": "UKJ",
    "south west": "UKK",
    "wales": "UKL",
    "scotland": "UKM",
    "northern ireland": "UKN",
}
ENGLAND = ["UKC", "UKD", "UKE", "UKF", "UKG", "UKH", "UKI", "UKJ", "UKK"]
GROUPS: dict[str, list[str]] = {
    "england": ENGLAND,
    "united kingdom": ["UK"],
    "uk": ["UK"],
    "great britain": [*ENGLAND, "UKL", "UKM"],
}
# Names that mean "anywhere": no restriction on where the work is.
ANYWHERE = frozenset({"any region", "any", "nationwide", "all regions", "anywhere"})


def _key(name: str) -> str:
    # Every run of whitespace one space, ends stripped (str.split's whitespace is re's \s).
    return " ".join(name.lower().replace("&", " and ").replace("-", " ").split())


def codes_for_name(name: str) -> list[str] | None:
    """NUTS codes for one region name; [] for "anywhere"; None for a name we do not know."""
    key = _key(name)
    if key in ANYWHERE:
        return []
    if key in NUTS1_BY_NAME:
        return [NUTS1_BY_NAME[key]]
    return list(GROUPS[key]) if key in GROUPS else None


def regions_from_names(names: Iterable[str]) -> list[str]:
    """Region names -> NUTS codes in order, without repeats (see the module docstring).

    If any name means "anywhere", the result is empty: listing a region beside "Any region"
    does not restrict it.
    """
    out: dict[str, None] = {}
    for name in names:
        if not name.strip():
            continue
        codes = codes_for_name(name)
        if codes == []:
            return []
        for code in codes if codes is not None else [name.strip().upper()]:
            out.setdefault(code, None)
    return list(out)
