"""Places a profile can name: UK postcode outward codes with their centroids, and the
great-circle distance between two of them in miles.

"Within 20 miles of ME10" is read as: the buyer's outward code lies within 20 miles of ME10,
centroid to centroid (``data/outcode_centroids.csv``, provenance in ``data/README.md``). A
full postcode is placed by its outward code. Distances come from one table computed once
(haversine on the mean Earth radius, 3958.7613 miles), so that the matcher's array code and
the plain rules read the very same number for a pair of places.

Pure and offline: the data file ships with the package.
"""

from __future__ import annotations

import csv
import math
from functools import cache
from pathlib import Path

import numpy as np

from models.classify.kent_postcodes import area_code, kent_district, outcode

EARTH_RADIUS_MILES = 3958.7613
DATA = Path(__file__).parent / "data" / "outcode_centroids.csv"
# Grid cells for finding profiles near a point quickly (about 21 x 21 miles in the South
# East): the matcher files a radius profile under the cells of the outward codes it covers.
CELL_LAT, CELL_LON = 0.3, 0.5

__all__ = [
    "cell_of",
    "centroid",
    "distance_miles",
    "distance_table",
    "haversine_miles",
    "outcode",
    "outcode_index",
    "outcodes",
    "outcodes_within",
    "postcode_area",
]


@cache
def _load() -> tuple[tuple[str, ...], np.ndarray]:
    codes: list[str] = []
    coords: list[tuple[float, float]] = []
    with DATA.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            codes.append(row["outcode"].strip().upper())
            coords.append((float(row["latitude"]), float(row["longitude"])))
    return tuple(codes), np.array(coords, dtype=np.float64)


def outcodes() -> tuple[str, ...]:
    """Every known outward code, in the order of ``outcode_index``."""
    return _load()[0]


@cache
def _index() -> dict[str, int]:
    return {code: i for i, code in enumerate(outcodes())}


def outcode_index(postcode_or_outcode: str | None) -> int | None:
    """Position of a postcode's outward code in the table; None when it is not a postcode
    or its outward code is not known."""
    code = outcode(postcode_or_outcode)
    return _index().get(code) if code else None


def centroid(postcode_or_outcode: str) -> tuple[float, float] | None:
    i = outcode_index(postcode_or_outcode)
    if i is None:
        return None
    lat, lon = _load()[1][i]
    return float(lat), float(lon)


def haversine_miles(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(min(1.0, math.sqrt(a)))


@cache
def distance_table() -> np.ndarray:
    """Miles between every two outward codes' centroids (float32, n x n; about 35 MB for
    the UK's 2,973), computed once by haversine."""
    coords = np.radians(_load()[1])
    lat, lon = coords[:, 0], coords[:, 1]
    out = np.empty((len(lat), len(lat)), dtype=np.float32)
    cos_lat = np.cos(lat)
    for i in range(len(lat)):
        a = np.sin((lat - lat[i]) / 2) ** 2 + cos_lat[i] * cos_lat * np.sin((lon - lon[i]) / 2) ** 2
        out[i] = 2 * EARTH_RADIUS_MILES * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    # one number per pair whichever way round it is read (rounding could differ by a bit)
    np.minimum(out, out.T, out=out)
    return out


def distance_miles(a: int, b: int) -> float:
    """Miles between two outward codes (by ``outcode_index``), from the one table."""
    return float(distance_table()[a, b])


def outcodes_within(centre: int, miles: float) -> np.ndarray:
    """Indexes of the outward codes whose centroid lies within ``miles`` of ``centre``'s."""
    return np.flatnonzero(distance_table()[:, centre] <= miles)


@cache
def _cells() -> np.ndarray:
    coords = _load()[1]
    i = np.floor(coords[:, 0] / CELL_LAT).astype(np.int64)
    j = np.floor(coords[:, 1] / CELL_LON).astype(np.int64)
    return (i + 1000) * 10_000 + (j + 1000)


def cell_of(index: int) -> int:
    """The grid cell (an integer) an outward code's centroid lies in."""
    return int(_cells()[index])


@cache
def cells_near(centre: int, miles: float) -> list[int]:
    """The grid cells of every outward code within ``miles`` of ``centre``."""
    return sorted({int(c) for c in _cells()[outcodes_within(centre, miles)]})


def postcode_area(postcode_or_outcode: str | None) -> str | None:
    """The NUTS3 area code of a Kent or Medway postcode (ME10 -> UKJ43), else None: what
    lets a radius around a Kent postcode meet notices published for a Kent area."""
    return area_code(kent_district(postcode_or_outcode))
