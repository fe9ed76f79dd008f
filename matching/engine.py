"""The engine: a batch of opportunities against the compiled profiles, in array steps.

1. ``prepare_batch``: each live opportunity becomes units (the whole, then each lot), each
   unit its topic features (CPV prefixes and sectors by dictionary look-up, once per
   distinct code; keyword phrases found by walking the phrase prefixes over the word
   numbers of all texts at once, read with one ``np.frombuffer``) and its opportunity's
   area features; the (topic, area) pairs of every unit become int64 query keys, in unit
   order. Done once per batch, whatever the number of shards.
2. ``_match_chunks``: each key finds its run of the shard's postings (``np.searchsorted`` on
   the distinct keys), cut to the profiles whose high bound of value the unit passes (the
   run is ordered by it); the batch is taken in chunks of whole opportunities of about
   ``CHUNK_CANDIDATES`` candidates, (unit, profile) pairs that already satisfy the topic
   and area groups. Every other number and bit (value, fit, days left, stage, SME/VCSE,
   "value not stated") is tested at once on one packed int64 word per candidate
   (``matching.index.Layout``); then the radius distance (candidates found through a grid
   cell), exclusions, and one match per opportunity and profile by a sort of the chunk:
   the whole opportunity before its first lot.
3. ``explain``: reasons in words and a relevance score, built only for the matches.

Profile parts (``ProfileIndex.split``, ``part=``) are independent: ``match`` on each and
``join`` gives the whole index's matches, so parts can go to different workers.
``matching.rules.plain_match`` states the same rules as a plain loop; the tests check that
the two agree on every pair.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from matching.index import (
    AREA_BITS,
    FORBID_BITS,
    KENT_BUYER,
    NAN_BIT,
    STAR,
    SUIT_SHIFT,
    Packed,
    ProfileIndex,
    Shard,
    Vocab,
    ancestors,
)
from matching.rules import (
    CATEGORY_BIT,
    LOCAL_REGION,
    SUITABLE_BIT,
    Facts,
    Rules,
    cpv_hits,
    days_left,
    excluded,
    has_phrase,
    token_bytes,
)
from models.classify.bands import money
from models.classify.kent_postcodes import DISTRICT_AREA, KENT
from models.subscribers import places
from models.subscribers.criteria import STAGE_LABEL

NO_LIMIT_DAYS = np.iinfo(np.int32).max


@dataclass
class Batch:
    """A batch of live opportunities, as arrays the shards are matched against."""

    facts: list[Facts]
    now: datetime
    unit_opp: np.ndarray  # unit -> position in facts
    unit_rank: np.ndarray  # 0: the whole opportunity; i: its lot i
    unit_value: np.ndarray  # pounds; NaN: not stated
    unit_cat: np.ndarray  # CATEGORY_BIT of its opportunity
    unit_suit: np.ndarray  # SUITABLE_BIT flags
    unit_offer: np.ndarray  # stage, SME/VCSE state, no value: bits (matching.index.Packed)
    unit_fit: np.ndarray
    unit_days: np.ndarray  # days left; NO_LIMIT_DAYS when no limit applies
    unit_outcode: np.ndarray  # buyer's outward code index, -1
    n_topics: int
    unit_feature_keys: np.ndarray  # sorted unit * n_topics + topic feature (no "*")
    comp_q: np.ndarray  # (topic << 32 | area) keys of units with a place, in unit order
    comp_q_unit: np.ndarray  # ascending
    topic_q: np.ndarray  # topic keys of units that state no place, in unit order
    topic_q_unit: np.ndarray  # ascending
    max_rank: int

    @property
    def n_units(self) -> int:
        return len(self.unit_opp)


def _phrase_hits(texts: np.ndarray, vocab: Vocab) -> tuple[np.ndarray, np.ndarray]:
    """(segment, topic feature) for every profile phrase found in the texts (``word_hash``
    numbers, each segment ended by a 0): the words looked up at once among the profile
    words' numbers, phrases grown word by word through the prefix table."""
    first, levels, complete = vocab.phrase_tables()
    hashes, ids = vocab.word_lookup()
    seg_of = np.cumsum(texts == 0) - (texts == 0)
    if not len(texts) or not len(hashes):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    at = np.minimum(np.searchsorted(hashes, texts), len(hashes) - 1)
    tokens = np.where((hashes[at] == texts) & (texts != 0), ids[at], -1)
    pos = np.flatnonzero(tokens >= 0)
    pid = first[tokens[pos]]
    keep = pid >= 0
    pos, pid = pos[keep], pid[keep]
    hit_seg: list[np.ndarray] = []
    hit_feat: list[np.ndarray] = []
    for k in range(len(levels) + 1):
        if k:
            keys, values = levels[k - 1]
            nxt = pos + k
            ok = nxt < len(tokens)
            pos, pid, nxt = pos[ok], pid[ok], nxt[ok]
            w = tokens[nxt]
            ok = w >= 0
            pos, pid, w = pos[ok], pid[ok], w[ok]
            if not len(keys) or not len(pos):
                break
            q = (pid << 24) | w
            at = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
            ok = keys[at] == q
            pos, pid = pos[ok], values[at[ok]]
        feat = complete[pid]
        found = feat >= 0
        hit_seg.append(seg_of[pos[found]])
        hit_feat.append(feat[found])
        if not len(pos):
            break
    return np.concatenate(hit_seg), np.concatenate(hit_feat)


def _opp_area_ids(f: Facts, vocab: Vocab) -> list[int]:
    keys: list[str] = []
    for x in f.regions:
        keys.extend("r:" + a for a in ancestors(x))
        keys.append("rd:" + x)
    if f.buyer_area:
        keys.append("dd:" + f.buyer_area)
        if f.buyer_area == KENT:
            keys.append(KENT_BUYER)
    if f.outcode is not None:
        keys.append(f"g:{places.cell_of(f.outcode)}")
    ids = {vocab.area[k] for k in keys if k in vocab.area}
    return [STAR, *sorted(ids)]


def _cartesian(
    t_ptr: np.ndarray, t_feat: np.ndarray, a_ptr: np.ndarray, a_feat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, every (topic, area) pair of its two lists, as (row, topic << 32 | area)."""
    nt = np.diff(t_ptr)
    na = np.diff(a_ptr)
    tot = nt * na
    rows = np.repeat(np.arange(len(nt)), tot)
    k = np.arange(int(tot.sum()), dtype=np.int64) - np.repeat(np.cumsum(tot) - tot, tot)
    na_r = na[rows]
    t = t_feat[t_ptr[rows] + k // na_r]
    a = a_feat[a_ptr[rows] + k % na_r]
    return rows, (t << AREA_BITS) | a


def prepare_batch(facts: Iterable[Facts], vocab: Vocab, now: datetime) -> Batch:
    live = [f for f in facts if f.live(now)]
    topic = vocab.topic
    # segments: each opportunity's title and description, then its lots' titles
    texts: list[bytes] = []
    seg_unit_scope: list[tuple[int, int]] = []  # (opportunity, lot rank or 0 for all units)
    for i, f in enumerate(live):
        texts.append(f.tokens or token_bytes(f.segments))
        seg_unit_scope.extend((i, 0) for _ in f.segments)
        for lot in f.lots:
            texts.append(lot.title_tokens or token_bytes((lot.title_stems,)))
            seg_unit_scope.append((i, lot.index))
    hit_seg, hit_feat = _phrase_hits(np.frombuffer(b"".join(texts), np.uint64), vocab)
    whole_feats: list[set[int]] = [set() for _ in live]
    lot_feats: dict[tuple[int, int], set[int]] = {}
    for s, fid in zip(hit_seg.tolist(), hit_feat.tolist(), strict=True):
        i, rank = seg_unit_scope[s]
        if rank == 0:
            whole_feats[i].add(fid)
        else:
            lot_feats.setdefault((i, rank), set()).add(fid)
    unit_opp: list[int] = []
    unit_rank: list[int] = []
    unit_value: list[float] = []
    t_lists: list[list[int]] = []
    a_lists: list[list[int]] = []
    with_place: list[bool] = []
    opp_cat, opp_suit, opp_fit, opp_days, opp_out = [], [], [], [], []
    code_feats: dict[str, list[int]] = {}  # a CPV code -> the profile prefixes it is in

    def prefixes_of(code: str) -> list[int]:
        got = code_feats.get(code)
        if got is None:
            keys = ("c:" + code[:k] for k in range(1, min(len(code), 8) + 1))
            got = code_feats[code] = [f for f in map(topic.get, keys) if f is not None]
        return got

    for i, f in enumerate(live):
        base = set(whole_feats[i])
        for code in f.cpv_codes:
            base.update(prefixes_of(code))
        for s in f.sectors:
            fid = topic.get("s:" + s)
            if fid is not None:
                base.add(fid)
        areas = _opp_area_ids(f, vocab) if f.has_place else []
        units = [(0, f.value, base)] + [
            (lot.index, lot.value, base | lot_feats.get((i, lot.index), set())) for lot in f.lots
        ]
        for rank, value, feats in units:
            unit_opp.append(i)
            unit_rank.append(rank)
            unit_value.append(np.nan if value is None else value)
            t_lists.append(sorted(feats))
            a_lists.append(areas)
            with_place.append(f.has_place)
        opp_cat.append(CATEGORY_BIT[f.category or "tender"])
        opp_suit.append(
            (SUITABLE_BIT["sme"] if f.sme else 0) | (SUITABLE_BIT["vcse"] if f.vcse else 0)
        )
        opp_fit.append(f.fit_score)
        left = days_left(f.deadline, now)
        opp_days.append(NO_LIMIT_DAYS if f.category == "award" or left is None else left)
        opp_out.append(-1 if f.outcode is None else f.outcode)
    uo = np.array(unit_opp, dtype=np.int64)
    n_topics = len(topic)
    lens = np.array([len(t) for t in t_lists], dtype=np.int64)
    flat_t = np.fromiter((x for t in t_lists for x in t), dtype=np.int64, count=int(lens.sum()))
    unit_keys = np.sort(
        np.repeat(np.arange(len(t_lists), dtype=np.int64), lens) * n_topics + flat_t
    )
    # query keys: every unit's topics (and "*") x its opportunity's areas
    t_ptr = np.zeros(len(t_lists) + 1, dtype=np.int64)
    t_ptr[1:] = np.cumsum(lens + 1)
    t_feat = np.fromiter(
        (x for t in t_lists for x in (STAR, *t)), dtype=np.int64, count=int(t_ptr[-1])
    )
    place = np.array(with_place, dtype=bool)
    a_len = np.array([len(a) for a in a_lists], dtype=np.int64)
    a_ptr = np.zeros(len(a_lists) + 1, dtype=np.int64)
    a_ptr[1:] = np.cumsum(a_len)
    a_feat = np.fromiter((x for a in a_lists for x in a), dtype=np.int64, count=int(a_ptr[-1]))
    comp_q_unit, comp_q = _cartesian(t_ptr, t_feat, a_ptr, a_feat)  # in unit order
    t_rows = np.repeat(np.arange(len(t_lists)), np.diff(t_ptr))
    sel = ~place[t_rows]
    topic_q, topic_q_unit = t_feat[sel], t_rows[sel]

    def per_unit(values: list[int], dtype: type) -> np.ndarray:
        return np.array(values, dtype=dtype)[uo] if len(uo) else np.zeros(0, dtype)

    values = np.array(unit_value, dtype=np.float64)
    unit_cat, unit_suit = per_unit(opp_cat, np.uint8), per_unit(opp_suit, np.uint8)
    offer = unit_cat.astype(np.uint16) | (np.uint16(1) << (SUIT_SHIFT + unit_suit)).astype(
        np.uint16
    )
    offer |= np.isnan(values).astype(np.uint16) * np.uint16(NAN_BIT)

    return Batch(
        facts=live,
        now=now,
        unit_opp=uo,
        unit_rank=np.array(unit_rank, dtype=np.int64),
        unit_value=values,
        unit_cat=unit_cat,
        unit_suit=unit_suit,
        unit_offer=offer,
        unit_fit=per_unit(opp_fit, np.int16),
        unit_days=per_unit(opp_days, np.int32),
        unit_outcode=per_unit(opp_out, np.int32),
        n_topics=n_topics,
        unit_feature_keys=unit_keys,
        comp_q=comp_q,
        comp_q_unit=comp_q_unit,
        topic_q=topic_q,
        topic_q_unit=topic_q_unit,
        max_rank=max(unit_rank, default=0),
    )


CHUNK_CANDIDATES = 1 << 17  # candidates looked at in one go (cache; 1 << 21 took 50% more)


@dataclass
class ShardMatches:
    """Matches of one shard: per match the opportunity (position in the batch), the
    profile and organisation ids, and the lot (0: the whole opportunity)."""

    opp: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    profile_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    organisation_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    lot: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))

    def __len__(self) -> int:
        return len(self.opp)


@dataclass
class MatchArrays:
    """Every match of a batch as arrays, in parts (one per shard and chunk of the batch),
    which a consumer streams: never copied into one set of arrays (for a million profiles
    that copy alone is most of a gigabyte)."""

    parts: list[ShardMatches] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)


@dataclass
class _Source:
    """The queries of one kind of postings that found something: per query its run of
    postings (start, length) and its unit."""

    packed: Packed
    start: np.ndarray
    count: np.ndarray
    unit: np.ndarray


def _sources(shard: Shard, batch: Batch, offer: list[np.ndarray]) -> list[_Source]:
    """Per query, its run of postings cut to the profiles whose high bound of value the
    unit's value does not pass (the rest of the run)."""
    out = []
    for which, keys, q, q_unit in (
        ("comp", shard.comp_key, batch.comp_q, batch.comp_q_unit),
        ("topic", shard.topic_key, batch.topic_q, batch.topic_q_unit),
    ):
        if not len(keys) or not len(q):
            continue
        pk = shard.packed(which)
        at = np.minimum(np.searchsorted(pk.run_key, q), len(pk.run_key) - 1)
        hit = np.flatnonzero(pk.run_key[at] == q)
        at, q_unit = at[hit], q_unit[hit]
        u_hi = pk.layout.field_of(offer, 1)
        end = np.searchsorted(pk.hi_key, (at << 32) | u_hi[q_unit], side="right")
        start = pk.run_start[at]
        keep = np.flatnonzero(end > start)
        out.append(_Source(pk, start[keep], (end - start)[keep], q_unit[keep]))
    return out


def _runs(start: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The positions of every run, one after the other."""
    offsets = np.cumsum(count) - count
    return np.arange(int(offsets[-1] + count[-1]), dtype=np.int64) - np.repeat(
        offsets - start, count
    )


def _candidates(
    src: _Source, lo: int, hi: int, batch: Batch, offer: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """(unit, slot) of the candidates of units lo..hi-1 that pass the tests on numbers
    and bits (value, stage, SME/VCSE, fit, days left) and, found through a grid cell, the
    distance."""
    a, b = np.searchsorted(src.unit, [lo, hi])
    if a == b:
        return np.zeros(0, np.int64), np.zeros(0, np.int32)
    count, q_unit = src.count[a:b], src.unit[a:b]
    pos = _runs(src.start[a:b], count)
    pk = src.packed
    ok: np.ndarray | None = None
    for word, guard, have in zip(pk.words, pk.layout.guards, offer, strict=True):
        met = np.repeat(have[q_unit], count)
        met -= word[pos]
        met &= guard
        ok = met == guard if ok is None else ok & (met == guard)
    if ok is None:
        ok = np.ones(len(pos), bool)
    keep = np.flatnonzero(ok)
    pos = pos[keep]
    unit = np.repeat(q_unit, count)[keep]
    # radius: a candidate found through a grid cell must be within the radius
    ci = np.flatnonzero(pk.cell[pos])
    if len(ci):
        table = places.distance_table()
        at = batch.unit_outcode[unit[ci]].astype(np.int64) * table.shape[1] + pk.centre[pos[ci]]
        far = ci[~(table.ravel()[at] <= pk.radius[pos[ci]])]
        if len(far):
            ok = np.ones(len(pos), bool)
            ok[far] = False
            pos, unit = pos[ok], unit[ok]
    return unit, pk.slot[pos]


def _offer(shard: Shard, batch: Batch) -> list[np.ndarray]:
    """Each unit's numbers as the shard's requirement words (``matching.index.Layout``):
    its value as positions in the shard's value bounds (in a profile's range when
    lo_r < right and left <= hi_r; a unit without a value passes both), fit, days left."""
    pk = shard.packed("comp")
    t = pk.thresholds
    v = batch.unit_value
    nan = np.isnan(v)
    right = np.where(nan, len(t) + 1, np.searchsorted(t, v, side="right"))
    left = np.where(nan, -1, np.searchsorted(t, v, side="left"))
    room = [1 - ((batch.unit_offer >> b) & 1) for b in range(FORBID_BITS)]
    return pk.layout.offer([right, len(t) - left, batch.unit_fit, batch.unit_days, *room])


def _match_chunks(shard: Shard, batch: Batch) -> list[ShardMatches]:
    """Every (opportunity, profile, lot) of this shard that matches, a chunk of the batch
    at a time: see the module doc."""
    """The shard's matches, one part per chunk of the batch: whole opportunities of about
    ``CHUNK_CANDIDATES`` candidates each (small enough for the processor's cache)."""
    n_opp = len(batch.facts)
    if not n_opp:
        return []
    offer = _offer(shard, batch)
    sources = _sources(shard, batch, offer)
    if not sources:
        return []
    per_opp = np.zeros(n_opp, np.int64)
    for src in sources:
        per_opp += np.bincount(batch.unit_opp[src.unit], weights=src.count, minlength=n_opp).astype(
            np.int64
        )
    total = np.cumsum(per_opp)
    cuts = np.searchsorted(total, np.arange(CHUNK_CANDIDATES, total[-1], CHUNK_CANDIDATES))
    opp_cuts = np.unique(np.concatenate([[0], cuts + 1, [n_opp]]).clip(0, n_opp))
    unit_cuts = np.searchsorted(batch.unit_opp, opp_cuts)
    slot_bits = max(len(shard.pid) - 1, 1).bit_length()
    rank_bits = max(batch.max_rank, 1).bit_length()
    excluded_table = _excluded_table(shard, batch)
    # per unit, its opportunity and lot rank where they go in a candidate's sort key
    unit_key = (batch.unit_opp << (slot_bits + rank_bits)) | batch.unit_rank
    out = []
    for u0, u1 in zip(unit_cuts[:-1].tolist(), unit_cuts[1:].tolist(), strict=True):
        parts = [_candidates(src, u0, u1, batch, offer) for src in sources]
        unit = np.concatenate([p[0] for p in parts])
        slot = np.concatenate([p[1] for p in parts], dtype=np.int64)
        if not len(unit):
            continue
        unit, slot = _without_excluded(shard, batch, unit, slot, excluded_table)
        # one per (opportunity, profile): the whole opportunity, else its first lot
        key = slot << rank_bits
        key |= unit_key[unit]
        key.sort()
        pair = key >> rank_bits
        first = np.ones(len(key), bool)
        np.not_equal(pair[1:], pair[:-1], out=first[1:])
        key, pair = key[first], pair[first]
        slot = pair & ((1 << slot_bits) - 1)
        out.append(
            ShardMatches(
                (pair >> slot_bits).astype(np.int32),
                shard.pid[slot],
                shard.org[slot],
                (key & ((1 << rank_bits) - 1)).astype(np.int16),
            )
        )
    return out


MAX_EXCLUDED_TABLE = 1 << 26  # units x excluded features, as bytes


def _excluded_table(shard: Shard, batch: Batch) -> np.ndarray | None:
    """Per unit and feature some profile of the shard excludes, whether the unit has it
    (a small table read at random in cache); None when too large (then searched)."""
    xf = shard.packed("comp").x_features
    if not len(xf) or batch.n_units * len(xf) > MAX_EXCLUDED_TABLE:
        return None
    keys = batch.unit_feature_keys
    feat, unit = keys % batch.n_topics, keys // batch.n_topics
    at = np.minimum(np.searchsorted(xf, feat), len(xf) - 1)
    ok = xf[at] == feat
    table = np.zeros(batch.n_units * len(xf), bool)
    table[unit[ok] * len(xf) + at[ok]] = True
    return table


def _without_excluded(
    shard: Shard, batch: Batch, unit: np.ndarray, slot: np.ndarray, table: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The candidates whose profile excludes none of their unit's features."""
    pk = shard.packed("comp")
    xi = np.flatnonzero(pk.has_x[slot])
    if not len(xi):
        return unit, slot
    rep, pos = _expand_rows(shard.x_ptr, slot[xi])
    if table is not None:
        hit = table[unit[xi][rep] * len(pk.x_features) + pk.x_compact[pos]]
    else:
        probe = unit[xi][rep] * batch.n_topics + shard.x_feat[pos]
        keys = batch.unit_feature_keys
        at = np.minimum(np.searchsorted(keys, probe), max(len(keys) - 1, 0))
        hit = keys[at] == probe if len(keys) else np.zeros(len(probe), bool)
    if not hit.any():
        return unit, slot
    keep = np.ones(len(unit), bool)
    keep[xi[rep[hit]]] = False
    return unit[keep], slot[keep]


def _expand_rows(ptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    counts = ptr[rows + 1] - ptr[rows]
    offsets = np.cumsum(counts) - counts
    pos = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(offsets - ptr[rows], counts)
    return np.repeat(np.arange(len(rows)), counts), pos


def match_batch(batch: Batch, index: ProfileIndex, workers: int = 1) -> MatchArrays:
    """Every shard against the batch (``workers`` threads: numpy lets go of the GIL in
    the long steps), the results joined."""
    if workers > 1 and len(index.shards) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(lambda s: _match_chunks(s, batch), index.shards))
    else:
        parts = [_match_chunks(s, batch) for s in index.shards]
    return MatchArrays([p for chunks in parts for p in chunks])


# --- reasons and relevance, for the matches only ----------------------------------------
@dataclass
class Match:
    organisation_id: int
    profile_id: int
    opportunity_id: int
    lot: int = 0  # 0: the whole opportunity; else the 1-based lot that matched
    lot_id: str | None = None
    lot_title: str | None = None
    reasons: list[str] = field(default_factory=list)
    score: int = 0


def _area_reason(r: Rules, f: Facts) -> tuple[str | None, float]:
    """Why the area fits, and how closely (0..1)."""
    if not r.has_area:
        return None, 0.5
    if not f.has_place:
        return "no place of work stated", 0.3
    for x in f.regions:
        for q in sorted(r.regions):
            if x == q:
                return f"work in {x}, your area", 1.0
            if x.startswith(q):
                return f"work in {x}, within your area {q}", 1.0
            if q.startswith(x):
                return f"work across {x}, which covers your area {q}", 0.6
    if r.districts:
        if f.buyer_area in r.districts:
            return f"the buyer is in {f.buyer_area}", 1.0
        if f.buyer_area == KENT:
            return "bought by Kent County Council for the whole county", 0.7
        for d in sorted(r.districts):
            for x in f.regions:
                if len(x) >= LOCAL_REGION and DISTRICT_AREA[d].startswith(x):
                    return f"work across {x}, which covers {d}", 0.7
    if r.centre is not None and r.radius is not None:
        centre = places.outcodes()[r.centre]
        if f.outcode is not None:
            miles = places.distance_miles(f.outcode, r.centre)
            if miles <= r.radius:
                where = places.outcodes()[f.outcode]
                return (
                    f"the buyer ({where}) is {miles:.0f} miles from {centre}",
                    1.0 - 0.5 * miles / max(r.radius, 1e-9),
                )
        for x in f.regions:
            if len(x) >= LOCAL_REGION and r.centre_area and r.centre_area.startswith(x):
                return f"work across {x}, which covers {centre}", 0.6
    return None, 0.5


def explain(r: Rules, f: Facts, lot: int, now: datetime) -> tuple[list[str], int]:
    """Reasons in words and a relevance score 0-100 for one match. The score orders a
    subscriber's alerts: 45% how specifically the topic matched (a long CPV prefix or
    several phrases beat a whole division), 25% how close the place is, 30% the fit for
    small bidders (models.classify.fit)."""
    reasons: list[str] = []
    chosen = next((x for x in f.lots if x.index == lot), None)
    segments = (*f.segments, chosen.title_stems) if chosen else f.segments
    topic = 0.3
    if r.has_topic:
        hits = cpv_hits(f.cpv_codes, r.cpv)
        for code, prefix in hits[:3]:
            reasons.append(f"CPV {code} is within your code {prefix}")
        if hits:
            topic = max(topic, 0.4 + 0.1 * max(len(p) for _, p in hits))
        for s in sorted(r.sectors & f.sectors):
            reasons.append(f"in your sector {s}")
            topic = max(topic, 0.5)
        phrases = [p for p in r.phrases if has_phrase(segments, p)]
        for p in phrases[:3]:
            reasons.append(f'mentions "{" ".join(p)}"')
        if phrases:
            topic = max(topic, min(1.0, 0.7 + 0.1 * (len(phrases) - 1)))
    else:
        reasons.append("you asked for every topic")
    if r.has_exclusions and not excluded(r, f, segments):
        reasons.append("none of your exclusions applies")
    if chosen is not None:
        worth = f" ({money(chosen.value)})" if chosen.value is not None else ""
        reasons.append(f"lot {chosen.index}: {chosen.title or chosen.id}{worth}")
    value = chosen.value if chosen else f.value
    if value is None:
        reasons.append("value not stated")
    elif r.lo > -np.inf or r.hi < np.inf:
        reasons.append(f"value {money(value)} is within your range")
    where, closeness = _area_reason(r, f)
    if where:
        reasons.append(where)
    if f.category and f.category != "tender":
        reasons.append(STAGE_LABEL[f.category])
    if r.suitable:
        marked = [k.upper() for k in ("sme", "vcse") if k in r.suitable and getattr(f, k)]
        reasons.append(f"marked suitable for {' and '.join(marked)}s")
    if r.min_fit is not None:
        reasons.append(f"fit score {f.fit_score}")
    left = days_left(f.deadline, now)
    if left is not None and f.category != "award":
        reasons.append(f"{left} days left to respond")
    score = round(100 * (0.45 * topic + 0.25 * closeness + 0.30 * f.fit_score / 100))
    return reasons, max(0, min(100, score))


def to_matches(
    found: MatchArrays,
    batch: Batch,
    rules: ProfileIndex | dict[int, Rules] | None = None,
) -> list[Match]:
    """Match objects, with reasons and score when the profiles' rules are given (read part
    by part: the parts are not joined first)."""
    out = []
    for part in found.parts:
        for o, pid, org, lot in zip(
            part.opp.tolist(),
            part.profile_id.tolist(),
            part.organisation_id.tolist(),
            part.lot.tolist(),
            strict=True,
        ):
            f = batch.facts[o]
            chosen = next((x for x in f.lots if x.index == lot), None) if lot else None
            m = Match(
                organisation_id=org,
                profile_id=pid,
                opportunity_id=f.id,
                lot=lot,
                lot_id=chosen.id if chosen else None,
                lot_title=(chosen.title or None) if chosen else None,
            )
            r = rules.rule(pid) if isinstance(rules, ProfileIndex) else (rules or {}).get(pid)
            if r is not None:
                m.reasons, m.score = explain(r, f, lot, batch.now)
            out.append(m)
    return out


def _order(m: Match) -> tuple[int, int, int]:
    return (m.opportunity_id, -m.score, m.profile_id)


def match(
    facts: Iterable[Facts], index: ProfileIndex, now: datetime, workers: int = 1
) -> list[Match]:
    """Every match of these opportunities, with reasons and scores (the index keeps its
    rules), best first per opportunity. On a part of an index (``ProfileIndex.split``,
    ``part=``), the matches of that part's profiles: see ``join``."""
    batch = prepare_batch(facts, index.vocab, now)
    found = match_batch(batch, index, workers)
    out = to_matches(found, batch, index if index.keep_rules else None)
    out.sort(key=_order)
    return out


def join(parts: Iterable[list[Match]]) -> list[Match]:
    """The matches of every profile part of an index, as ``match`` gives them for the
    whole index (the parts hold disjoint profiles: nothing to deduplicate)."""
    out = [m for part in parts for m in part]
    out.sort(key=_order)
    return out
