"""Profiles compiled into an index the engine searches with array operations.

Features. Every criterion a profile states becomes discrete features in two groups that
select (the rest are numbers tested on the candidates):
- topic: ``c:<CPV prefix>``, ``s:<sector>``, ``p:<stemmed phrase>``; ``*`` for a profile
  that names no topic;
- area: ``r:<region>`` (the profile's region itself), ``rd:<code>`` for the region and every
  region containing it (so that a notice for UKJ4 finds a profile for UKJ45), the same for
  a district's NUTS3 area and a radius's centre area, ``dd:<district>`` (the buyer's
  district), ``dd:*Kent`` (a county-council buyer counts for every district), ``g:<cell>``
  for the grid cells a radius reaches (the distance itself is checked on the candidates);
  ``*`` for a profile that names no area.
Postings. Each profile is filed under every (topic feature, area feature) pair it has, as
one int64 key (topic << 32 | area), the keys sorted: looking up an opportunity's pairs finds
exactly the profiles whose topic AND area groups it satisfies, and no others, so the
candidates are nearly the matches. A second list files profiles by topic alone, for
opportunities that state no place (the area group holds for every profile then).
Counting. A candidate (unit, profile) then counts its remaining groups as array tests over
the candidates: value, stage, SME/VCSE, fit score, days left, radius distance, exclusions.
It matches when every group it requires holds (``matching.engine``).

Shards. Profiles are split by id into shards, each with its own arrays and postings, each
matched independently (so that shards can go to different workers). A change to a profile
touches its shard only: the old postings are masked out and the new ones merged in (linear
time, no re-sort); a shard is compacted when a quarter of it is dead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from matching.rules import CATEGORY_BIT, LOCAL_REGION, SUITABLE_BIT, Rules, word_hash
from models.classify.kent_postcodes import DISTRICT_AREA
from models.subscribers import places

STAR = 0  # feature id of "*" in both groups
KENT_BUYER = "dd:*Kent"
AREA_BITS = 32
MAX_PHRASE_WORDS = 6
NO_DAYS = np.iinfo(np.int32).min  # no "fewest days left" asked
NO_FIT = -1


def ancestors(code: str) -> list[str]:
    """'UKJ45' -> ['UK', 'UKJ', 'UKJ4', 'UKJ45']."""
    return [code[:k] for k in range(2, len(code) + 1)]


class Vocab:
    """Feature and word ids shared by every shard (they only grow)."""

    def __init__(self) -> None:
        self.topic: dict[str, int] = {"*": STAR}
        self.area: dict[str, int] = {"*": STAR}
        self.cell_area: set[int] = set()  # area ids of "g:" features
        self.words: dict[str, int] = {}
        self.prefix: dict[tuple[int, ...], int] = {}  # word-id prefix of a phrase -> id
        self.complete: list[int] = []  # prefix id -> topic feature id (or -1)
        self._levels: list[tuple[np.ndarray, np.ndarray]] | None = None
        self._first: np.ndarray | None = None
        self._complete: np.ndarray | None = None
        self._hashes: tuple[np.ndarray, np.ndarray] | None = None
        self.lock = threading.Lock()

    def __getstate__(self) -> dict[str, object]:
        state = dict(vars(self))
        del state["lock"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        vars(self).update(state)
        self.lock = threading.Lock()

    def topic_id(self, key: str) -> int:
        fid = self.topic.get(key)
        if fid is None:
            fid = self.topic[key] = len(self.topic)
        return fid

    def area_id(self, key: str) -> int:
        fid = self.area.get(key)
        if fid is None:
            fid = self.area[key] = len(self.area)
            if key.startswith("g:"):
                self.cell_area.add(fid)
        return fid

    def phrase_id(self, phrase: Sequence[str]) -> int:
        """Topic feature id of a stemmed phrase; files its words and prefixes."""
        fid = self.topic_id("p:" + " ".join(phrase))
        wids = []
        for w in phrase:
            if w not in self.words:
                self.words[w] = len(self.words)
            wids.append(self.words[w])
        for k in range(1, len(wids) + 1):
            key = tuple(wids[:k])
            if key not in self.prefix:
                self.prefix[key] = len(self.prefix)
                self.complete.append(-1)
                self._levels = None
        pid = self.prefix[tuple(wids)]
        if self.complete[pid] != fid:
            self.complete[pid] = fid
            self._complete = None
        return fid

    def word_lookup(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted word_hash numbers of the profile words, their word ids)."""
        with self.lock:
            if self._hashes is None or len(self._hashes[0]) != len(self.words):
                hashes = np.fromiter(map(word_hash, self.words), np.uint64, len(self.words))
                ids = np.fromiter(self.words.values(), np.int64, len(self.words))
                order = np.argsort(hashes)
                self._hashes = (hashes[order], ids[order])
            return self._hashes

    def phrase_tables(self) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
        """(first[word id] -> prefix id or -1, per level k >= 2 the sorted keys
        (prefix id << 24 | word id) and the prefix ids they lead to, complete[prefix id] ->
        topic feature id or -1)."""
        with self.lock:
            if self._levels is None or self._first is None:
                first = np.full(max(len(self.words), 1), -1, dtype=np.int64)
                by_level: dict[int, list[tuple[int, int]]] = {}
                for key, pid in self.prefix.items():
                    if len(key) == 1:
                        first[key[0]] = pid
                    else:
                        parent = self.prefix[key[:-1]]
                        by_level.setdefault(len(key), []).append(((parent << 24) | key[-1], pid))
                levels = []
                for k in range(2, MAX_PHRASE_WORDS + 1):
                    pairs = sorted(by_level.get(k, []))
                    levels.append(
                        (
                            np.array([p[0] for p in pairs], dtype=np.int64),
                            np.array([p[1] for p in pairs], dtype=np.int64),
                        )
                    )
                self._first, self._levels = first, levels
            if self._complete is None:
                self._complete = np.array(self.complete or [-1], dtype=np.int64)
            return self._first, self._levels, self._complete


@dataclass
class Encoded:
    """One profile as feature ids and numbers."""

    rules: Rules
    topics: list[int]
    areas: list[int]
    cells: list[bool]  # per area feature: a grid cell (the distance is checked)
    excl: list[int]


def encode(r: Rules, vocab: Vocab) -> Encoded:
    topics = [vocab.topic_id("c:" + p) for p in sorted(r.cpv)]
    topics += [vocab.topic_id("s:" + s) for s in sorted(r.sectors)]
    topics += [vocab.phrase_id(p) for p in r.phrases]
    excl = [vocab.topic_id("c:" + p) for p in sorted(r.x_cpv)]
    excl += [vocab.topic_id("s:" + s) for s in sorted(r.x_sectors)]
    excl += [vocab.phrase_id(p) for p in r.x_phrases]
    areas: dict[str, bool] = {}
    for q in sorted(r.regions):
        areas["r:" + q] = False
        for a in ancestors(q):
            areas["rd:" + a] = False
    for d in sorted(r.districts):
        areas["dd:" + d] = False
        areas[KENT_BUYER] = False
        for a in ancestors(DISTRICT_AREA[d])[LOCAL_REGION - 2 :]:
            areas["rd:" + a] = False
    if r.centre is not None and r.radius is not None:
        for cell in places.cells_near(r.centre, r.radius):
            areas.setdefault(f"g:{cell}", True)
        if r.centre_area:
            for a in ancestors(r.centre_area)[LOCAL_REGION - 2 :]:
                areas["rd:" + a] = False
    area_ids = [vocab.area_id(k) for k in areas] or [STAR]
    return Encoded(
        rules=r,
        topics=sorted(set(topics)) or [STAR],
        areas=area_ids,
        cells=list(areas.values()) or [False],
        excl=sorted(set(excl)),
    )


def _csr(lists: Sequence[Sequence[int]], dtype: type = np.int32) -> tuple[np.ndarray, np.ndarray]:
    ptr = np.zeros(len(lists) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(x) for x in lists])
    flat: np.ndarray = np.fromiter((v for x in lists for v in x), dtype=dtype, count=int(ptr[-1]))
    return ptr, flat


# bits of a profile's "forbidden" mask and of a unit's "offer" (one bit set per part):
# the candidate passes when the two share no bit
# bits 0-3: CATEGORY_BIT of the unit's stage
SUIT_SHIFT = 4  # bits 4-7: the unit's SME/VCSE state (sme | vcse << 1), one-hot
NAN_BIT = 1 << 8  # the unit states no value
FORBID_BITS = 9


@dataclass
class Packed:
    """A shard's profile requirements laid out along its postings (one entry per posting,
    read in order when a run of postings is a query's candidates): ``words``, each
    profile's requirements packed by ``layout`` (stages not asked for, SME/VCSE states
    not accepted and "value not stated" refused as bits; the value range as positions in
    ``thresholds``, the sorted distinct bounds of the shard, exact: no rounding of pounds;
    lowest fit; fewest days left); ``cell`` (found through a grid cell: the distance is
    checked); ``slot``, the profile's place in the shard."""

    thresholds: np.ndarray
    run_key: np.ndarray  # the distinct keys of the postings, sorted
    run_start: np.ndarray  # where each key's run of postings starts
    hi_key: np.ndarray  # run << 32 | the high bound's field, sorted (see ``Shard.packed``)
    slot: np.ndarray
    words: list[np.ndarray]  # the ordered requirements, packed (``Layout``), per word
    layout: Layout
    cell: np.ndarray
    centre: np.ndarray  # the radius's centre (outcode index) of a grid-cell posting
    radius: np.ndarray  # float32, the largest not above the radius (exact for float32 miles)
    has_x: np.ndarray  # per slot: the profile excludes something
    x_features: np.ndarray  # the topic features some profile of the shard excludes, sorted
    x_compact: np.ndarray  # per exclusion (x_feat), its position in x_features

    def nbytes(self) -> int:
        own = sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray))
        return own + sum(w.nbytes for w in self.words)


@dataclass
class Layout:
    """Ordered requirements "the unit's number u is at least the profile's r" packed side
    by side in int64 words, each field with a guard bit above it: with the unit's word
    carrying every guard, ``(unit - profile) & guards == guards`` tests every field at once
    (no field borrows from the next; a field's guard survives exactly when u >= r).
    A field keeps ``r' = r - r_min + 1`` (0: no requirement, always met) and the unit
    ``u' = clip(u - r_min + 1, 0, R)``, R the largest r': exact for any numbers.
    Fields: value low bound, value high bound, fit score, days left, then one per forbidden
    bit (``forbidden_bits``: r = 1 when the profile forbids it; u = 1 unless the unit
    offers it)."""

    fields: list[tuple[int, int, int, int]]  # (word, shift, r_min, R)
    guards: list[int]

    @staticmethod
    def plan(columns: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[Layout, list[np.ndarray]]:
        """The layout of these (requirement, no requirement) columns and the packed
        words per slot."""
        fields: list[tuple[int, int, int, int]] = []
        guards: list[int] = []
        words: list[np.ndarray] = []
        n = len(columns[0][0]) if columns else 0
        used = 64
        for r, none in columns:
            real = r[~none]
            r_min = int(real.min()) if len(real) else 0
            top = int(real.max()) - r_min + 1 if len(real) else 0
            bits = max(top.bit_length(), 1)
            if used + bits + 1 > 63:
                words.append(np.zeros(n, np.int64))
                guards.append(0)
                used = 0
            shift = used
            fields.append((len(words) - 1, shift, r_min, top))
            guards[-1] |= 1 << (shift + bits)
            packed = np.where(none, 0, r.astype(np.int64) - r_min + 1)
            words[-1] |= packed << shift
            used += bits + 1
        return Layout(fields, guards), words

    def field_of(self, words: Sequence[np.ndarray], k: int) -> np.ndarray:
        """Field k's numbers (r' or u', without the guard) read back from packed words."""
        word, shift, _, top = self.fields[k]
        return (words[word] >> shift) & ((1 << max(top.bit_length(), 1)) - 1)

    def offer(self, columns: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The units' words for their numbers (one column per field), guards set."""
        n = len(columns[0]) if columns else 0
        out = [np.full(n, g, np.int64) for g in self.guards]
        for (word, shift, r_min, top), u in zip(self.fields, columns, strict=True):
            out[word] |= np.clip(u.astype(np.int64) - r_min + 1, 0, top) << shift
        return out


def forbidden_bits(
    stage_mask: np.ndarray, suit_mask: np.ndarray, value_ns: np.ndarray
) -> np.ndarray:
    out = (~stage_mask.astype(np.uint16)) & 0xF
    for state in range(4):  # 0 none, 1 SME, 2 VCSE, 3 both
        refused = (suit_mask != 0) & ((suit_mask & state) == 0)
        out |= refused.astype(np.uint16) << (SUIT_SHIFT + state)
    out |= (~value_ns).astype(np.uint16) * NAN_BIT
    return out


@dataclass
class Shard:
    """The profiles of one shard: per-slot arrays, feature lists (CSR) and postings."""

    pid: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    org: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    lo: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    value_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    stage_mask: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    suit_mask: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    min_fit: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    min_days: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    centre: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    radius: np.ndarray = field(default_factory=lambda: np.zeros(0))
    alive: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    x_ptr: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    x_feat: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    # postings: (topic << 32 | area) -> slot, and whether the area was a grid cell
    comp_key: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    comp_slot: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    comp_cell: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    topic_key: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    topic_slot: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    slot_of: dict[int, int] = field(default_factory=dict)
    # the compiled rules per slot (for reasons, and to compact the shard); None: not kept
    # (a million profiles' rules take hundreds of MB: the benchmark does without them)
    rules: list[Rules | None] | None = field(default_factory=list)

    _packed: dict[str, Packed] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.slot_of)

    def packed(self, which: str) -> Packed:
        """The requirements along the "comp" or the "topic" postings, built on first use
        after a change (a few gathers over the postings; the postings are not rebuilt)."""
        got = self._packed.get(which)
        if got is not None:
            return got
        slot = self.comp_slot if which == "comp" else self.topic_slot
        bounds = np.concatenate([self.lo, self.hi])
        thresholds = np.sort(bounds[np.isfinite(bounds)])  # distinct (np.unique hashes: slow)
        if len(thresholds) > 1:
            thresholds = thresholds[np.concatenate([[True], thresholds[1:] != thresholds[:-1]])]
        lo_r = np.where(np.isfinite(self.lo), np.searchsorted(thresholds, self.lo), -1).astype(
            np.int32
        )
        hi_r = np.where(
            np.isfinite(self.hi), np.searchsorted(thresholds, self.hi), len(thresholds)
        ).astype(np.int32)
        forbid = forbidden_bits(self.stage_mask, self.suit_mask, self.value_ns)
        n_t = len(thresholds)
        layout, req = Layout.plan(
            [
                (lo_r + 1, lo_r < 0),  # unit: its value's position from the right
                (n_t - hi_r, hi_r >= n_t),  # unit: n_t - its position from the left
                (self.min_fit.astype(np.int64), self.min_fit == NO_FIT),
                (self.min_days.astype(np.int64), self.min_days == NO_DAYS),
            ]
            # one field per forbidden bit: the unit has room (1) unless it offers the bit
            + [((forbid >> b) & 1, ((forbid >> b) & 1) == 0) for b in range(FORBID_BITS)]
        )
        keys = self.comp_key if which == "comp" else self.topic_key
        starts = (
            np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
            if len(keys)
            else np.zeros(0, np.int64)
        )
        radius = self.radius.astype(np.float32)
        above = radius > self.radius  # rounded up: take the float32 just below
        radius[above] = np.nextafter(radius[above], np.float32(-np.inf))
        cell = self.comp_cell if which == "comp" else np.zeros(len(slot), bool)
        run_count = np.diff(np.append(starts, len(keys)))
        x_features = np.sort(self.x_feat.astype(np.int64))
        if len(x_features) > 1:
            x_features = x_features[np.concatenate([[True], x_features[1:] != x_features[:-1]])]
        # within each run, the postings by their high bound's field, lowest (no bound)
        # first: a unit's candidates in a run are then a prefix, found by one look-up
        hi_key = np.repeat(np.arange(len(starts), dtype=np.int64), run_count) << 32
        hi_key |= layout.field_of(req, 1)[slot]
        order = np.argsort(hi_key)
        hi_key, slot, cell = hi_key[order], slot[order], cell[order]
        got = Packed(
            thresholds=thresholds,
            run_key=keys[starts],
            run_start=starts,
            hi_key=hi_key,
            slot=slot,
            words=[w[slot] for w in req],
            layout=layout,
            cell=cell,
            centre=np.where(cell, self.centre[slot], 0).astype(np.int32),
            radius=np.where(cell, radius[slot], np.float32(0)).astype(np.float32),
            has_x=np.diff(self.x_ptr) > 0,
            x_features=x_features,
            x_compact=np.searchsorted(x_features, self.x_feat).astype(np.int64),
        )
        self._packed[which] = got
        return got

    @property
    def dead(self) -> int:
        return len(self.pid) - len(self.slot_of)

    def _append(self, encoded: Sequence[Encoded]) -> tuple[np.ndarray, ...]:
        """New slots for these profiles; returns their postings (unsorted)."""
        base = len(self.pid)
        rs = [e.rules for e in encoded]
        n = len(rs)

        def arr(values: Iterable[float | int | bool], dtype: type) -> np.ndarray:
            return np.fromiter(values, dtype=dtype, count=n)

        self.pid = np.concatenate([self.pid, arr((r.profile_id for r in rs), np.int64)])
        self.org = np.concatenate([self.org, arr((r.organisation_id for r in rs), np.int64)])
        self.lo = np.concatenate([self.lo, arr((r.lo for r in rs), np.float64)])
        self.hi = np.concatenate([self.hi, arr((r.hi for r in rs), np.float64)])
        self.value_ns = np.concatenate([self.value_ns, arr((r.value_not_stated for r in rs), bool)])
        self.stage_mask = np.concatenate(
            [self.stage_mask, arr((sum(CATEGORY_BIT[s] for s in r.stages) for r in rs), np.uint8)]
        )
        self.suit_mask = np.concatenate(
            [self.suit_mask, arr((sum(SUITABLE_BIT[s] for s in r.suitable) for r in rs), np.uint8)]
        )
        self.min_fit = np.concatenate(
            [self.min_fit, arr((NO_FIT if r.min_fit is None else r.min_fit for r in rs), np.int16)]
        )
        self.min_days = np.concatenate(
            [
                self.min_days,
                arr((NO_DAYS if r.min_days is None else r.min_days for r in rs), np.int32),
            ]
        )
        self.centre = np.concatenate(
            [self.centre, arr((-1 if r.centre is None else r.centre for r in rs), np.int32)]
        )
        self.radius = np.concatenate(
            [self.radius, arr((np.nan if r.radius is None else r.radius for r in rs), np.float64)]
        )
        self.alive = np.concatenate([self.alive, np.ones(n, bool)])
        x_ptr, x_feat = _csr([e.excl for e in encoded])
        self.x_ptr = np.concatenate([self.x_ptr[:-1], x_ptr + self.x_ptr[-1]])
        self.x_feat = np.concatenate([self.x_feat, x_feat])
        for i, r in enumerate(rs):
            old = self.slot_of.get(r.profile_id)
            if old is not None:
                self._kill(old)
            self.slot_of[r.profile_id] = base + i
        if self.rules is not None:
            self.rules.extend(rs)
        keys: list[int] = []
        slots: list[int] = []
        cells: list[bool] = []
        tkeys: list[int] = []
        tslots: list[int] = []
        for i, e in enumerate(encoded):
            slot = base + i
            for t in e.topics:
                tkeys.append(t)
                tslots.append(slot)
                high = t << AREA_BITS
                for a, cell in zip(e.areas, e.cells, strict=True):
                    keys.append(high | a)
                    slots.append(slot)
                    cells.append(cell)
        return (
            np.array(keys, dtype=np.int64),
            np.array(slots, dtype=np.int32),
            np.array(cells, dtype=bool),
            np.array(tkeys, dtype=np.int64),
            np.array(tslots, dtype=np.int32),
        )

    def _kill(self, slot: int) -> None:
        self.alive[slot] = False
        if self.rules is not None:
            self.rules[slot] = None

    def add(self, encoded: Sequence[Encoded]) -> None:
        """Add (or replace) profiles: their postings are merged into the sorted ones."""
        if not encoded:
            return
        self._packed.clear()
        keys, slots, cells, tkeys, tslots = self._append(encoded)
        self._drop_dead_postings()
        order = np.argsort(keys, kind="stable")
        keys, slots, cells = keys[order], slots[order], cells[order]
        at = np.searchsorted(self.comp_key, keys, side="right")
        self.comp_key = np.insert(self.comp_key, at, keys)
        self.comp_slot = np.insert(self.comp_slot, at, slots)
        self.comp_cell = np.insert(self.comp_cell, at, cells)
        order = np.argsort(tkeys, kind="stable")
        tkeys, tslots = tkeys[order], tslots[order]
        at = np.searchsorted(self.topic_key, tkeys, side="right")
        self.topic_key = np.insert(self.topic_key, at, tkeys)
        self.topic_slot = np.insert(self.topic_slot, at, tslots)

    def remove(self, profile_ids: Iterable[int]) -> int:
        n = 0
        for pid in profile_ids:
            slot = self.slot_of.pop(pid, None)
            if slot is not None:
                self._kill(slot)
                n += 1
        if n:
            self._packed.clear()
            self._drop_dead_postings()
        return n

    def _drop_dead_postings(self) -> None:
        if self.alive.all():
            return
        keep = self.alive[self.comp_slot]
        if not keep.all():
            self.comp_key, self.comp_slot = self.comp_key[keep], self.comp_slot[keep]
            self.comp_cell = self.comp_cell[keep]
        keep = self.alive[self.topic_slot]
        if not keep.all():
            self.topic_key, self.topic_slot = self.topic_key[keep], self.topic_slot[keep]

    def live_rules(self) -> list[Rules]:
        if self.rules is None:
            raise RuntimeError("this index does not keep its profiles' rules")
        return [r for r in self.rules if r is not None]

    def nbytes(self) -> int:
        own = sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray))
        return own + sum(p.nbytes() for p in self._packed.values())


def shard_of(profile_id: int, of: int) -> int:
    """The profile shard (0 .. of-1) a profile belongs to when profiles are split in ``of``
    independent parts: by id, so that every process agrees without talking."""
    return profile_id % of


class ProfileIndex:
    """Every active profile, compiled, in ``n_shards`` internal shards (by profile id,
    matched by threads in one process).

    Profile shards across processes: ``ProfileIndex(rules, part=(i, n))`` keeps only the
    profiles of part ``i`` of ``n`` (``shard_of(profile_id, n) == i``) and ignores the
    others, whatever it is given later; ``index.split(n)`` cuts a built index into ``n``
    such parts. Each part is independent (its own copy of the vocabulary, picklable):
    ``match(facts, part, now)`` on every part and the results joined are exactly
    ``match(facts, whole, now)`` (tested), so the parts can go to different workers."""

    def __init__(
        self,
        rules: Iterable[Rules] = (),
        n_shards: int = 1,
        keep_rules: bool = True,
        part: tuple[int, int] = (0, 1),
    ) -> None:
        if n_shards < 1:
            raise ValueError("an index needs at least one shard")
        if part[1] < 1 or not 0 <= part[0] < part[1]:
            raise ValueError(f"part {part[0]} of {part[1]} does not exist")
        self.vocab = Vocab()
        self.keep_rules = keep_rules
        self.part = part
        self.shards = [self._new_shard() for _ in range(n_shards)]
        self.update(rules)

    def owns(self, profile_id: int) -> bool:
        """Whether this index (or part) holds this profile's shard."""
        return shard_of(profile_id, self.part[1]) == self.part[0]

    def split(self, of: int) -> list[ProfileIndex]:
        """This index cut into ``of`` independent parts (needs the rules kept)."""
        if self.part != (0, 1):
            raise ValueError("only a whole index can be split")
        rules = self.rules()
        return [
            ProfileIndex(rules, n_shards=len(self.shards), keep_rules=self.keep_rules, part=(i, of))
            for i in range(of)
        ]

    def _new_shard(self) -> Shard:
        return Shard(rules=[] if self.keep_rules else None)

    def shard_of(self, profile_id: int) -> int:
        """The internal shard of a profile (parts first: ``id // of`` within a part)."""
        return shard_of(profile_id // self.part[1], len(self.shards))

    def update(self, rules: Iterable[Rules], removed: Iterable[int] = ()) -> None:
        """Add or replace these profiles and remove those ids: only their shards change;
        a shard with a quarter of its slots dead is compacted."""
        gone = list(removed)
        for shard in self.shards:
            shard.remove(gone)
        by_shard: dict[int, list[Encoded]] = {}
        for r in rules:
            if not self.owns(r.profile_id):
                continue
            by_shard.setdefault(self.shard_of(r.profile_id), []).append(encode(r, self.vocab))
        for k, encoded in by_shard.items():
            self.shards[k].add(encoded)
        for k, shard in enumerate(self.shards):
            if shard.rules is not None and shard.dead > max(1000, len(shard.pid) // 4):
                fresh = self._new_shard()
                fresh.add([encode(r, self.vocab) for r in shard.live_rules()])
                self.shards[k] = fresh

    def compile(self) -> None:
        """Lay every shard's requirements along its postings now (else on the first match
        after a change)."""
        for shard in self.shards:
            shard.packed("comp")
            shard.packed("topic")

    def __len__(self) -> int:
        return sum(len(s) for s in self.shards)

    def rules(self) -> list[Rules]:
        return [r for s in self.shards for r in s.live_rules()]

    def rule(self, profile_id: int) -> Rules | None:
        shard = self.shards[self.shard_of(profile_id)]
        slot = shard.slot_of.get(profile_id)
        return shard.rules[slot] if slot is not None and shard.rules is not None else None

    def rules_by_id(self) -> dict[int, Rules]:
        return {r.profile_id: r for r in self.rules()}

    def nbytes(self) -> int:
        return sum(s.nbytes() for s in self.shards)
