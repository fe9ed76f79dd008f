"""bench match: notices x profiles, the engine against the naive double loop, same run.

Profiles are generated from the real CPV list and NUTS codes (random but seeded);
notices cycle the real releases' CPV codes, regions and values from the shared captures.
The naive loop is timed on a slice of the notices and scaled linearly (said in the output).

    python -m bench.match [--notices 10000] [--profiles 100000]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
from datetime import UTC, datetime, timedelta

from bench.common import line
from bidbell.settings import get_settings
from matching.engine import OpportunityView, ProfileIndex, ProfileSpec, match
from models.formats.ocds import normalise_release

NOW = datetime(2026, 10, 6, 18, 0, tzinfo=UTC)
REGIONS = [
    "UKJ4",
    "UKJ41",
    "UKJ43",
    "UKJ44",
    "UKJ45",
    "UKJ46",
    "UKJ",
    "UKI",
    "UKH",
    "UKE",
    "UKM",
    "UKL",
    "UKK",
    "UKF",
    "UKG",
    "UKD",
    "UKC",
]


def real_views() -> list[dict]:
    fx = get_settings().fixtures_dir
    releases = []
    for f in (fx / "find-a-tender").glob("*.json"):
        releases += json.loads(f.read_text())["releases"]
    releases += json.loads(
        (
            fx / "contracts-finder" / "cf_ocds_search_2022-10-22_publishedTo_limit100.json"
        ).read_text()
    )["releases"]
    for f in [*(fx / "scotland-pcs").glob("*.jsonl"), *(fx / "wales-sell2wales").glob("*.jsonl")]:
        releases += [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
    out = []
    for r in releases:
        n = normalise_release("bench", r)
        if n.cpv_codes:
            out.append(
                {
                    "cpv": n.cpv_codes,
                    "regions": n.regions,
                    "value": n.value_amount,
                    "title": n.title,
                    "description": n.description[:500],
                }
            )
    return out


def make_profiles(n: int, rng: random.Random) -> list[ProfileSpec]:
    with (get_settings().fixtures_dir / "cpv" / "cpv_2008_codes_en.csv").open(
        encoding="utf-8-sig"
    ) as f:
        codes = [row["CODE"][:8] for row in csv.DictReader(f)]
    words = [
        "care",
        "cleaning",
        "software",
        "maintenance",
        "training",
        "catering",
        "waste",
        "transport",
        "security",
        "consultancy",
        "design",
        "repair",
        "grounds",
        "youth",
    ]
    out = []
    for i in range(n):
        cpv = [rng.choice(codes)[: rng.choice((2, 3, 4, 5))] for _ in range(rng.randint(1, 3))]
        kw = rng.sample(words, rng.randint(0, 2))
        regions = rng.sample(REGIONS, rng.randint(0, 2))
        lo = rng.choice([None, 5_000, 10_000, 25_000])
        hi = rng.choice([None, 50_000, 100_000, 500_000, 5_000_000])
        out.append(ProfileSpec(i + 1, i + 1, cpv, kw, regions, lo, hi))
    return out


def make_notices(n: int, rng: random.Random) -> list[OpportunityView]:
    base = real_views()
    return [
        OpportunityView(
            id=i + 1,
            title=b["title"],
            description=b["description"],
            cpv_codes=b["cpv"],
            regions=b["regions"],
            value_amount=b["value"],
            stage="tender",
            deadline=NOW + timedelta(days=rng.randint(5, 60)),
        )
        for i, b in ((i, base[i % len(base)]) for i in range(n))
    ]


def naive_match(opps: list[OpportunityView], profiles: list[ProfileSpec]) -> int:
    """What one would write first: every notice against every profile, in Python."""
    hits = 0
    for o in opps:
        text = f"{o.title}\n{o.description}".lower()
        for p in profiles:
            topic = (
                (not p.cpv_prefixes and not p.keywords)
                or any(c.startswith(x) for c in o.cpv_codes for x in p.cpv_prefixes)
                or any(k in text for k in p.keywords)
            )
            if not topic:
                continue
            if o.value_amount is not None and not (
                (p.min_value or 0) <= o.value_amount <= (p.max_value or float("inf"))
            ):
                continue
            if (
                p.regions
                and o.regions
                and not any(
                    r.startswith(x) or x.startswith(r) for r in o.regions for x in p.regions
                )
            ):
                continue
            hits += 1
    return hits


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--notices", type=int, default=10_000)
    ap.add_argument("--profiles", type=int, default=100_000)
    ap.add_argument("--naive-notices", type=int, default=50)
    ns = ap.parse_args()
    rng = random.Random(7)
    profiles = make_profiles(ns.profiles, rng)
    opps = make_notices(ns.notices, rng)
    t = time.perf_counter()
    index = ProfileIndex(profiles)
    build = time.perf_counter() - t
    t = time.perf_counter()
    matches = match(opps, index, NOW)
    took = time.perf_counter() - t
    t = time.perf_counter()
    naive_match(opps[: ns.naive_notices], profiles)
    naive = (time.perf_counter() - t) * ns.notices / ns.naive_notices
    name = f"match_{ns.notices // 1000}k_x_{ns.profiles // 1000}k"
    line(name, took, "s", naive, "1 s" if ns.profiles <= 100_000 else "5 s")
    print(
        f"  ({len(matches)} matches; index built in {build:.2f} s; naive loop timed on "
        f"{ns.naive_notices} notices and scaled to {ns.notices}; ratio {naive / took:.0f}x)"
    )


if __name__ == "__main__":
    main()
