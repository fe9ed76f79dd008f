"""bench match: opportunities x profiles, the engine against the plain loop, same run.

Opportunities: every real capture (Find a Tender, Contracts Finder OCDS and CSV, PCS,
Sell2Wales) normalised and classified by the project's own code, cycled to the batch size
with new ids, and given deadlines 5-60 days ahead so that all are open.

Profiles (seeded; the distributions are printed with the figures):
- topic, every profile names one: 85% name 1-5 CPV prefixes (1: 30%, 2: 30%, 3: 20%,
  4: 10%, 5: 10%), each a real notice's code (drawn as often as codes occur in the
  captures) cut to 2-5 digits (35/30/20/15%); 10% name 1-2 sectors (half of those without
  CPV); keywords 0-5 (none 50%, 1: 20%, 2: 15%, 3: 10%, 4-5: 5%; one at least without CPV
  or sector) from 60 common procurement words, a third of them two-word phrases;
- exclusions: 10% exclude a word, 5% a sector;
- area, one each: 40% a Kent district, 30% a NUTS code (Kent's areas, Kent, or another
  English region), 30% a South East postcode with a radius of 5-30 miles;
- value: 60% a maximum (£25k-£2m), 30% a minimum (£5k-£50k), 15% leave out "value not
  stated"; stages: 80% the default, 10% add awards, 10% early notices only; 10% SME-only,
  5% VCSE-only; 10% a lowest fit score; 15% fewest days left.

    python -m bench.match [--notices 10000] [--profiles 100000] [--big 1000000]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from bench.common import line, peak_gb
from bidbell.settings import get_settings
from matching.engine import match_batch, prepare_batch, to_matches
from matching.index import ProfileIndex
from matching.rules import Facts, Rules, compile_rules, facts_from, plain_match
from models.classify import classify_opportunity
from models.classify.kent_postcodes import DISTRICTS
from models.classify.sectors import SECTORS
from models.formats import normalise
from models.subscribers import places
from models.subscribers.criteria import Criteria
from spiders.files import read_file

NOW = datetime(2026, 10, 6, 18, 0, tzinfo=UTC)
SEED = 7
CAPTURES = [
    ("find_a_tender", "find_a_tender", "find-a-tender/*.json"),
    ("contracts_finder", "contracts_finder", "contracts-finder/cf_ocds_search_*.json"),
    ("contracts_finder", "contracts_finder", "contracts-finder/legacy-2016-ocds/*.json"),
    ("contracts_finder_csv", "contracts_finder_csv", "contracts-finder/cf_search_export_csv_*.csv"),
    ("public_contracts_scotland", "ocds_monthly", "scotland-pcs/*.jsonl"),
    ("sell2wales", "ocds_monthly", "wales-sell2wales/*.jsonl"),
]
WORDS = [
    "care", "cleaning", "software", "maintenance", "training", "catering", "waste",
    "transport", "security", "consultancy", "design", "repair", "grounds", "youth", "housing",
    "school", "roofing", "painting", "fencing", "lighting", "heating", "plumbing",
    "electrical", "cctv", "furniture", "printing", "translation", "legal", "audit",
    "recruitment", "advocacy", "counselling", "mentoring", "volunteering", "events",
    "marketing", "website", "digital", "data", "survey", "landscaping", "tree", "drainage",
    "highways", "parking", "signage", "laundry", "food", "meals", "transport", "taxi",
    "minibus", "removals", "storage", "insurance", "energy", "solar", "water", "asbestos",
    "demolition", "scaffolding", "windows", "doors",
]  # fmt: skip
NUTS = ["UKJ41", "UKJ43", "UKJ44", "UKJ45", "UKJ46", "UKJ4", "UKJ", "UKI", "UKH", "UKK"]
SE_PREFIXES = ("ME", "CT", "TN", "DA", "BR", "RH", "GU", "BN", "SE", "CR", "KT", "RG")


def real_rows() -> list[SimpleNamespace]:
    """Every captured notice, normalised and classified as the store would."""
    fx = get_settings().fixtures_dir
    out = []
    for source, kind, pattern in CAPTURES:
        for path in sorted(fx.glob(pattern)):
            for rec in read_file(source, kind, path):
                if rec.kind != "notice":
                    continue
                n = normalise(rec.format or "ocds-release", source, rec.payload)
                row = n.as_dict()
                row.update(classify_opportunity(row, [n.stage]))
                out.append(SimpleNamespace(id=0, **row))
    if not out:
        raise SystemExit(f"no captures in {fx}: set BIDBELL_FIXTURES_DIR")
    return out


def make_facts(n: int, rng: random.Random, start_id: int = 1) -> list[Facts]:
    """n open opportunities cycling the real captures (their own text, codes, places,
    values and lots), deadlines 5-60 days ahead."""
    base = [facts_from(r) for r in real_rows()]
    out = []
    for i in range(n):
        f = base[i % len(base)]
        category = f.category if f.category in ("early", "tender", "subcontract") else "tender"
        out.append(
            replace(
                f,
                id=start_id + i,
                category=category,
                deadline=NOW + timedelta(days=rng.randint(5, 60), hours=rng.randint(0, 23)),
            )
        )
    return out


def _weighted(rng: random.Random, table: list[tuple[float, object]]) -> object:
    x, acc = rng.random(), 0.0
    for p, v in table:
        acc += p
        if x < acc:
            return v
    return table[-1][1]


def profile_data(rng: random.Random, codes: list[str], centres: list[str]) -> dict:
    d: dict = {}
    if rng.random() < 0.85:
        k = int(_weighted(rng, [(0.3, 1), (0.3, 2), (0.2, 3), (0.1, 4), (0.1, 5)]))  # type: ignore[call-overload]
        cut = [(0.35, 2), (0.3, 3), (0.2, 4), (0.15, 5)]
        d["cpv_prefixes"] = sorted(
            {rng.choice(codes)[: int(_weighted(rng, cut))] for _ in range(k)}
        )  # type: ignore[call-overload]
    if rng.random() < 0.10 or ("cpv_prefixes" not in d and rng.random() < 0.5):
        d["sectors"] = rng.sample(sorted(SECTORS), rng.randint(1, 2))
    nk = int(_weighted(rng, [(0.5, 0), (0.2, 1), (0.15, 2), (0.1, 3), (0.05, rng.randint(4, 5))]))  # type: ignore[call-overload]
    kws = []
    for _ in range(nk):
        kws.append(" ".join(rng.sample(WORDS, 2)) if rng.random() < 0.33 else rng.choice(WORDS))
    if "cpv_prefixes" not in d and "sectors" not in d and not kws:
        kws.append(rng.choice(WORDS))  # every profile names a topic
    d["keywords"] = sorted(set(kws))
    if rng.random() < 0.10:
        d["exclude_keywords"] = [rng.choice(WORDS)]
    if rng.random() < 0.05:
        d["exclude_sectors"] = [
            s for s in [rng.choice(sorted(SECTORS))] if s not in d.get("sectors", [])
        ]
    a = rng.random()
    if a < 0.40:
        d["districts"] = [rng.choice(DISTRICTS)]
    elif a < 0.70:
        d["regions"] = [rng.choice(NUTS)]
    else:
        d["postcode"], d["radius_miles"] = (
            rng.choice(centres),
            float(rng.choice([5, 10, 15, 20, 30])),
        )
    if rng.random() < 0.60:
        d["max_value"] = float(rng.choice([25_000, 50_000, 100_000, 250_000, 500_000, 2_000_000]))
    if rng.random() < 0.30:
        d["min_value"] = float(rng.choice([5_000, 10_000, 25_000]))
    if rng.random() < 0.15:
        d["value_not_stated"] = False
    s = rng.random()
    if s < 0.10:
        d["stages"] = ["early", "tender", "subcontract", "award"]
    elif s < 0.20:
        d["stages"] = ["early"]
    u = rng.random()
    if u < 0.10:
        d["suitable_for"] = ["sme"]
    elif u < 0.15:
        d["suitable_for"] = ["vcse"]
    if rng.random() < 0.10:
        d["min_fit_score"] = rng.choice([55, 65, 75])
    if rng.random() < 0.15:
        d["min_days_left"] = rng.choice([7, 14, 21])
    return d


def make_rules(n: int, seed: int = SEED) -> Iterator[Rules]:
    """n compiled profiles, streamed (a million Criteria objects would not fit at once).
    The generator writes valid, normalised values, so Criteria are built without
    re-validation (model_construct); the tests validate the same shapes."""
    rng = random.Random(seed)
    codes = [c for r in real_rows() for c in r.cpv_codes]
    centres = [o for o in places.outcodes() if o.startswith(SE_PREFIXES)]
    for i in range(1, n + 1):
        data = profile_data(rng, codes, centres)
        defaults = Criteria()
        c = Criteria.model_construct(**{**defaults.model_dump(), **data})
        yield compile_rules(i, i, c)


def build_index(n: int, shards: int, keep_rules: bool) -> tuple[ProfileIndex, float]:
    t = time.perf_counter()
    index = ProfileIndex(n_shards=shards, keep_rules=keep_rules)
    chunk: list[Rules] = []
    for r in make_rules(n):
        chunk.append(r)
        if len(chunk) == 50_000:
            index.update(chunk)
            chunk = []
    index.update(chunk)
    index.compile()  # requirements laid along the postings, as after any change
    return index, time.perf_counter() - t


def _reset_peak() -> bool:
    """Start the process's peak resident memory afresh (Linux: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def timed_match(
    facts: list[Facts], index: ProfileIndex, workers: int
) -> tuple[float, float, int, float]:
    """(wall seconds, of which batch preparation, matches, CPU seconds of the process)."""
    cpu = time.process_time()
    t = time.perf_counter()
    batch = prepare_batch(facts, index.vocab, NOW)
    prep = time.perf_counter() - t
    found = match_batch(batch, index, workers)
    return time.perf_counter() - t, prep, len(found), time.process_time() - cpu


RUNS = 3


def timed_runs(
    facts: list[Facts], index: ProfileIndex, workers: int
) -> tuple[float, float, int, float, list[tuple[float, float]]]:
    """``timed_match`` RUNS times: the median run's (wall, preparation, matches, CPU) and
    every run's (wall, CPU): on a machine shared with others one run can be several times
    slower than the next."""
    runs = [timed_match(facts, index, workers) for _ in range(RUNS)]
    mid = sorted(runs)[len(runs) // 2]
    return (*mid, [(r[0], r[3]) for r in runs])


def _runs_text(runs: list[tuple[float, float]]) -> str:
    return ", ".join(f"{w:.2f} s ({c:.2f} CPU s)" for w, c in runs)


def big(args: argparse.Namespace) -> None:
    """The million-profile figures, in a process of their own (peak memory is its own)."""
    rng = random.Random(SEED + 1)
    facts = make_facts(args.notices, rng)
    index, build = build_index(args.big, args.shards, keep_rules=False)
    build_peak = peak_gb()
    reset = _reset_peak()
    took, prep, n, cpu, runs = timed_runs(facts, index, args.workers)
    peak = peak_gb()
    # incremental: 100 new opportunities against every profile
    new = make_facts(100, random.Random(SEED + 2), start_id=10_000_001)
    inc, _, n_inc, inc_cpu = timed_match(new, index, args.workers)
    # a run's changed profiles: 100 replaced in the index (their postings merged in, the
    # requirements laid out again), then matched on their own against the open batch
    # (the welcome digest), as matching.alerts does
    t = time.perf_counter()
    changed = [replace(r, profile_id=7 * i + 1) for i, r in enumerate(make_rules(100, SEED + 3))]
    index.update(changed)
    index.compile()
    upd = time.perf_counter() - t
    small = ProfileIndex(changed)
    welcome, _, n_welcome, _ = timed_match(facts, small, 1)
    print(
        json.dumps(
            {
                "took": took, "prep": prep, "cpu": cpu, "matches": n, "build": build,
                "runs": runs,
                "incremental": inc, "incremental_cpu": inc_cpu, "incremental_matches": n_inc,
                "peak_gb": peak, "peak_reset": reset, "build_peak_gb": build_peak,
                "update": upd, "welcome": welcome, "welcome_matches": n_welcome,
                "index_mb": index.nbytes() / 1e6, "load": _load(),
            }
        )
    )  # fmt: skip


def _load() -> str:
    """The 1-minute load average: on a 2-core machine shared with others, wall time
    stretches with it (the CPU seconds do not)."""
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:
        return "n/a"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--notices", type=int, default=10_000)
    ap.add_argument("--profiles", type=int, default=100_000)
    ap.add_argument("--big", type=int, default=1_000_000)
    ap.add_argument("--plain-notices", type=int, default=20)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only-big", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.only_big:
        big(args)
        return
    print(__doc__.split("\n\n")[2].strip())  # the distributions
    rng = random.Random(SEED)
    t = time.perf_counter()
    facts = make_facts(args.notices, rng)
    facts_s = time.perf_counter() - t
    index, build = build_index(args.profiles, args.shards, keep_rules=True)
    took, prep, n, cpu, runs = timed_runs(facts, index, args.workers)
    # the plain loop on a sample of opportunities against every profile, same rules
    sample = facts[: args.plain_notices]
    rules = index.rules()
    t = time.perf_counter()
    plain = plain_match(sample, rules, NOW)
    plain_s = (time.perf_counter() - t) * args.notices / len(sample)
    batch = prepare_batch(sample, index.vocab, NOW)
    engine = {
        (m.opportunity_id, m.profile_id, m.lot)
        for m in to_matches(match_batch(batch, index), batch)
    }
    equal = engine == set(plain)
    k = args.profiles // 1000
    line(f"match_{args.notices // 1000}k_x_{k}k", took, "s", plain_s, "1 s")
    print(
        f"  {n:,} matches ({n / args.notices:.0f} per opportunity); {args.shards} shards, "
        f"{args.workers} threads, {cpu:.2f} CPU s; machine load {_load()}; batch preparation "
        f"{prep:.2f} s of it; index built in "
        f"{build:.1f} s ({index.nbytes() / 1e6:.0f} MB); opportunity facts (stems, places) "
        f"{facts_s:.2f} s before, once per opportunity; the median of {RUNS} runs: "
        f"{_runs_text(runs)}"
    )
    print(
        f"  plain loop: {len(sample)} opportunities x {args.profiles:,} profiles in "
        f"{plain_s * len(sample) / args.notices:.1f} s, scaled to {args.notices:,}: ratio "
        f"{plain_s / took:.0f}x; engine result on that sample equal to the loop's: {equal} "
        f"({len(plain)} matches)"
    )
    # reasons and scores are built for the matches only, after the engine
    t = time.perf_counter()
    sample_matches = to_matches(match_batch(batch, index), batch, index)
    per = (time.perf_counter() - t) / max(1, len(sample_matches))
    print(f"  reasons and score: {per * 1e6:.0f} us per match, built for the matches only")
    if not equal:
        raise SystemExit("the engine and the plain loop disagree")
    del index, rules
    out = subprocess.run(
        [sys.executable, "-m", "bench.match", "--only-big", "--notices", str(args.notices),
         "--big", str(args.big), "--shards", str(args.shards), "--workers", str(args.workers)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    r = json.loads(out.stdout.strip().splitlines()[-1])
    kb = args.big // 1_000_000
    name = (
        f"match_{args.notices // 1000}k_x_{kb}m"
        if kb
        else f"match_{args.notices // 1000}k_x_{args.big // 1000}k"
    )
    line(name, r["took"], "s", plain_s * args.big / args.profiles, "5 s")
    line(f"{name}_peak_mem", r["peak_gb"], "GB", None, "4 GB")
    line(
        f"match_incremental_100_x_{kb}m" if kb else "match_incremental_100",
        r["incremental"],
        "s",
        plain_s * 100 / args.notices * args.big / args.profiles,
        "n/a",
    )
    held = "while matching (peak reset after building)" if r["peak_reset"] else "whole process"
    print(
        f"  the median of {RUNS} runs: {_runs_text(r['runs'])}; "
        f"{r['matches']:,} matches (held as arrays in parts, one per shard and chunk), "
        f"{r['cpu']:.1f} CPU s, machine load {r['load']} at the end of that process; batch "
        f"preparation {r['prep']:.2f} s of it; index of {args.big:,} profiles built in "
        f"{r['build']:.0f} s ({r['index_mb']:.0f} MB of arrays); peak resident memory "
        f"{held}, the index included; building peaked at {r['build_peak_gb']:.1f} GB; "
        f"baselines: the plain loop's rate scaled"
    )
    print(
        f"  incremental: {r['incremental_matches']:,} matches, {r['incremental_cpu']:.2f} "
        f"CPU s; 100 changed profiles merged into the index of {args.big:,} in "
        f"{r['update']:.2f} s (not rebuilt), then matched on their own against the "
        f"{args.notices:,} open opportunities (the welcome digest) in {r['welcome']:.2f} s: "
        f"{r['welcome_matches']:,} matches"
    )
    counts = Counter(len(x.cpv) for x in make_rules(2000))
    print(f"  (generator check, 2,000 profiles: CPV prefixes per profile {sorted(counts.items())})")


if __name__ == "__main__":
    main()
