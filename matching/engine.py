"""The matcher: profiles compiled once into inverted indexes and numpy arrays.

Per opportunity, topic candidates come from dictionary look-ups (CPV prefixes, keyword
tokens), then value and region tests run as array operations over the candidates, never
as a Python loop over every profile. Every match carries its reasons in plain words.

Rules (a profile matches an opportunity when all hold):
- topic: one of its CPV prefixes starts one of the opportunity's CPV codes, or one of its
  keywords appears in the title or description; a profile with neither takes every topic;
- value: the value (or any lot's value) lies within [min, max]; a notice that states no
  value is kept and says so ("value not stated"), never treated as zero;
- region: a delivery region (or, failing that, the buyer's) and a profile region are the
  same area or one contains the other (UKJ4 contains UKJ45); no region stated is kept;
- the opportunity is still open to bids: an early, planned or tender stage, and a deadline
  not yet passed (or none stated).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from models.classify import money

OPEN_STAGES = frozenset({"pipeline", "early_engagement", "planned", "tender"})
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class ProfileSpec:
    profile_id: int
    organisation_id: int
    cpv_prefixes: Sequence[str] = ()
    keywords: Sequence[str] = ()
    regions: Sequence[str] = ()
    min_value: float | None = None
    max_value: float | None = None


@dataclass(frozen=True)
class OpportunityView:
    """What the matcher needs to know of an opportunity."""

    id: int
    title: str
    description: str = ""
    cpv_codes: Sequence[str] = ()
    regions: Sequence[str] = ()
    buyer_region: str | None = None
    value_amount: float | None = None
    value_currency: str | None = "GBP"
    lot_values: Sequence[float] = ()
    stage: str = "tender"
    deadline: datetime | None = None


@dataclass
class Match:
    organisation_id: int
    profile_id: int
    opportunity_id: int
    reasons: list[str] = field(default_factory=list)


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class ProfileIndex:
    def __init__(self, profiles: Iterable[ProfileSpec]) -> None:
        self.profiles = list(profiles)
        n = len(self.profiles)
        self.profile_ids = np.array([p.profile_id for p in self.profiles], dtype=np.int64)
        self.org_ids = np.array([p.organisation_id for p in self.profiles], dtype=np.int64)
        self.min_value = np.array(
            [p.min_value if p.min_value is not None else -np.inf for p in self.profiles]
        )
        self.max_value = np.array(
            [p.max_value if p.max_value is not None else np.inf for p in self.profiles]
        )
        cpv: dict[str, list[int]] = defaultdict(list)
        kw: dict[str, list[int]] = defaultdict(list)
        region: dict[str, list[int]] = defaultdict(list)
        # per profile: (phrase, its first word, compiled pattern); compiled once here, not
        # per opportunity (re's own cache holds 512 patterns, far fewer than profiles)
        self.phrases: list[list[tuple[str, str, re.Pattern[str]]]] = [[] for _ in range(n)]
        any_topic, any_region = [], []
        for i, p in enumerate(self.profiles):
            prefixes = {c.strip() for c in p.cpv_prefixes if c.strip()}
            for c in prefixes:
                cpv[c].append(i)
            for k in {k.strip().lower() for k in p.keywords if k.strip()}:
                toks = _tokens(k)
                if toks:
                    kw[toks[0]].append(i)
                    pattern = re.compile(r"\b" + r"\W+".join(map(re.escape, toks)) + r"\b")
                    self.phrases[i].append((k, toks[0], pattern))
            if not prefixes and not p.keywords:
                any_topic.append(i)
            regs = {r.strip().upper() for r in p.regions if r.strip()}
            for r in regs:
                region[r].append(i)
            if not regs:
                any_region.append(i)
        self.cpv = {k: np.array(v, dtype=np.int64) for k, v in cpv.items()}
        self.kw = {k: np.array(v, dtype=np.int64) for k, v in kw.items()}
        self.region = {k: np.array(v, dtype=np.int64) for k, v in region.items()}
        self.any_topic = np.array(any_topic, dtype=np.int64)
        self.any_region = np.zeros(n, dtype=bool)
        self.any_region[any_region] = True
        self.max_cpv_len = max((len(k) for k in self.cpv), default=0)

    def __len__(self) -> int:
        return len(self.profiles)


def _topic_candidates(
    index: ProfileIndex, opp: OpportunityView
) -> tuple[np.ndarray, dict[int, list[str]]]:
    why: dict[int, list[str]] = defaultdict(list)
    hits: list[np.ndarray] = [index.any_topic]
    for code in opp.cpv_codes:
        for length in range(1, min(len(code), index.max_cpv_len) + 1):
            arr = index.cpv.get(code[:length])
            if arr is not None:
                hits.append(arr)
                for i in arr.tolist():
                    why[i].append(f"CPV {code} is within your code {code[:length]}")
    text = f"{opp.title}\n{opp.description}".lower()
    seen_tokens = set(_tokens(text))
    for tok in seen_tokens:
        arr = index.kw.get(tok)
        if arr is None:
            continue
        for i in arr.tolist():
            for phrase, first, pattern in index.phrases[i]:
                if first == tok and pattern.search(text):
                    why[i].append(f'mentions "{phrase}"')
                    hits.append(np.array([i], dtype=np.int64))
    return np.unique(np.concatenate(hits)) if hits else np.array([], dtype=np.int64), why


def _region_mask(index: ProfileIndex, cand: np.ndarray, regions: list[str]) -> np.ndarray:
    if not regions:
        return np.ones(len(cand), dtype=bool)
    ok = index.any_region[cand].copy()
    wanted = np.zeros(len(index), dtype=bool)
    for r in regions:
        # the profile's region contains the opportunity's (UKJ4 -> UKJ45) ...
        for length in range(2, len(r) + 1):
            arr = index.region.get(r[:length])
            if arr is not None:
                wanted[arr] = True
        # ... or the opportunity covers the profile's whole area (UKJ -> UKJ45)
        for key, arr in index.region.items():
            if len(key) > len(r) and key.startswith(r):
                wanted[arr] = True
    return ok | wanted[cand]


def match(
    opportunities: Iterable[OpportunityView], index: ProfileIndex, now: datetime
) -> list[Match]:
    out: list[Match] = []
    if len(index) == 0:
        return out
    for opp in opportunities:
        if opp.stage not in OPEN_STAGES or (opp.deadline is not None and opp.deadline <= now):
            continue
        cand, why = _topic_candidates(index, opp)
        if len(cand) == 0:
            continue
        regions = list(opp.regions) or ([opp.buyer_region] if opp.buyer_region else [])
        keep = _region_mask(index, cand, regions)
        values = [
            v
            for v in [opp.value_amount, *opp.lot_values]
            if v is not None and (opp.value_currency in (None, "GBP"))
        ]
        if values:
            vals = np.array(values)
            lo, hi = index.min_value[cand], index.max_value[cand]
            fits = (vals[None, :] >= lo[:, None]) & (vals[None, :] <= hi[:, None])
            keep &= fits.any(axis=1)
        for pos in np.flatnonzero(keep).tolist():
            i = int(cand[pos])
            p = index.profiles[i]
            reasons = list(dict.fromkeys(why.get(i, []))) or ["you asked for every topic"]
            if not values:
                reasons.append("value not stated")
            elif p.min_value is not None or p.max_value is not None:
                reasons.append(f"value {money(values[0])} is within your range")
            if regions and p.regions:
                reasons.append(f"work in {', '.join(regions)}")
            elif not regions:
                reasons.append("no delivery region stated")
            if opp.deadline is not None:
                reasons.append(f"{(opp.deadline - now).days} days left to respond")
            out.append(Match(p.organisation_id, p.profile_id, opp.id, reasons))
    return out
