"""The matching rules, stated once in plain Python: what an opportunity is to the matcher
(``Facts``), what a profile asks for once compiled (``Rules``), and ``plain_match``, the
obvious loop over opportunities x profiles that the engine must agree with exactly (a
Hypothesis test checks it on the real captures; ``bench-match`` on a sample).

A profile matches an opportunity when every requirement it states holds (a criterion left
empty does not restrict):
- live: an early notice, a tender or a subcontract whose deadline has not passed (or has
  none), or an award notice;
- stage: the opportunity's stage is one the profile asks for (early notice, tender,
  subcontract, award; a subcontract notice is "subcontract" whatever its stage);
- topic: one of its CPV codes starts with one of the profile's prefixes, or one of its
  sectors is one the profile names, or one of the profile's keyword phrases appears in the
  text (word stems, words in order: "cater" finds "Catering services");
- exclusions: none of the excluded prefixes, sectors or phrases applies;
- value: the value (net, else gross; pounds only) lies within the range, or no value is
  stated and the profile takes "value not stated" (it does unless it says otherwise);
- area: a profile region and a region of the work contain one another (UKJ4 and UKJ45; UKJ,
  the South East, and UKJ45), or a profile district is the buyer's district or lies in a
  region of the work of NUTS2 level or finer (Swale lies in UKJ43 and UKJ4, not "in" the
  whole South East; a Kent County Council buyer counts for every district), or the buyer's
  postcode district lies within the radius (centroid to centroid) or a region of the work
  of NUTS2 level or finer contains the radius's centre area; an opportunity that states no
  place at all (no region, no buyer district or postcode) is kept;
- SME/VCSE: marked suitable for one the profile asks for; fit score at least the lowest
  asked; days left to respond at least the fewest asked (no deadline: kept).
Lots: the opportunity as a whole is tried first; failing that, each lot in turn, as the
opportunity with the lot's own value (when it states one) and the lot's title added to its
text. The first lot that matches is named in the alert.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

import numpy as np
import Stemmer

from models.classify.fit import EARLY_STAGES
from models.classify.kent_postcodes import DISTRICT_AREA, KENT
from models.subscribers import places
from models.subscribers.criteria import Criteria

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_REGION = re.compile(r"^UK[A-Z0-9]{0,3}$")
CATEGORY_BIT = {"early": 1, "tender": 2, "subcontract": 4, "award": 8}
SUITABLE_BIT = {"sme": 1, "vcse": 2}
NO_MATCH = -1  # plain_match_one: the profile does not match
# A region says the work is near a district or a postcode only from NUTS2 down (UKJ4 Kent,
# UKJ45 Mid Kent): "the South East" (UKJ) or "the UK" is no sign of work near Maidstone.
LOCAL_REGION = 4


@cache
def _stemmer() -> Any:
    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def stems(text: str) -> tuple[str, ...]:
    """Snowball English stems of the words of a text: 'Catering services' -> ('cater',
    'servic')."""
    return tuple(_stemmer().stemWords(words(text)))


def stem_words(tokens: list[str]) -> list[str]:
    return list(_stemmer().stemWords(tokens))


@lru_cache(maxsize=1 << 18)
def word_hash(stem: str) -> int:
    """A stem's 64-bit name (blake2b): the same in every process, never 0 (0 ends a
    segment). The engine finds profile words in texts by these numbers."""
    return int.from_bytes(hashlib.blake2b(stem.encode(), digest_size=8).digest(), "little") or 1


def token_bytes(segments: Iterable[Sequence[str]]) -> bytes:
    """The stems of these segments as uint64 ``word_hash`` numbers, each segment followed
    by a 0: the engine reads a whole batch's texts with one ``np.frombuffer``."""
    out: list[int] = []
    for seg in segments:
        out.extend(map(word_hash, seg))
        out.append(0)
    return np.array(out, dtype=np.uint64).tobytes()


def category(stage: str | None, is_subcontract: bool | None) -> str | None:
    """The stage a profile chooses from: early, tender, subcontract or award; None for a
    notice that is none of them (cancelled, terminated, unknown)."""
    if stage == "award":
        return "award"
    if stage in EARLY_STAGES or stage == "tender":
        if is_subcontract:
            return "subcontract"
        return "early" if stage in EARLY_STAGES else "tender"
    return None


def days_left(deadline: datetime | None, now: datetime) -> int | None:
    """Whole days from now to the deadline (rounded down); None without a deadline."""
    if deadline is None:
        return None
    return math.floor((deadline - now).total_seconds() / 86400)


def _nuts(code: str) -> str:
    text = code.strip().upper()
    return "UK" + text[2:] if text.startswith("TL") else text


def _pounds(amount: float | None, currency: str | None) -> float | None:
    return amount if amount is not None and currency in (None, "GBP") else None


@dataclass(frozen=True, slots=True)
class LotFacts:
    index: int  # 1-based position among the opportunity's lots
    id: str
    title: str
    value: float | None  # the lot's own value in pounds, else the whole's (None: not stated)
    title_stems: tuple[str, ...]
    title_tokens: bytes = b""  # token_bytes((title_stems,))


@dataclass(frozen=True, slots=True)
class Facts:
    """What the matcher knows of an opportunity, derived once from its stored row."""

    id: int
    title: str
    cpv_codes: tuple[str, ...]
    sectors: frozenset[str]
    regions: tuple[str, ...]  # NUTS codes of the work, else the buyer's region
    buyer_area: str | None  # Kent district of the buyer, "Kent" for the county council
    outcode: int | None  # the buyer's postcode district (places.outcode_index)
    has_place: bool
    category: str | None
    deadline: datetime | None
    fit_score: int
    sme: bool
    vcse: bool
    value: float | None  # pounds; None: not stated
    segments: tuple[tuple[str, ...], ...]  # stems of the title and of the description
    lots: tuple[LotFacts, ...]
    tokens: bytes = b""  # token_bytes(segments), made once with the stems

    def live(self, now: datetime) -> bool:
        if self.category is None:
            return False
        return self.category == "award" or self.deadline is None or self.deadline > now


def facts_from(o: Any) -> Facts:
    """Facts of an Opportunity row (or anything with its attributes)."""
    currency = getattr(o, "value_currency", None)
    amount = o.value_amount if o.value_amount is not None else o.value_amount_gross
    whole = _pounds(amount, currency)
    raw_regions = [r for r in (o.regions or []) if isinstance(r, str) and r.strip()]
    if not raw_regions and o.buyer_region:
        raw_regions = [o.buyer_region]
    regions = tuple(dict.fromkeys(r for r in map(_nuts, raw_regions) if _REGION.match(r)))
    outcode = places.outcode_index(o.buyer_postcode) if o.buyer_postcode else None
    lots = []
    for i, lot in enumerate(o.lots or [], 1):
        lot_currency = lot.get("value_currency") or currency
        own = _pounds(lot.get("value_amount"), lot_currency)
        title = str(lot.get("title") or "")
        title_stems = stems(title)
        lots.append(
            LotFacts(
                index=i,
                id=str(lot.get("id") or i),
                title=title,
                value=own if own is not None else whole,
                title_stems=title_stems,
                title_tokens=token_bytes((title_stems,)),
            )
        )
    segments = (stems(o.title or ""), stems(o.description or ""))
    return Facts(
        id=o.id or 0,
        title=o.title or "",
        cpv_codes=tuple(c for c in (o.cpv_codes or []) if isinstance(c, str)),
        sectors=frozenset(o.sectors or []),
        regions=regions,
        buyer_area=o.buyer_area,
        outcode=outcode,
        has_place=bool(raw_regions or o.buyer_area or outcode is not None),
        category=category(o.stage, o.is_subcontract),
        deadline=o.deadline,
        fit_score=int(o.fit_score if o.fit_score is not None else 50),
        sme=bool(o.sme_suitable),
        vcse=bool(o.vcse_suitable),
        value=whole,
        segments=segments,
        lots=tuple(lots),
        tokens=token_bytes(segments),
    )


@dataclass(frozen=True, slots=True)
class Rules:
    """A profile's criteria compiled for matching (stems, sets, numbers)."""

    profile_id: int
    organisation_id: int
    cpv: frozenset[str]
    sectors: frozenset[str]
    phrases: tuple[tuple[str, ...], ...]
    x_cpv: frozenset[str]
    x_sectors: frozenset[str]
    x_phrases: tuple[tuple[str, ...], ...]
    lo: float
    hi: float
    value_not_stated: bool
    regions: frozenset[str]
    districts: frozenset[str]
    centre: int | None  # outcode index of the radius's centre
    radius: float | None
    centre_area: str | None  # NUTS3 of a Kent centre (ME10 -> UKJ43)
    stages: frozenset[str]
    suitable: frozenset[str]
    min_fit: int | None
    min_days: int | None

    @property
    def has_topic(self) -> bool:
        return bool(self.cpv or self.sectors or self.phrases)

    @property
    def has_area(self) -> bool:
        return bool(self.regions or self.districts or self.centre is not None)

    @property
    def has_exclusions(self) -> bool:
        return bool(self.x_cpv or self.x_sectors or self.x_phrases)


def compile_rules(profile_id: int, organisation_id: int, c: Criteria) -> Rules:
    centre = places.outcode_index(c.postcode) if c.postcode else None
    return Rules(
        profile_id=profile_id,
        organisation_id=organisation_id,
        cpv=frozenset(c.cpv_prefixes),
        sectors=frozenset(c.sectors),
        phrases=tuple(dict.fromkeys(s for s in map(stems, c.keywords) if s)),
        x_cpv=frozenset(c.exclude_cpv),
        x_sectors=frozenset(c.exclude_sectors),
        x_phrases=tuple(dict.fromkeys(s for s in map(stems, c.exclude_keywords) if s)),
        lo=c.min_value if c.min_value is not None else -math.inf,
        hi=c.max_value if c.max_value is not None else math.inf,
        value_not_stated=c.value_not_stated,
        regions=frozenset(c.regions),
        districts=frozenset(c.districts),
        centre=centre,
        radius=c.radius_miles if centre is not None else None,
        centre_area=places.postcode_area(c.postcode) if c.postcode else None,
        stages=frozenset(c.stages),
        suitable=frozenset(c.suitable_for),
        min_fit=c.min_fit_score,
        min_days=c.min_days_left,
    )


# --- the rules, one by one -----------------------------------------------------------
def has_phrase(segments: Iterable[Sequence[str]], phrase: Sequence[str]) -> bool:
    n = len(phrase)
    for seg in segments:
        for i in range(len(seg) - n + 1):
            if seg[i] == phrase[0] and tuple(seg[i : i + n]) == tuple(phrase):
                return True
    return False


def cpv_hits(codes: Iterable[str], prefixes: frozenset[str]) -> list[tuple[str, str]]:
    """(code, prefix) for each of the opportunity's codes within one of the prefixes."""
    return [(code, code[:k]) for code in codes for k in range(1, 9) if code[:k] in prefixes]


def topic_ok(r: Rules, f: Facts, segments: Sequence[Sequence[str]]) -> bool:
    if not r.has_topic:
        return True
    return (
        bool(cpv_hits(f.cpv_codes, r.cpv))
        or bool(r.sectors & f.sectors)
        or any(has_phrase(segments, p) for p in r.phrases)
    )


def excluded(r: Rules, f: Facts, segments: Sequence[Sequence[str]]) -> bool:
    return (
        bool(cpv_hits(f.cpv_codes, r.x_cpv))
        or bool(r.x_sectors & f.sectors)
        or any(has_phrase(segments, p) for p in r.x_phrases)
    )


def value_ok(r: Rules, value: float | None) -> bool:
    return r.value_not_stated if value is None else r.lo <= value <= r.hi


def area_ok(r: Rules, f: Facts) -> bool:
    if not r.has_area or not f.has_place:
        return True
    regions = f.regions
    if any(q.startswith(x) or x.startswith(q) for x in regions for q in r.regions):
        return True
    local = [x for x in regions if len(x) >= LOCAL_REGION]
    if r.districts and (
        f.buyer_area in r.districts
        or f.buyer_area == KENT
        or any(DISTRICT_AREA[d].startswith(x) for d in r.districts for x in local)
    ):
        return True
    if r.centre is not None and r.radius is not None:
        if f.outcode is not None and places.distance_miles(f.outcode, r.centre) <= r.radius:
            return True
        if r.centre_area is not None and any(r.centre_area.startswith(x) for x in local):
            return True
    return False


def opportunity_ok(r: Rules, f: Facts, now: datetime) -> bool:
    """The requirements on the opportunity as a whole (not on one lot)."""
    if f.category not in r.stages or not area_ok(r, f):
        return False
    if r.suitable and not (("sme" in r.suitable and f.sme) or ("vcse" in r.suitable and f.vcse)):
        return False
    if r.min_fit is not None and f.fit_score < r.min_fit:
        return False
    if r.min_days is not None and f.category != "award":
        left = days_left(f.deadline, now)
        if left is not None and left < r.min_days:
            return False
    return True


def unit_ok(r: Rules, f: Facts, segments: Sequence[Sequence[str]], value: float | None) -> bool:
    return topic_ok(r, f, segments) and not excluded(r, f, segments) and value_ok(r, value)


def plain_match_one(r: Rules, f: Facts, now: datetime) -> int:
    """NO_MATCH, 0 (the whole opportunity matches) or the 1-based index of the first
    matching lot."""
    if not f.live(now) or not opportunity_ok(r, f, now):
        return NO_MATCH
    if unit_ok(r, f, f.segments, f.value):
        return 0
    for lot in f.lots:
        if unit_ok(r, f, (*f.segments, lot.title_stems), lot.value):
            return lot.index
    return NO_MATCH


def plain_match(
    facts: Iterable[Facts], rules: Sequence[Rules], now: datetime
) -> list[tuple[int, int, int]]:
    """Every (opportunity id, profile id, lot index or 0) the rules say match: the plain
    double loop the engine is checked against."""
    out = []
    for f in facts:
        for r in rules:
            lot = plain_match_one(r, f, now)
            if lot != NO_MATCH:
                out.append((f.id, r.profile_id, lot))
    return out
