"""Write pairs.jsonl, the recipe of the labelled dedupe set, from the shared captures.

    python -m bench.pairs.build            # rewrites bench/pairs/pairs.jsonl (seeded)

Deterministic: the same captures and seed give the same file. Choices are made by rules
and a seeded random generator, never by the matcher under test (models.dedupe). The few
real pairs named by id below were found by reading the captures (see README.md).
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

from bench.pairs.recipe import PAIRS_FILE, fixture_records
from models.formats.fields import NoticeFields

SEED = 20251122
CSV = "contracts-finder/cf_search_export_csv_2020-04-16_open_notices_part1_even_rows.csv"
CF = "contracts-finder/cf_ocds_search_2022-10-22_publishedTo_limit100.json"

# Real duplicates across notices with different identifiers, found by reading the captures.
REAL_DUPLICATES = [
    (
        (CSV, "BIP85467447"),
        (CSV, "700432376"),
        "Supply of Apache AH-64E Toolkits: the same MOD requirement published twice "
        "(two portals' identifiers, buyer named at two levels), same value and deadline",
    ),
    (
        (CSV, "BIP85052192"),
        (CSV, "BIP84790109"),
        "DM/00157 De-Greasant Machines: re-published a day later with the deadline moved "
        "three days",
    ),
    (
        (CSV, "BIP84734711"),
        (CSV, "BIP84662391"),
        "Marquees for EX GRIFFIN RISE 20: a correction notice (postponed) re-published "
        "with a new identifier",
    ),
]
# Left out as ambiguous: Cambridgeshire County Council "Home and Community Support
# Services" LGSS001-DN243347-33562871 / -24776034 (one ProContract project; one notice
# closes 2020-04-30, the other 2027-10-31: a DPS and a round of it?).
AMBIGUOUS = {(CSV, "LGSS001-DN243347-33562871"), (CSV, "LGSS001-DN243347-24776034")}

# Real sibling lots / packages of one procurement, published as separate notices.
SIBLING_RULES: list[tuple[str, str, str]] = [
    # (buyer name starts with, title must contain, note)
    ("galliford try", "A303 Sparkford", "Galliford Try A303 sub-contract packages"),
    ("balfour beatty", "A2 Bean", "Balfour Beatty A2 Bean & Ebbsfleet packages"),
    ("highways england", "Free-Flow Charging", "Free-Flow Charging Package A / B"),
    ("highways england", "Concrete Roads Programme", "Concrete Roads design / works"),
    ("essex county council", "Family Innovation Fund", "Family Innovation Fund strands"),
    ("canterbury city council", "Park & Ride", "Park & Ride diesel / zero-emission fleet"),
    ("north tyneside council", "EV076", "EV076 retrofit sub-contractor packages"),
    ("north york moors", "Building Conservation Works", "conservation works, two sites"),
    ("nhs england", "Specialised -", "specialised immunoglobulin products"),
    ("procure plus", "Dynamic Purchasing System", "Procure Plus DPS categories"),
]
ABBREVIATIONS = {
    "and": "&",
    "Services": "Svcs",
    "Service": "Svc",
    "Management": "Mgmt",
    "Maintenance": "Maint.",
    "Programme": "Prog.",
    "Department": "Dept",
    "Provision": "Prov.",
    "International": "Intl",
    "Development": "Dev.",
    "Equipment": "Equip.",
    "University": "Uni",
    "Road": "Rd",
    "Assessment": "Assmt",
    "Framework": "FW",
    "Installation": "Instal.",
    "Replacement": "Repl.",
    "Consultancy": "Consult.",
    "Health": "Hlth",
    "Support": "Supp.",
    "Training": "Trng",
    "Construction": "Constr.",
    "Project": "Proj.",
    "Highways": "Hwys",
    "Vehicle": "Veh.",
    "Council": "Cncl",
    "Borough": "Boro",
}
# Contracts Finder often names the e-tendering portal or shared service that published a
# notice as its organisation (names as they appear in the captures), not the buyer itself.
PORTAL_BUYERS = [
    "Defra Network eTendering Portal",
    "capitalEsourcing",
    "Supply Hertfordshire",
    "SE Shared Services",
    "ATAMIS LTD",
    "Cirrus Purchasing",
]
CALL_OFF_STYLES = [
    "Call-Off Contract {n}",
    "Call Off {n}",
    "Call-off No. {n}",
    "Mini-Competition {n}",
    "Further Competition {n}",
    "Call-Off Order {n}",
]


def _words(title: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9]+", title)


def _initials(buyer: str) -> str:
    caps = [w[0].upper() for w in _words(buyer) if w[0].isalpha() and w.lower() != "of"]
    return "".join(caps[:4]) or "REF"


class Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.records = fixture_records()
        self.rows: list[dict[str, Any]] = []
        self.used: set[frozenset[tuple[str, str]]] = set()
        # one representative per OCID (the other releases of it are the same notice)
        seen: dict[str, tuple[str, str]] = {}
        for key, rec in sorted(self.records.items()):
            seen.setdefault(rec.ocid, key)
        self.reps = sorted(seen.values())

    def rec(self, key: tuple[str, str]) -> NoticeFields:
        return self.records[key]

    def add(
        self,
        kind: str,
        label: int,
        a: tuple[str, str],
        b: tuple[str, str],
        note: str,
        da: dict[str, Any] | None = None,
        db: dict[str, Any] | None = None,
    ) -> None:
        n = len(self.rows) + 1
        pid = f"p{n:04d}"
        side_a: dict[str, Any] = {"file": a[0], "record": a[1]}
        side_b: dict[str, Any] = {"file": b[0], "record": b[1]}
        if da is not None:
            side_a["derive"] = {"ocid": f"bidbell-derived-{pid}a", "source_id": f"{pid}a", **da}
        if db is not None:
            side_b["derive"] = {"ocid": f"bidbell-derived-{pid}b", "source_id": f"{pid}b", **db}
        if da is None and db is None:
            self.used.add(frozenset((a, b)))
        self.rows.append(
            {"id": pid, "kind": kind, "label": label, "a": side_a, "b": side_b, "note": note}
        )

    # --- true duplicates -------------------------------------------------------------------
    def real_pairs(self) -> None:
        by_ocid: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for key, rec in sorted(self.records.items()):
            by_ocid[rec.ocid].append(key)
        for ocid, keys in sorted(by_ocid.items()):
            for a, b in combinations(keys, 2):
                self.add("real_pair", 1, a, b, f"two releases of {ocid} (same OCID)")
        for a, b, note in REAL_DUPLICATES:
            self.add("real_pair", 1, a, b, note)

    def republish_spec(self, rec: NoticeFields) -> dict[str, Any]:
        rng = self.rng
        steps: list[list[Any]] = []
        kinds = ["reorder", "abbreviate", "prefix_ref", "prefix_ted", "case", "punct"]
        if len(rec.title) > 60:
            kinds.append("truncate")
        for kind in rng.sample(kinds, rng.choice([1, 2, 2, 3])):
            if kind == "reorder":
                steps.append(["reorder"])
            elif kind == "abbreviate":
                present = {
                    k: v
                    for k, v in ABBREVIATIONS.items()
                    if re.search(rf"(?<!\w){re.escape(k)}(?!\w)", rec.title, re.I)
                }
                if present:
                    chosen = rng.sample(sorted(present), min(len(present), rng.choice([1, 2, 3])))
                    steps.append(["abbreviate", {k: present[k] for k in chosen}])
            elif kind == "prefix_ref":
                year = rec.published_at.year if rec.published_at else 2020
                ref = f"{_initials(rec.buyer_name)}/{year}/{rng.randint(10, 9999):04d}"
                steps.append(
                    ["prefix", rng.choice(["{r} - ", "Ref: {r} - ", "{r} "]).format(r=ref)]
                )
            elif kind == "prefix_ted":
                town = (_words(rec.buyer_name) or ["London"])[0].title()
                steps.append(["prefix", f"GB-{town}: "])
            elif kind == "case":
                steps.append(["case", rng.choice(["upper", "lower", "title"])])
            elif kind == "punct":
                steps.append(["punct"])
            elif kind == "truncate":
                steps.append(["truncate", rng.randint(45, 70), rng.choice(["", "...", " …"])])
        # A portal rewords and cuts its copy first, then puts its own prefix on, then its
        # house style of capitals.
        order = ["reorder", "abbreviate", "punct", "truncate", "prefix", "case"]
        steps.sort(key=lambda step: order.index(step[0]))
        spec: dict[str, Any] = {"title": steps, "drop_buyer_id": True, "drop_lots": True}
        if rng.random() < 0.12:
            spec["buyer"] = [["replace", r"^.*$", rng.choice(PORTAL_BUYERS)]]
        elif rng.random() < 0.5:
            buyer_ops = [
                ["case", "upper"],
                ["case", "title"],
                ["replace", r"\s*&\s*", " and "],
                ["replace", r"^the\s+", ""],
                ["replace", r",.*$", ""],
                ["abbreviate", {"Council": "Cncl", "Borough": "Boro", "Limited": "Ltd"}],
            ]
            spec["buyer"] = [rng.choice(buyer_ops)]
        if rec.value_amount is not None or rec.value_amount_gross is not None:
            spec["value"] = rng.choice(
                [
                    {},
                    {"text": "k"},
                    {"text": "commas"},
                    {"text": "plain"},
                    {"factor": 1.2, "as": "gross"},
                    {"drop": True},
                ]
            )
        if rec.deadline is not None:
            spec["deadline"] = rng.choice(
                [
                    {},
                    {"repr": "utc_wall_as_local"},
                    {"repr": "local_wall_as_utc"},
                    {"repr": "date_only"},
                    {"repr": "date_only_noon"},
                    {"shift_days": 7},
                    {"drop": True},
                ]
            )
        spec["published"] = {"shift_days": rng.choice([0, 0, 1, 2, 3])}
        spec["description"] = rng.choice([None, 200, "drop"])
        spec["drop_cpv"] = rng.random() < 0.5
        return spec

    def derived_duplicates(self, n: int) -> None:
        pool = [k for k in self.reps if len(_words(self.rec(k).title)) >= 3 and k not in AMBIGUOUS]
        by_file: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for k in pool:
            by_file[k[0]].append(k)
        chosen: list[tuple[str, str]] = []
        for f in sorted(by_file):
            share = max(2, round(n * len(by_file[f]) / len(pool)))
            chosen.extend(self.rng.sample(by_file[f], min(share, len(by_file[f]))))
        for key in chosen:
            rec = self.rec(key)
            self.add(
                "derived_duplicate",
                1,
                key,
                key,
                "the real notice re-published by a second portal (steps in b.derive)",
                db=self.republish_spec(rec),
            )
        # A release of a multi-release OCID seen without its OCID (e.g. the CF CSV export).
        by_ocid: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for key, rec in sorted(self.records.items()):
            by_ocid[rec.ocid].append(key)
        for keys in by_ocid.values():
            if len(keys) >= 2:
                a, b = keys[0], keys[-1]
                spec = {"title": [], "drop_buyer_id": True}
                self.add(
                    "derived_duplicate",
                    1,
                    a,
                    b,
                    "a later release of the same OCID, seen without its OCID (as in the CSV "
                    "export)",
                    db=spec,
                )

    # --- hard non-duplicates ---------------------------------------------------------------
    def real_siblings(self) -> None:
        for buyer, phrase, note in SIBLING_RULES:
            keys = [
                k
                for k in self.reps
                if self.rec(k).buyer_name.lower().startswith(buyer)
                and phrase.lower() in self.rec(k).title.lower()
            ]
            if len(keys) < 2:
                raise SystemExit(f"sibling rule found {len(keys)} notices: {buyer} / {phrase}")
            for a, b in combinations(keys, 2):
                self.add("sibling_lot", 0, a, b, f"real: {note}")

    def derived_siblings(self, n_titled: int, n_plain: int) -> None:
        rng = self.rng
        titled = [k for k in self.reps if len(self.rec(k).lots) >= 2]
        for key in rng.sample(titled, min(n_titled, len(titled))):
            rec = self.rec(key)
            la, lb = rng.sample([str(x["id"]) for x in rec.lots], 2)
            style = rng.choice(["number", "number", "letter", "word"])
            where = rng.choice(["dash", "paren"])
            common: dict[str, Any] = {"drop_lots": True}
            if rec.deadline is not None:
                common["deadline"] = {}
            self.add(
                "sibling_lot",
                0,
                key,
                key,
                "two lots of one real notice, each published as its own notice",
                da={**common, "title": [["lot", la, style, where]], "value": {"lot": la}},
                db={**common, "title": [["lot", lb, style, where]], "value": {"lot": lb}},
            )
        plain = [k for k in self.reps if k[0] in (CSV, CF) and len(_words(self.rec(k).title)) >= 3]
        for key in rng.sample(plain, n_plain):
            x, y = rng.sample(range(1, 6), 2)
            fmt = rng.choice([" - Lot {n}", " (Lot {n})", " Lot {n}", " - LOT {n}"])
            self.add(
                "sibling_lot",
                0,
                key,
                key,
                "a real notice split into numbered lots published separately",
                da={"title": [["suffix", fmt.format(n=x)]]},
                db={"title": [["suffix", fmt.format(n=y)]]},
            )

    def call_offs(self, n: int) -> None:
        rng = self.rng
        defra = next(k for k in self.reps if "Call-Off Contract 4" in self.rec(k).title)
        for other, shift in ((3, -35), (5, 42)):
            self.add(
                "call_off",
                0,
                defra,
                defra,
                f"real Call-Off Contract 4 vs derived Call-Off Contract {other}",
                db={
                    "title": [["replace", r"Call-Off Contract 4", f"Call-Off Contract {other}"]],
                    "deadline": {"shift_days": shift},
                    "published": {"shift_days": shift},
                    "value": {"factor": rng.choice([0.8, 1.0, 1.25])},
                },
            )
        suffolk = [k for k in self.reps if self.rec(k).buyer_name.startswith("Suffolk County")]
        for a, b in combinations(suffolk, 2):
            self.add("call_off", 0, a, b, "real: two passenger-transport call-offs (DPS)")
        pool = [
            k
            for k in self.reps
            if k[0] in (CSV, CF)
            and self.rec(k).deadline is not None
            and "call" not in self.rec(k).title.lower()
        ]
        for key in rng.sample(pool, n):
            k = rng.randint(1, 8)
            style = rng.choice(CALL_OFF_STYLES)
            shift = rng.choice([0, 7, 14, 28, 42])
            self.add(
                "call_off",
                0,
                key,
                key,
                "consecutive call-offs under one framework (numbered, derived)",
                da={"title": [["suffix", " - " + style.format(n=k)]]},
                db={
                    "title": [["suffix", " - " + style.format(n=k + 1)]],
                    "deadline": {"shift_days": shift},
                    "published": {"shift_days": shift},
                    "value": {"factor": rng.choice([1.0, 0.8, 1.3])},
                },
            )

    def re_tenders(self, n: int) -> None:
        rng = self.rng
        pool = [k for k in self.reps if self.rec(k).deadline or self.rec(k).published_at]
        for key in rng.sample(pool, n):
            rec = self.rec(key)
            years = rng.choice([1, 1, 1, 2, 3])
            days = 364 * years + rng.choice([0, 1, 7])
            steps: list[list[Any]] = []
            if re.search(r"\b(19|20)\d\d\b", rec.title):
                steps.append(["years", years])
            elif rng.random() < 0.3:
                steps.append(["case", "upper"])
            spec: dict[str, Any] = {
                "title": steps,
                "published": {"shift_days": days},
                "value": rng.choice([{}, {"factor": 1.05}, {"factor": 1.1}]),
            }
            if rec.deadline is not None:
                spec["deadline"] = {"shift_days": days}
            self.add(
                "re_tender",
                0,
                key,
                key,
                f"the same requirement tendered again {years} year(s) later",
                db=spec,
            )

    def different(self, n_same_buyer: int, n_same_day: int, n_alike: int, n_random: int) -> None:
        rng = self.rng
        excluded = set(self.used)
        for a, b, _ in REAL_DUPLICATES:
            excluded.add(frozenset((a, b)))
        reps = [k for k in self.reps if k not in AMBIGUOUS]

        def ok(a: tuple[str, str], b: tuple[str, str]) -> bool:
            return frozenset((a, b)) not in excluded and self.rec(a).ocid != self.rec(b).ocid

        def title_ratio(a: tuple[str, str], b: tuple[str, str]) -> float:
            ta, tb = self.rec(a).title.lower(), self.rec(b).title.lower()
            return fuzz.ratio(ta, tb) / 100

        by_buyer: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for k in reps:
            by_buyer[self.rec(k).buyer_name.lower().strip()].append(k)
        same_buyer = [
            (a, b) for ks in by_buyer.values() for a, b in combinations(ks, 2) if ok(a, b)
        ]
        same_buyer.sort(key=lambda p: (-title_ratio(*p), p))
        top = same_buyer[: n_same_buyer * 2 // 3]
        rest = rng.sample(same_buyer[len(top) :], n_same_buyer - len(top))
        for a, b in top + rest:
            self.add("different", 0, a, b, "real: same buyer, different procurements")
            excluded.add(frozenset((a, b)))
        by_day: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for k in reps:
            d = self.rec(k).deadline
            if d is not None:
                by_day[d.date().isoformat()].append(k)
        same_day = [
            (a, b)
            for ks in by_day.values()
            for a, b in combinations(ks, 2)
            if ok(a, b) and frozenset((a, b)) not in excluded
            and self.rec(a).buyer_name.lower() != self.rec(b).buyer_name.lower()
        ]  # fmt: skip
        for a, b in rng.sample(same_day, n_same_day):
            self.add("different", 0, a, b, "real: same closing day, different buyers")
            excluded.add(frozenset((a, b)))

        def tokens(k: tuple[str, str]) -> set[str]:
            return {w.lower() for w in _words(self.rec(k).title)}

        alike = []
        for a, b in combinations(reps, 2):
            if not ok(a, b) or frozenset((a, b)) in excluded:
                continue
            if self.rec(a).buyer_name.lower() == self.rec(b).buyer_name.lower():
                continue
            ta, tb = tokens(a), tokens(b)
            j = len(ta & tb) / max(1, len(ta | tb))
            if j >= 0.4:
                alike.append((j, a, b))
        alike.sort(key=lambda t: (-t[0], t[1], t[2]))
        for _, a, b in alike[:n_alike]:
            self.add("different", 0, a, b, "real: alike titles, different buyers")
            excluded.add(frozenset((a, b)))
        added = 0
        while added < n_random:
            a, b = rng.sample(reps, 2)
            if ok(a, b) and frozenset((a, b)) not in excluded:
                self.add("different", 0, a, b, "real: two notices at random")
                excluded.add(frozenset((a, b)))
                added += 1


def build(seed: int = SEED) -> list[dict[str, Any]]:
    b = Builder(seed)
    b.real_pairs()
    b.derived_duplicates(120)
    b.real_siblings()
    b.derived_siblings(n_titled=24, n_plain=10)
    b.call_offs(24)
    b.re_tenders(30)
    b.different(n_same_buyer=45, n_same_day=15, n_alike=12, n_random=12)
    return b.rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--out", type=Path, default=PAIRS_FILE)
    args = ap.parse_args()
    rows = build(args.seed)
    with args.out.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=False) + "\n")
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row["kind"]] += 1
    print(f"wrote {len(rows)} pairs to {args.out}: {dict(counts)}")


if __name__ == "__main__":
    main()
